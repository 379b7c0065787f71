"""Each vendor flavour reproduces its vendor's documented behaviour, rough edges included."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from holovitals.sandbox.flavours import EPIC_ERROR_SYSTEM, FLAVOURS
from holovitals.sandbox.settings import SandboxSettings

CERNER_TENANT = "ec2458f2-1e24-41c8-b71b-0e701af7583d"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

# What each flavour needs on an Observation search, and how its clients set the page size.
SEARCH_NEEDS = {
    "epic": {"category": "vital-signs"},
    "athena": {"ah-practice": "Organization/a-1.Practice-195900"},
}


def epic_code(response) -> str:
    coding = response.json()["issue"][0]["details"]["coding"][0]
    assert coding["system"] == EPIC_ERROR_SYSTEM
    return coding["code"]


def next_link(bundle: dict) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def categories(resource: dict) -> set[str]:
    return {coding["code"] for concept in resource.get("category", []) for coding in concept.get("coding", [])}


def entry_ids(entries: list[dict]) -> list[str]:
    return [e["resource"]["id"] for e in entries]


# ---------------------------------------------------------------------------- every flavour


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.key)
def test_every_flavour_answers_metadata_at_its_base(sandbox, flavour):
    base = sandbox.base(flavour.key)
    statement = sandbox.get(base + "/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["implementation"]["url"] == base
    versioning = {r["versioning"] for r in statement["rest"][0]["resource"]}
    assert versioning == {"versioned-update" if flavour.versioning else "no-version"}
    assert sandbox.get(base + "/.well-known/smart-configuration").status_code == 200


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.key)
def test_every_flavour_pages_with_its_own_parameter_and_shows_every_resource(sandbox, flavour):
    patient = sandbox.patients[0]
    params = {"patient": patient, **SEARCH_NEEDS.get(flavour.key, {}), flavour.count_param: "7"}
    entries, bundles = sandbox.page_through(sandbox.base(flavour.key) + "/Observation", params)
    assert len(bundles) > 2
    for bundle in bundles[:-1]:
        assert flavour.page_param in parse_qs(urlsplit(next_link(bundle)).query)
    records = sandbox.store.scan("Observation", patient=patient)
    expected = sorted(r.id for r in records if flavour.key != "epic" or "vital-signs" in categories(r.body))
    seen = entry_ids(entries)
    if flavour.page_overlap:
        assert len(seen) == len(expected) + len(bundles) - 1  # the intentional duplicates
        seen = list(dict.fromkeys(seen))
    assert sorted(seen) == expected


# ---------------------------------------------------------------------------- Epic


def test_epic_observation_search_requires_category_or_code(sandbox):
    response = sandbox.get(sandbox.base("epic") + "/Observation", params={"patient": sandbox.patients[0]})
    assert response.status_code == 400
    assert epic_code(response) == "4111"


def test_epic_observation_search_requires_a_patient(sandbox):
    response = sandbox.get(sandbox.base("epic") + "/Observation", params={"category": "laboratory"})
    assert response.status_code == 400
    assert epic_code(response) == "4111"


def test_epic_unknown_observation_category_is_4115(sandbox):
    params = {"patient": sandbox.patients[0], "category": "feelings"}
    response = sandbox.get(sandbox.base("epic") + "/Observation", params=params)
    assert response.status_code == 400
    assert epic_code(response) == "4115"


def test_epic_search_without_parameters_is_4110(sandbox):
    response = sandbox.get(sandbox.base("epic") + "/Patient")
    assert response.status_code == 400
    assert epic_code(response) == "4110"


def test_epic_last_updated_only_on_document_reference_and_measure_report(sandbox):
    base, patient = sandbox.base("epic"), sandbox.patients[0]
    refused = sandbox.get(base + "/Condition", params={"patient": patient, "_lastUpdated": "ge2020-01-01"})
    assert refused.status_code == 400
    assert epic_code(refused) == "4100"
    allowed = sandbox.get(base + "/DocumentReference", params={"patient": patient, "_lastUpdated": "ge2020-01-01"})
    assert allowed.status_code == 200


def test_epic_patient_search_over_the_cap_is_4127(make_sandbox):
    box = make_sandbox(settings=SandboxSettings(flavour_overrides={"epic": {"patient_search_cap": 3}}))
    response = box.get(box.base("epic") + "/Patient", params={"birthdate": "ge1900"})
    assert response.status_code == 400
    assert epic_code(response) == "4127"
    narrowed = box.get(box.base("epic") + "/Patient", params={"_id": box.patients[0]})
    assert narrowed.status_code == 200


def test_epic_result_cap_on_other_searches_is_59133(make_sandbox):
    box = make_sandbox(settings=SandboxSettings(flavour_overrides={"epic": {"result_cap": 10}}))
    response = box.get(box.base("epic") + "/Observation", params={"patient": box.patients[0], "category": "laboratory"})
    assert response.status_code == 400
    assert epic_code(response) == "59133"


def test_epic_expired_paging_session_is_4113_and_reissuing_the_search_works(sandbox):
    url = sandbox.base("epic") + "/Observation"
    params = {"patient": sandbox.patients[0], "category": "laboratory", "_count": 5}
    first = sandbox.get(url, params=params).json()
    sandbox.app.state.paging.expire_all()
    expired = sandbox.get(next_link(first))
    assert expired.status_code == 400
    assert epic_code(expired) == "4113"
    again = sandbox.get(url, params=params).json()
    assert sandbox.get(next_link(again)).status_code == 200


def test_epic_empty_search_carries_a_4101_warning_outcome(sandbox):
    params = {"patient": sandbox.patients[0], "category": "imaging"}
    bundle = sandbox.get(sandbox.base("epic") + "/Observation", params=params).json()
    assert bundle["total"] == 0
    (entry,) = bundle["entry"]
    assert entry["search"]["mode"] == "outcome"
    assert entry["resource"]["issue"][0]["severity"] == "warning"
    assert entry["resource"]["issue"][0]["details"]["coding"][0]["code"] == "4101"


def test_epic_has_no_history_and_refuses_updates_outside_its_list(sandbox):
    record = sandbox.store.scan("Condition")[0]
    base = sandbox.base("epic")
    assert sandbox.get(f"{base}/Condition/{record.id}/_history").status_code == 405
    response = sandbox.client.put(f"{base}/Condition/{record.id}", content=record.raw, headers=FHIR_JSON)
    assert response.status_code == 405


# ---------------------------------------------------------------------------- Oracle Health (Cerner)


def test_cerner_unknown_tenant_is_403(sandbox):
    response = sandbox.get(sandbox.url + "/cerner/r4/not-a-tenant/Patient/" + sandbox.patients[0])
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"


def test_cerner_search_without_id_or_patient_is_400(sandbox):
    response = sandbox.get(sandbox.base("cerner") + "/Condition", params={"category": "problem-list-item"})
    assert response.status_code == 400


def test_cerner_ignores_count_when_id_is_given(sandbox):
    wanted = [r.id for r in sandbox.store.scan("Observation")[:4]]
    bundle = sandbox.get(sandbox.base("cerner") + "/Observation", params={"_id": ",".join(wanted), "_count": 1}).json()
    assert len(bundle["entry"]) == 4
    assert next_link(bundle) is None


def test_cerner_repeats_the_last_entry_of_a_page_at_the_top_of_the_next(sandbox):
    params = {"patient": sandbox.patients[0], "_count": 10}
    first = sandbox.get(sandbox.base("cerner") + "/Observation", params=params).json()
    second = sandbox.get(next_link(first)).json()
    assert "-pageContext" in next_link(first)
    assert first["entry"][-1]["resource"]["id"] == second["entry"][0]["resource"]["id"]


def test_cerner_version_conflict_is_409_not_412(sandbox):
    record = sandbox.store.scan("Observation")[0]
    url = f"{sandbox.base('cerner')}/Observation/{record.id}"
    body = orjson.dumps(record.body | {"status": "amended"})
    assert sandbox.client.put(url, content=body, headers=FHIR_JSON | {"If-Match": 'W/"1"'}).status_code == 200
    stale = sandbox.client.put(url, content=body, headers=FHIR_JSON | {"If-Match": 'W/"1"'})
    assert stale.status_code == 409


def test_cerner_xml_accept_is_406(sandbox):
    url = f"{sandbox.base('cerner')}/Patient/{sandbox.patients[0]}"
    assert sandbox.get(url, headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert sandbox.get(url, params={"_format": "xml"}).status_code == 406
    assert sandbox.get(url, headers={"Accept": "application/fhir+json"}).status_code == 200


def test_cerner_modifier_extension_on_write_is_422(sandbox):
    record = sandbox.store.scan("Observation")[0]
    body = record.body | {"modifierExtension": [{"url": "http://example.org/x", "valueBoolean": True}]}
    url = f"{sandbox.base('cerner')}/Observation/{record.id}"
    assert sandbox.client.put(url, content=orjson.dumps(body), headers=FHIR_JSON).status_code == 422


# ---------------------------------------------------------------------------- MEDITECH


def test_meditech_pages_with_continue(sandbox):
    bundle = sandbox.get(sandbox.base("meditech") + "/Observation", params={"_count": 5}).json()
    assert "continue=" in next_link(bundle)


def test_meditech_has_no_last_updated(sandbox):
    response = sandbox.get(sandbox.base("meditech") + "/Observation", params={"_lastUpdated": "ge2020-01-01"})
    assert response.status_code == 400
    assert "_lastUpdated" in response.json()["issue"][0]["diagnostics"]


# ---------------------------------------------------------------------------- athenahealth


def test_athena_search_requires_ah_practice(sandbox):
    url = sandbox.base("athena") + "/Condition"
    assert sandbox.get(url, params={"patient": sandbox.patients[0]}).status_code == 400
    wrong = sandbox.get(url, params={"patient": sandbox.patients[0], "ah-practice": "1"})
    assert wrong.status_code == 400


@pytest.mark.parametrize("practice", ["Organization/a-1.Practice-195900", "195900"])
def test_athena_accepts_the_practice_in_both_forms(sandbox, practice):
    response = sandbox.get(sandbox.base("athena") + "/Condition", params={"ah-practice": practice})
    assert response.status_code == 200


def test_athena_medication_request_needs_intent_order_or_plan(sandbox):
    url = sandbox.base("athena") + "/MedicationRequest"
    base = {"ah-practice": "195900", "patient": sandbox.patients[0]}
    assert sandbox.get(url, params=base).status_code == 400
    assert sandbox.get(url, params=base | {"intent": "proposal"}).status_code == 400
    assert sandbox.get(url, params=base | {"intent": "order,plan"}).status_code == 200


def test_athena_supports_last_updated_and_pages_with_cursor(sandbox):
    params = {"ah-practice": "195900", "_lastUpdated": "ge2000-01-01", "_count": 5}
    bundle = sandbox.get(sandbox.base("athena") + "/Observation", params=params).json()
    assert bundle["total"] == sandbox.store.count("Observation")
    assert "cursor=" in next_link(bundle)


# ---------------------------------------------------------------------------- eClinicalWorks


def test_ecw_rate_limit_is_429_without_retry_after_until_the_minute_boundary(make_sandbox, clock):
    clock.now = 1_800_000_000.0 + 20  # 20 s into a minute (1_800_000_000 is a minute boundary)
    box = make_sandbox(settings=SandboxSettings(clock=clock, ecw_requests_per_minute=20))
    url = box.base("ecw") + "/metadata"
    assert all(box.get(url).status_code == 200 for _ in range(20))
    refused = box.get(url)
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    clock.now += 30  # still the same minute: backing off is not enough
    assert box.get(url).status_code == 429
    assert box.get(box.base("plain") + "/metadata").status_code == 200  # other bases are not limited
    clock.now += 11  # past the boundary
    assert box.get(url).status_code == 200


def test_ecw_rate_limit_counts_every_request_to_the_base(make_sandbox, clock):
    box = make_sandbox(settings=SandboxSettings(clock=clock, ecw_requests_per_minute=3))
    base = box.base("ecw")
    box.get(base + "/metadata")
    box.get(base + "/Patient/" + box.patients[0])
    box.get(base + "/auth/token")  # unknown here (no auth server), still counted
    assert box.get(base + "/metadata").status_code == 429


def test_ecw_unknown_practice_is_403(sandbox):
    assert sandbox.get(sandbox.url + "/ecw/fhir/r4/elsewhere/metadata").status_code == 403


def test_ecw_refuses_last_updated_but_supports_since(sandbox):
    url = sandbox.base("ecw") + "/Observation"
    assert sandbox.get(url, params={"_lastUpdated": "ge2020-01-01"}).status_code == 400
    records = sandbox.store.scan("Observation", sort_by_last_updated=True)
    since = records[-25].last_updated
    bundle = sandbox.get(url, params={"_since": since.isoformat(), "_count": 100}).json()
    assert sorted(entry_ids(bundle["entry"])) == sorted(r.id for r in records if r.last_updated >= since)
    assert "page=" in (next_link(sandbox.get(url, params={"_count": 5}).json()) or "")


# ---------------------------------------------------------------------------- NextGen


def test_nextgen_has_no_version_id_and_no_etag(sandbox):
    response = sandbox.get(f"{sandbox.base('nextgen')}/Patient/{sandbox.patients[0]}")
    assert response.status_code == 200
    assert "etag" not in response.headers
    assert "versionId" not in response.json()["meta"]
    bundle = sandbox.get(sandbox.base("nextgen") + "/Observation", params={"_maxresults": 3}).json()
    assert all("versionId" not in e["resource"]["meta"] for e in bundle["entry"])


def test_nextgen_pages_by_maxresults_not_count(sandbox):
    url = sandbox.base("nextgen") + "/Observation"
    assert len(sandbox.get(url, params={"_maxresults": 3}).json()["entry"]) == 3
    assert len(sandbox.get(url, params={"_count": 3}).json()["entry"]) == 50  # _count is not theirs


def test_nextgen_refuses_writes(sandbox):
    record = sandbox.store.scan("Observation")[0]
    url = f"{sandbox.base('nextgen')}/Observation/{record.id}"
    assert sandbox.client.put(url, content=record.raw, headers=FHIR_JSON | {"If-Match": 'W/"7"'}).status_code == 405


def test_nextgen_ignores_if_match_when_writes_are_allowed(make_sandbox):
    box = make_sandbox(settings=SandboxSettings(enforce_vendor_write_support=False))
    record = box.store.scan("Observation")[0]
    url = f"{box.base('nextgen')}/Observation/{record.id}"
    response = box.client.put(url, content=record.raw, headers=FHIR_JSON | {"If-Match": 'W/"7"'})
    assert response.status_code == 200
    assert "etag" not in response.headers


# ---------------------------------------------------------------------------- Veradigm


def test_veradigm_redacts_the_same_records_in_every_search(sandbox):
    url = sandbox.base("veradigm") + "/Observation"
    first, _ = sandbox.page_through(url, {"_count": 1000})
    again, _ = sandbox.page_through(url, {"_count": 100})
    redacted = [e["resource"] for e in first if "security" in e["resource"].get("meta", {})]
    assert 0 < len(redacted) < len(first)
    for resource in redacted:
        assert set(resource) == {"resourceType", "id", "meta"}
        (label,) = resource["meta"]["security"]
        assert label["system"] == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
        assert label["code"] == "REDACTED"
    assert [e["resource"] for e in again] == [e["resource"] for e in first]


def test_veradigm_accepts_id_as_well_as__id(sandbox):
    wanted = [r.id for r in sandbox.store.scan("Condition")[:2]]
    url = sandbox.base("veradigm") + "/Condition"
    by_id = sandbox.get(url, params={"id": ",".join(wanted)}).json()
    by__id = sandbox.get(url, params={"_id": ",".join(wanted)}).json()
    assert sorted(entry_ids(by_id["entry"])) == sorted(wanted) == sorted(entry_ids(by__id["entry"]))


def test_veradigm_has_no_versioning(sandbox):
    response = sandbox.get(f"{sandbox.base('veradigm')}/Patient/{sandbox.patients[0]}")
    assert "etag" not in response.headers
    assert "versionId" not in response.json()["meta"]
    assert sandbox.get(f"{sandbox.base('veradigm')}/Patient/{sandbox.patients[0]}/_history").status_code == 405


# ---------------------------------------------------------------------------- plain


def test_plain_base_follows_the_standard_everywhere(sandbox):
    base = sandbox.base("plain")
    bundle = sandbox.get(base + "/Observation", params={"_lastUpdated": "ge2000-01-01", "_count": 5}).json()
    assert next_link(bundle).startswith(base + "?_getpages=")
    patient = sandbox.patients[0]
    assert sandbox.get(f"{base}/Patient/{patient}/_history").status_code == 200
    assert sandbox.get(f"{base}/Observation", params={"category": "laboratory"}).status_code == 200
