"""Bulk Data 2.0 `$export` of the sandbox EHR, seen over real HTTP as a bulk client sees it."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI

from holovitals.sandbox.bulk import BulkExporter
from holovitals.sandbox.bulk_policy import VENDOR_BULK_POLICIES, BulkPolicy
from holovitals.sandbox.generator import generate_population
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.store import SandboxStore, parse_instant

ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
PLAIN = "/fhir/r4"
EPIC = "/epic/api/FHIR/R4"
ECW = "/ecw/fhir/r4/{practice}"
CERNER = "/cerner/r4/{tenant}"


@dataclass
class Sandbox:
    store: SandboxStore
    exporter: BulkExporter
    client: httpx.Client
    root: str

    def url(self, prefix: str = PLAIN) -> str:
        return self.root + prefix.replace("{practice}", "p123").replace("{tenant}", "t-1")

    def kickoff(self, path: str = "/$export", prefix: str = PLAIN, *, headers=None, **params) -> httpx.Response:
        return self.client.get(self.url(prefix) + path, params=params, headers=ASYNC if headers is None else headers)

    def export(self, path: str = "/$export", prefix: str = PLAIN, **params) -> dict:
        response = self.kickoff(path, prefix, **params)
        assert response.status_code == 202, response.text
        return self.wait(response.headers["Content-Location"])

    def wait(self, status_url: str, timeout: float = 10, headers=None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.client.get(status_url, headers=headers)
            if response.status_code == 200:
                return response.json()
            assert response.status_code == 202, response.text
            time.sleep(0.05)
        raise AssertionError("export did not finish")

    def lines(self, url: str) -> list[dict]:
        response = self.client.get(url)
        assert response.status_code == 200, response.text
        return [orjson.loads(line) for line in response.content.splitlines() if line]

    def resources(self, manifest: dict, key: str = "output") -> list[dict]:
        return [r for item in manifest[key] for r in self.lines(item["url"])]


@pytest.fixture
def make_sandbox(server, tmp_path: Path) -> Iterator[Callable[..., Sandbox]]:
    """Builds a fresh store + exporter + app (plain, Epic, eCW and an unbound tenant base) per test."""
    board, root = server
    made: list[Sandbox] = []

    def build(**options) -> Sandbox:
        store = SandboxStore()
        store.load(generate_population(4, seed=42))
        exporter = BulkExporter(store, files_dir=tmp_path / "bulk", **options)
        app = FastAPI()
        app.include_router(exporter.router(), prefix=PLAIN)
        app.include_router(exporter.router(policy=VENDOR_BULK_POLICIES["epic"]), prefix=EPIC)
        app.include_router(exporter.router(policy=VENDOR_BULK_POLICIES["ecw"]), prefix=ECW)
        app.include_router(exporter.router(), prefix=CERNER)  # policy from the constructor's mapping, if any
        board.app = app
        made.append(Sandbox(store, exporter, httpx.Client(timeout=10), root))
        return made[-1]

    yield build
    for sb in made:
        sb.exporter.close()
        sb.client.close()


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def slow_sandbox(make_sandbox) -> Sandbox:
    """Exports take at least 0.6 s, so a client must poll."""
    return make_sandbox(min_duration=0.6, retry_after=1)


def by_type(resources: list[dict]) -> Counter:
    return Counter(r["resourceType"] for r in resources)


# ---------------------------------------------------------------------- kick-off and polling


def test_kickoff_answers_202_with_status_url_under_the_flavour_base(sandbox):
    response = sandbox.kickoff()
    assert response.status_code == 202
    assert re.fullmatch(re.escape(sandbox.url()) + r"/_bulk/status/[0-9a-f]{32}", response.headers["Content-Location"])


def test_poll_while_running_answers_202_with_progress_and_retry_after(slow_sandbox):
    status_url = slow_sandbox.kickoff().headers["Content-Location"]
    poll = slow_sandbox.client.get(status_url)
    assert poll.status_code == 202
    assert re.fullmatch(r"\d{1,3}% \(\d+ of \d+ types\)", poll.headers["X-Progress"])
    assert poll.headers["Retry-After"] == "1"
    assert slow_sandbox.wait(status_url)["output"]


def test_manifest_lists_every_type_with_counts_matching_the_store(sandbox):
    manifest = sandbox.export()
    assert manifest["request"] == sandbox.url() + "/$export"
    assert manifest["requiresAccessToken"] is False
    assert manifest["error"] == [] and manifest["deleted"] == []
    counted = Counter()
    for item in manifest["output"]:
        lines = sandbox.lines(item["url"])
        assert len(lines) == item["count"]
        assert {r["resourceType"] for r in lines} == {item["type"]}
        counted[item["type"]] += item["count"]
    assert counted == {t: sandbox.store.count(t) for t in sandbox.store.types()}
    assert {"Practitioner", "Organization", "Location"} <= set(counted)


def test_transaction_time_is_after_every_exported_lastupdated(sandbox):
    manifest = sandbox.export()
    at = parse_instant(manifest["transactionTime"])
    assert all(parse_instant(r["meta"]["lastUpdated"]) <= at for r in sandbox.resources(manifest))


def test_files_are_split_and_served_as_fhir_ndjson(make_sandbox):
    sb = make_sandbox(lines_per_file=50)
    manifest = sb.export(_type="Observation")
    names = [item["url"].rsplit("/", 1)[1] for item in manifest["output"]]
    assert names[:2] == ["Observation-1.ndjson", "Observation-2.ndjson"]
    assert all(item["count"] <= 50 for item in manifest["output"])
    assert sum(item["count"] for item in manifest["output"]) == sb.store.count("Observation")
    response = sb.client.get(manifest["output"][0]["url"])
    assert response.headers["content-type"].startswith("application/fhir+ndjson")


def test_kickoff_without_prefer_respond_async_is_400(sandbox):
    response = sandbox.kickoff(headers={"Accept": "application/fhir+json"})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "respond-async" in response.json()["issue"][0]["diagnostics"]


def test_kickoff_without_fhir_json_accept_is_400(sandbox):
    assert sandbox.kickoff(headers={"Prefer": "respond-async"}).status_code == 400


def test_unknown_type_in_type_parameter_is_400(sandbox):
    response = sandbox.kickoff(_type="Observation,Observaton")
    assert response.status_code == 400
    assert "Observaton" in response.json()["issue"][0]["diagnostics"]


def test_bad_since_and_bad_output_format_are_400(sandbox):
    assert sandbox.kickoff(_since="yesterday").status_code == 400
    assert sandbox.kickoff(_outputFormat="text/csv").status_code == 400
    assert sandbox.kickoff(_outputFormat="ndjson").status_code == 202


# ---------------------------------------------------------------------- what is exported


def test_type_parameter_limits_export_to_listed_types(sandbox):
    manifest = sandbox.export(_type="Patient,Condition")
    assert by_type(sandbox.resources(manifest)) == {
        "Patient": sandbox.store.count("Patient"),
        "Condition": sandbox.store.count("Condition"),
    }


def test_since_exports_only_resources_changed_after_it_and_lists_deletions(sandbox):
    store = sandbox.store
    first = sandbox.export()
    observations = store.scan("Observation")
    edited = observations[0].body
    edited["status"] = "amended"
    store.update(edited, observations[0].id)
    created = store.create({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/x"}})
    gone = store.scan("Condition")[0]
    store.delete("Condition", gone.id)

    second = sandbox.export(_since=first["transactionTime"])
    changed = sandbox.resources(second)
    assert sorted((r["resourceType"], r["id"]) for r in changed) == sorted(
        [("Observation", observations[0].id), ("Observation", created.id)]
    )
    assert [r["status"] for r in changed if r["id"] == observations[0].id] == ["amended"]
    [bundle] = sandbox.resources(second, "deleted")
    assert bundle["type"] == "transaction"
    assert bundle["entry"] == [{"request": {"method": "DELETE", "url": f"Condition/{gone.id}"}}]
    assert parse_instant(second["transactionTime"]) > parse_instant(first["transactionTime"])


def test_changes_after_kickoff_are_left_for_the_next_since(slow_sandbox):
    store = slow_sandbox.store
    patient = store.scan("Patient")[0]
    status_url = slow_sandbox.kickoff(_type="Patient").headers["Content-Location"]
    body = patient.body
    body["gender"] = "unknown"
    store.update(body, patient.id)
    manifest = slow_sandbox.wait(status_url)
    exported = {r["id"]: r for r in slow_sandbox.resources(manifest)}
    assert exported[patient.id]["meta"]["versionId"] == str(patient.version)
    later = slow_sandbox.export(_type="Patient", _since=manifest["transactionTime"])
    assert [r["id"] for r in slow_sandbox.resources(later)] == [patient.id]


def test_type_filter_keeps_only_matching_resources_of_that_type(sandbox):
    manifest = sandbox.export(_type="Observation,Patient", _typeFilter="Observation?category=laboratory")
    exported = sandbox.resources(manifest)
    labs = [r for r in exported if r["resourceType"] == "Observation"]
    expected = [
        r for r in sandbox.store.scan("Observation")
        if any(c["code"] == "laboratory" for cat in r.body.get("category", []) for c in cat["coding"])
    ]  # fmt: skip
    assert labs and len(labs) == len(expected)
    assert by_type(exported)["Patient"] == sandbox.store.count("Patient")


def test_type_filter_on_code_status_and_last_updated(sandbox):
    some = sandbox.store.scan("Observation")[0].body
    code = some["code"]["coding"][0]
    since = some["meta"]["lastUpdated"]
    manifest = sandbox.export(
        _type="Observation",
        _typeFilter=f"Observation?code={code['system']}|{code['code']}&status={some['status']}&_lastUpdated=ge{since}",
    )
    exported = sandbox.resources(manifest)
    assert some["id"] in {r["id"] for r in exported}
    for r in exported:
        assert r["code"]["coding"][0]["code"] == code["code"] and r["status"] == some["status"]
        assert r["meta"]["lastUpdated"] >= since


def test_type_filter_with_an_unsupported_parameter_is_400(sandbox):
    response = sandbox.kickoff(_typeFilter="Observation?value-quantity=gt5")
    assert response.status_code == 400
    assert "value-quantity" in response.json()["issue"][0]["diagnostics"]


def test_elements_returns_subsetted_resources(sandbox):
    manifest = sandbox.export(_type="Patient", _elements="gender")
    for patient in sandbox.resources(manifest):
        assert set(patient) <= {"resourceType", "id", "meta", "gender"}
        assert patient["meta"]["tag"][-1]["code"] == "SUBSETTED"


def test_patient_export_covers_patient_compartments_only(sandbox):
    exported = sandbox.resources(sandbox.export("/Patient/$export"))
    types = by_type(exported)
    assert types["Patient"] == sandbox.store.count("Patient")
    assert types["Observation"] == sandbox.store.count("Observation")
    assert not {"Practitioner", "Organization", "Location"} & set(types)


def test_group_export_of_the_virtual_all_patients_group(sandbox):
    exported = sandbox.resources(sandbox.export("/Group/all-patients/$export", _type="Patient,Encounter"))
    assert by_type(exported) == {
        "Patient": sandbox.store.count("Patient"),
        "Encounter": sandbox.store.count("Encounter"),
    }


def test_group_export_of_a_stored_group_covers_only_its_members(sandbox):
    member = sandbox.store.scan("Patient")[1].id
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{member}"}}],
    }
    sandbox.store.create(group, resource_id="cohort-1")
    exported = sandbox.resources(sandbox.export("/Group/cohort-1/$export"))
    assert {r["id"] for r in exported if r["resourceType"] == "Patient"} == {member}
    assert len(exported) == len(sandbox.store.patient_compartment(member))


def test_unknown_group_is_404(sandbox):
    response = sandbox.kickoff("/Group/no-such-group/$export")
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


def test_post_kickoff_with_a_parameters_body_limits_to_one_patient(sandbox):
    patient = sandbox.store.scan("Patient")[2].id
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient,Condition"},
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}},
        ],
    }
    response = sandbox.client.post(
        sandbox.url() + "/Patient/$export",
        content=orjson.dumps(parameters),
        headers={**ASYNC, "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 202, response.text
    exported = sandbox.resources(sandbox.wait(response.headers["Content-Location"]))
    assert {r.get("subject", {}).get("reference", f"Patient/{r['id']}") for r in exported} == {f"Patient/{patient}"}
    assert by_type(exported)["Condition"] == len(sandbox.store.scan("Condition", patient=patient))


# ---------------------------------------------------------------------- cancel, expiry


def test_delete_cancels_a_running_export_and_then_status_and_files_are_404(slow_sandbox):
    status_url = slow_sandbox.kickoff().headers["Content-Location"]
    assert slow_sandbox.client.delete(status_url).status_code == 202
    assert slow_sandbox.client.get(status_url).status_code == 404
    assert slow_sandbox.client.delete(status_url).status_code == 404


def test_delete_of_a_finished_export_removes_its_files(sandbox):
    status_url = sandbox.kickoff(_type="Patient").headers["Content-Location"]
    manifest = sandbox.wait(status_url)
    file_url = manifest["output"][0]["url"]
    assert sandbox.client.delete(status_url).status_code == 202
    assert sandbox.client.get(status_url).status_code == 404
    assert sandbox.client.get(file_url).status_code == 404
    assert not any((sandbox.exporter.files_dir).iterdir())


def test_expired_exports_answer_404(make_sandbox):
    now = [1000.0]
    sb = make_sandbox(clock=lambda: now[0], file_ttl=60)
    status_url = sb.kickoff(_type="Patient").headers["Content-Location"]
    file_url = sb.wait(status_url)["output"][0]["url"]
    now[0] += 61
    assert sb.client.get(file_url).status_code == 404
    assert sb.client.get(status_url).status_code == 404


# ---------------------------------------------------------------------- vendor policies


def test_epic_policy_offers_group_export_only(sandbox):
    assert sandbox.kickoff("/Patient/$export", EPIC).status_code == 400
    assert sandbox.kickoff("/$export", EPIC).status_code == 400
    assert sandbox.kickoff("/Group/all-patients/$export", EPIC).status_code == 202


def test_epic_policy_refuses_a_second_export_until_the_first_is_deleted(sandbox):
    first = sandbox.kickoff("/Group/all-patients/$export", EPIC, _type="Patient")
    sandbox.wait(first.headers["Content-Location"])
    second = sandbox.kickoff("/Group/all-patients/$export", EPIC, _type="Condition")
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert second.json()["issue"][0]["code"] == "throttled"
    sandbox.client.delete(first.headers["Content-Location"])
    assert sandbox.kickoff("/Group/all-patients/$export", EPIC, _type="Condition").status_code == 202


def test_ecw_policy_refuses_an_identical_request_in_flight(slow_sandbox):
    first = slow_sandbox.kickoff("/Group/all-patients/$export", ECW, _type="Patient")
    assert first.status_code == 202
    assert first.headers["Content-Location"].startswith(slow_sandbox.root + "/ecw/fhir/r4/p123/_bulk/status/")
    assert slow_sandbox.kickoff("/Group/all-patients/$export", ECW, _type="Patient").status_code == 429
    assert slow_sandbox.kickoff("/Group/all-patients/$export", ECW, _type="Encounter").status_code == 202
    slow_sandbox.wait(first.headers["Content-Location"])
    assert slow_sandbox.kickoff("/Group/all-patients/$export", ECW, _type="Patient").status_code == 202


def test_type_a_flavour_does_not_export_becomes_an_error_line(make_sandbox):
    policy = BulkPolicy(supported_types=frozenset({"Patient"}))
    sb = make_sandbox(policies={PLAIN: policy})
    manifest = sb.export(_type="Patient,Binary")
    assert [item["type"] for item in manifest["output"]] == ["Patient"]
    [problem] = sb.resources(manifest, "error")
    assert problem["resourceType"] == "OperationOutcome"
    assert "Binary" in problem["issue"][0]["diagnostics"]


def test_policies_given_as_dicts_apply_by_base_path_template(make_sandbox):
    sb = make_sandbox(policies={CERNER: {"levels": ["patient"], "retry_after": 7}})
    refused = sb.kickoff("/$export", CERNER)
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["code"] == "not-supported"
    assert sb.kickoff("/Patient/$export", CERNER).status_code == 202
    assert sb.kickoff("/$export").status_code == 202  # other bases keep the default policy


# ---------------------------------------------------------------------- access tokens


class FakeAuth:
    """Stands in for the SMART server: token "good" (client app-1) may export every type but Binary,
    token "patients-only" (app-1) only Patient, token "other" belongs to client app-2."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def authenticate(self, authorization, *, base_url, resource_type, interaction="export", patient_id=None):
        self.calls.append((resource_type, base_url))
        token = (authorization or "").removeprefix("Bearer ")
        if token not in ("good", "patients-only", "other"):
            raise SmartError(401, "invalid_token", "the access token is missing or expired")
        if resource_type == "Binary" or (token == "patients-only" and resource_type != "Patient"):
            raise SmartError(403, "insufficient_scope", f"no scope for {resource_type}")
        return type("TokenContext", (), {"client_id": "app-2" if token == "other" else "app-1"})()


def test_with_auth_every_step_needs_a_token(make_sandbox):
    auth = FakeAuth()
    sb = make_sandbox(auth=auth)
    assert sb.kickoff(_type="Patient").status_code == 401
    forbidden = sb.client.get(
        sb.url() + "/$export", params={"_type": "Binary"}, headers={**ASYNC, "Authorization": "Bearer good"}
    )
    assert forbidden.status_code == 403 and "WWW-Authenticate" in forbidden.headers
    good = {"Authorization": "Bearer good"}
    kicked = sb.client.get(sb.url() + "/$export", params={"_type": "Patient"}, headers={**ASYNC, **good})
    status_url = kicked.headers["Content-Location"]
    assert sb.client.get(status_url).status_code == 401
    manifest = sb.wait(status_url, headers=good)
    assert manifest["requiresAccessToken"] is True
    file_url = manifest["output"][0]["url"]
    assert sb.client.get(file_url).status_code == 401
    assert sb.client.get(file_url, headers=good).status_code == 200
    assert ("Patient", sb.url()) in auth.calls


def test_with_auth_a_type_scoped_client_polls_its_export_and_other_clients_cannot(make_sandbox):
    sb = make_sandbox(auth=FakeAuth())
    mine = {"Authorization": "Bearer patients-only"}
    kicked = sb.client.get(sb.url() + "/$export", params={"_type": "Patient"}, headers={**ASYNC, **mine})
    assert kicked.status_code == 202
    status_url = kicked.headers["Content-Location"]
    manifest = sb.wait(status_url, headers=mine)
    assert sb.client.get(manifest["output"][0]["url"], headers=mine).status_code == 200
    other = {"Authorization": "Bearer other"}
    assert sb.client.get(status_url, headers=other).status_code == 404
    assert sb.client.get(manifest["output"][0]["url"], headers=other).status_code == 404
    assert sb.client.delete(status_url, headers=other).status_code == 404
