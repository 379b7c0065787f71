"""The sandbox's FHIR R4 REST API on the plain, standards-following base (`/fhir/r4`), over real HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from holovitals.sandbox.dates import date_matches, parse_fhir_date
from holovitals.sandbox.smart import SmartAuthServer
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.smart_tokens import TokenContext

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def ids(entries: list[dict]) -> list[str]:
    return [e["resource"]["id"] for e in entries]


def observation(patient: str, **extra) -> dict:
    body = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-01-02T03:04:05Z",
        "valueQuantity": {"value": 72, "unit": "/min"},
    }  # fmt: skip
    body.update(extra)
    return body


# ---------------------------------------------------------------------------- read


def test_read_returns_stored_resource_with_etag_and_last_modified(sandbox):
    record = sandbox.store.scan("Observation")[0]
    response = sandbox.get(f"/fhir/r4/Observation/{record.id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.content == record.raw
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"].endswith("GMT")


def test_read_with_current_etag_in_if_none_match_is_304(sandbox):
    record = sandbox.store.scan("Condition")[0]
    response = sandbox.get(f"/fhir/r4/Condition/{record.id}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304


def test_read_unknown_id_is_404_operation_outcome(sandbox):
    response = sandbox.get("/fhir/r4/Observation/does-not-exist")
    assert response.status_code == 404
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"


def test_unknown_resource_type_is_404(sandbox):
    assert sandbox.get("/fhir/r4/Spaceship").status_code == 404
    assert sandbox.get("/fhir/r4/Spaceship/1").status_code == 404


def test_unsupported_method_is_405_operation_outcome(sandbox):
    response = sandbox.client.patch(sandbox.base("plain") + "/Patient/x", content=b"[]")
    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"


# ---------------------------------------------------------------------------- search


def test_search_by_patient_returns_only_that_patients_records(sandbox):
    patient = sandbox.patients[0]
    entries, _ = sandbox.page_through(sandbox.base("plain") + "/Observation", {"patient": patient, "_count": 1000})
    expected = {r.id for r in sandbox.store.scan("Observation", patient=patient)}
    assert set(ids(entries)) == expected
    assert all(e["resource"]["subject"]["reference"] == f"Patient/{patient}" for e in entries)


def test_search_by_subject_accepts_a_typed_reference(sandbox):
    patient = sandbox.patients[1]
    by_patient, _ = sandbox.page_through(sandbox.base("plain") + "/Condition", {"patient": patient})
    by_subject, _ = sandbox.page_through(sandbox.base("plain") + "/Condition", {"subject": f"Patient/{patient}"})
    assert ids(by_patient) == ids(by_subject) and by_patient


def test_search_by_id_list_returns_exactly_those(sandbox):
    wanted = [r.id for r in sandbox.store.scan("Observation")[:3]]
    bundle = sandbox.get("/fhir/r4/Observation", params={"_id": ",".join(wanted)}).json()
    assert sorted(ids(bundle["entry"])) == sorted(wanted)
    assert bundle["total"] == 3


def test_search_by_category_filters_observations(sandbox):
    patient = sandbox.patients[0]
    params = {"patient": patient, "category": "laboratory", "_count": 1000}
    entries, _ = sandbox.page_through(sandbox.base("plain") + "/Observation", params)
    assert entries
    for entry in entries:
        codes = {c["code"] for cat in entry["resource"]["category"] for c in cat["coding"]}
        assert "laboratory" in codes


def test_search_by_code_matches_with_and_without_system(sandbox):
    url = sandbox.base("plain") + "/Observation"
    with_system, _ = sandbox.page_through(url, {"code": "http://loinc.org|8867-4", "_count": 1000})
    without, _ = sandbox.page_through(url, {"code": "8867-4", "_count": 1000})
    wrong_system, _ = sandbox.page_through(url, {"code": "http://snomed.info/sct|8867-4"})
    assert with_system and ids(with_system) == ids(without)
    assert wrong_system == []


def _effective(entry: dict) -> datetime:
    return parse_fhir_date(entry["resource"]["effectiveDateTime"]).lo


def test_search_by_date_prefixes_bounds_effective_time(sandbox):
    url = sandbox.base("plain") + "/Observation"
    patient = sandbox.patients[0]
    everything, _ = sandbox.page_through(url, {"patient": patient, "_count": 1000})
    times = sorted(_effective(e) for e in everything)
    middle = times[len(times) // 2].strftime("%Y-%m-%d")
    cut = datetime.fromisoformat(middle).replace(tzinfo=UTC)
    ge, _ = sandbox.page_through(url, {"patient": patient, "date": f"ge{middle}", "_count": 1000})
    lt, _ = sandbox.page_through(url, {"patient": patient, "date": f"lt{middle}", "_count": 1000})
    assert ge and lt
    assert all(_effective(e) >= cut for e in ge)
    assert all(_effective(e) < cut for e in lt)
    assert len(ge) + len(lt) == len(everything)


def test_search_by_date_applies_to_condition_recorded_date(sandbox):
    url = sandbox.base("plain") + "/Condition"
    everything, _ = sandbox.page_through(url, {"_count": 1000})
    inside, _ = sandbox.page_through(url, {"recorded-date": "ge1900-01-01", "_count": 1000})
    assert len(inside) == sum(1 for e in everything if "recordedDate" in e["resource"])


def _name_starts(resource: dict, prefix: str) -> bool:
    parts = [p for n in resource["name"] for p in (n.get("family"), n.get("text"), *n.get("given", [])) if p]
    return any(part.lower().startswith(prefix) for part in parts)


def _first_code(concept: dict) -> str:
    return concept["coding"][0]["code"]


# (type, parameter, the value to search for taken from a resource, does a resource match it)
TOKEN_AND_STRING_SEARCHES = [
    ("Patient", "gender", lambda r: r["gender"], lambda r, v: r["gender"] == v),
    ("Patient", "birthdate", lambda r: r["birthDate"], lambda r, v: r["birthDate"] == v),
    (
        "Patient",
        "identifier",
        lambda r: f"{r['identifier'][0]['system']}|{r['identifier'][0]['value']}",
        lambda r, v: any(f"{i.get('system')}|{i['value']}" == v for i in r["identifier"]),
    ),
    ("Patient", "name", lambda r: r["name"][0]["family"][:3].lower(), lambda r, v: _name_starts(r, v)),
    ("Immunization", "vaccine-code", lambda r: _first_code(r["vaccineCode"]),
     lambda r, v: _first_code(r["vaccineCode"]) == v),
    ("DocumentReference", "type", lambda r: _first_code(r["type"]), lambda r, v: _first_code(r["type"]) == v),
    ("Condition", "clinical-status", lambda r: _first_code(r["clinicalStatus"]),
     lambda r, v: _first_code(r["clinicalStatus"]) == v),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rtype", "param", "pick", "matches"),
    TOKEN_AND_STRING_SEARCHES,
    ids=[f"{t}-{p}" for t, p, _, _ in TOKEN_AND_STRING_SEARCHES],
)
def test_search_by_token_and_string_parameters(sandbox, rtype, param, pick, matches):
    bodies = [r.body for r in sandbox.store.scan(rtype)]
    value = pick(bodies[0])
    entries, _ = sandbox.page_through(f"{sandbox.base('plain')}/{rtype}", {param: value, "_count": 1000})
    assert sorted(ids(entries)) == sorted(b["id"] for b in bodies if matches(b, value))
    assert entries


def test_search_by_last_updated_range_uses_both_bounds(sandbox):
    records = sandbox.store.scan("Observation", sort_by_last_updated=True)
    lo, hi = records[10].last_updated, records[40].last_updated
    params = [("_lastUpdated", "ge" + lo.isoformat()), ("_lastUpdated", "lt" + hi.isoformat()), ("_count", "1000")]
    bundle = sandbox.get("/fhir/r4/Observation", params=params).json()
    expected = {r.id for r in records if lo <= r.last_updated < hi}
    assert set(ids(bundle["entry"])) == expected


def test_search_by_intent_and_status(sandbox):
    url = sandbox.base("plain") + "/MedicationRequest"
    orders, _ = sandbox.page_through(url, {"intent": "order", "_count": 1000})
    assert orders and all(e["resource"]["intent"] == "order" for e in orders)
    status = orders[0]["resource"]["status"]
    same, _ = sandbox.page_through(url, {"intent": "order", "status": status, "_count": 1000})
    assert same and all(e["resource"]["status"] == status for e in same)


def test_sort_by_last_updated_descending(sandbox):
    bundle = sandbox.get("/fhir/r4/Encounter", params={"_sort": "-_lastUpdated", "_count": 20}).json()
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in bundle["entry"]]
    assert stamps == sorted(stamps, reverse=True)


def test_count_zero_returns_only_the_total(sandbox):
    bundle = sandbox.get("/fhir/r4/Observation", params={"_count": 0}).json()
    assert bundle["total"] == sandbox.store.count("Observation")
    assert "entry" not in bundle


def test_searchset_entries_have_full_url_and_match_mode(sandbox):
    bundle = sandbox.get("/fhir/r4/Patient").json()
    assert bundle["type"] == "searchset"
    assert bundle["link"][0]["relation"] == "self"
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"{sandbox.base('plain')}/Patient/{entry['resource']['id']}"
        assert entry["search"] == {"mode": "match"}


def test_paging_visits_every_observation_exactly_once(sandbox):
    entries, bundles = sandbox.page_through(sandbox.base("plain") + "/Observation", {"_count": 50})
    assert len(bundles) > 5
    assert sorted(ids(entries)) == sorted(r.id for r in sandbox.store.scan("Observation"))
    assert len(set(ids(entries))) == len(entries)
    assert all(b["total"] == len(entries) for b in bundles)


def test_post_search_matches_get_search(sandbox):
    patient = sandbox.patients[2]
    got = sandbox.get("/fhir/r4/Observation", params={"patient": patient, "_count": 1000}).json()
    posted = sandbox.client.post(
        sandbox.base("plain") + "/Observation/_search",
        data={"patient": patient, "_count": "1000"},
    ).json()
    assert ids(posted["entry"]) == ids(got["entry"])


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"_count": "abc"}, "_count"),
        ({"date": "notadate"}, "date"),
        ({"_lastUpdated": "xx"}, "_lastUpdated"),
        ({"_lastUpdated": "ne2024-01-01"}, "_lastUpdated"),
        ({"_sort": "flavour"}, "_sort"),
        ({"code:text": "pulse"}, "code:text"),
        ({"code": ""}, "code"),
    ],
)
def test_malformed_search_parameter_is_400_operation_outcome(sandbox, params, named):
    response = sandbox.get("/fhir/r4/Observation", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "invalid"
    assert named.split(":")[0] in body["issue"][0]["diagnostics"]


def test_unknown_parameter_is_ignored_unless_handling_is_strict(sandbox):
    lenient = sandbox.get("/fhir/r4/Patient", params={"shoe-size": "42"})
    assert lenient.status_code == 200
    assert "shoe-size" not in lenient.json()["link"][0]["url"]
    strict = sandbox.get("/fhir/r4/Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


# ---------------------------------------------------------------------------- writes


def test_create_assigns_id_version_and_location(sandbox):
    response = sandbox.client.post(
        sandbox.base("plain") + "/Observation",
        content=orjson.dumps(observation(sandbox.patients[0])),
        headers=FHIR_JSON,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["meta"]["versionId"] == "1"
    assert response.headers["location"] == f"{sandbox.base('plain')}/Observation/{body['id']}/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert sandbox.store.get("Observation", body["id"]).version == 1


def test_create_with_invalid_json_is_400(sandbox):
    response = sandbox.client.post(
        sandbox.base("plain") + "/Observation", content=b'{"resourceType": ', headers=FHIR_JSON
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'{"status": "final"}', b'{"resourceType": "Observation", "status": "final"}'],
    ids=["not-an-object", "no-resource-type", "missing-code"],
)
def test_create_with_an_invalid_resource_is_422(sandbox, body):
    response = sandbox.client.post(sandbox.base("plain") + "/Observation", content=body, headers=FHIR_JSON)
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"


def test_create_with_another_resource_type_is_400(sandbox):
    body = orjson.dumps({"resourceType": "Patient"})
    response = sandbox.client.post(sandbox.base("plain") + "/Observation", content=body, headers=FHIR_JSON)
    assert response.status_code == 400


def _update(sandbox, body: dict, if_match: str | None = None, base: str = "plain"):
    headers = dict(FHIR_JSON)
    if if_match:
        headers["If-Match"] = if_match
    url = f"{sandbox.base(base)}/{body['resourceType']}/{body['id']}"
    return sandbox.client.put(url, content=orjson.dumps(body), headers=headers)


def test_update_with_current_if_match_creates_next_version(sandbox):
    record = sandbox.store.scan("Observation")[0]
    body = record.body | {"status": "amended"}
    response = _update(sandbox, body, 'W/"1"')
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"


def test_update_with_stale_if_match_is_412(sandbox):
    record = sandbox.store.scan("Observation")[0]
    assert _update(sandbox, record.body | {"status": "amended"}, 'W/"1"').status_code == 200
    stale = _update(sandbox, record.body | {"status": "corrected"}, 'W/"1"')
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    assert sandbox.store.get("Observation", record.id).version == 2


def test_update_with_id_other_than_url_is_400(sandbox):
    record = sandbox.store.scan("Observation")[0]
    url = f"{sandbox.base('plain')}/Observation/someone-else"
    response = sandbox.client.put(url, content=record.raw, headers=FHIR_JSON)
    assert response.status_code == 400


def test_update_with_invalid_json_is_400_and_changes_nothing(sandbox):
    record = sandbox.store.scan("Observation")[0]
    url = f"{sandbox.base('plain')}/Observation/{record.id}"
    response = sandbox.client.put(url, content=b"{not json", headers=FHIR_JSON)
    assert response.status_code == 400
    assert sandbox.store.get("Observation", record.id).version == 1


def test_delete_then_read_is_410_and_history_shows_the_deletion(sandbox):
    record = sandbox.store.scan("Observation")[0]
    url = f"{sandbox.base('plain')}/Observation/{record.id}"
    assert sandbox.client.delete(url).status_code == 204
    assert sandbox.get(url).status_code == 410
    assert sandbox.client.delete(url).status_code == 204  # idempotent
    history = sandbox.get(url + "/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]


def test_history_lists_versions_newest_first_and_vread_reads_old_ones(sandbox):
    record = sandbox.store.scan("Condition")[0]
    _update(sandbox, record.body | {"note": [{"text": "seen again"}]})
    url = f"{sandbox.base('plain')}/Condition/{record.id}"
    history = sandbox.get(url + "/_history").json()
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    old = sandbox.get(url + "/_history/1")
    assert old.status_code == 200 and "note" not in old.json()
    assert sandbox.get(url + "/_history/9").status_code == 404


# ---------------------------------------------------------------------------- operations and discovery


def test_patient_everything_pages_through_the_compartment_with_the_patient_first(sandbox):
    patient = sandbox.patients[0]
    entries, bundles = sandbox.page_through(f"{sandbox.base('plain')}/Patient/{patient}/$everything", {"_count": 40})
    assert len(bundles) > 1
    assert entries[0]["resource"] == {**entries[0]["resource"], "resourceType": "Patient", "id": patient}
    expected = {(r.resource_type, r.id) for r in sandbox.store.patient_compartment(patient)}
    assert {(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries} == expected


def test_patient_everything_of_unknown_patient_is_404(sandbox):
    assert sandbox.get("/fhir/r4/Patient/nobody/$everything").status_code == 404


def test_binary_serves_raw_bytes_with_its_content_type(sandbox):
    record = next(r for r in sandbox.store.scan("Binary") if r.body["contentType"] == "application/pdf")
    response = sandbox.get(f"/fhir/r4/Binary/{record.id}", headers={"Accept": "application/pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == base64.b64decode(record.body["data"])
    assert response.content.startswith(b"%PDF")


def test_binary_is_the_fhir_resource_when_fhir_json_is_asked_for(sandbox):
    record = sandbox.store.scan("Binary")[0]
    response = sandbox.get(f"/fhir/r4/Binary/{record.id}", headers={"Accept": "application/fhir+json"})
    assert response.json()["resourceType"] == "Binary"


def test_metadata_lists_types_search_params_and_oauth_uris(sandbox):
    statement = sandbox.get("/fhir/r4/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    observation_entry = next(r for r in rest["resource"] if r["type"] == "Observation")
    names = {p["name"] for p in observation_entry["searchParam"]}
    assert {"patient", "category", "code", "date", "_lastUpdated"} <= names
    uris = {e["url"]: e["valueUri"] for e in rest["security"]["extension"][0]["extension"]}
    assert uris["authorize"] == sandbox.base("plain") + "/auth/authorize"
    assert uris["token"] == sandbox.base("plain") + "/auth/token"


def test_smart_configuration_is_served_without_an_auth_server(sandbox):
    config = sandbox.get("/fhir/r4/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == sandbox.base("plain") + "/auth/token"
    assert config["code_challenge_methods_supported"] == ["S256"]


# ---------------------------------------------------------------------------- authorization wiring


class StubAuth:
    """The SmartAuthServer interface, with bearer tokens mapped to fixed contexts."""

    def __init__(self, tokens: dict[str, TokenContext]) -> None:
        self.tokens = tokens
        self.expired = False
        self.calls: list[tuple[str, str, str | None]] = []

    def router(self):
        from fastapi import APIRouter

        return APIRouter()

    def authenticate(self, authorization_header, *, base_url, resource_type, interaction, patient_id):
        self.calls.append((resource_type, interaction, patient_id))
        token = (authorization_header or "").removeprefix("Bearer ")
        if token not in self.tokens or self.expired:
            raise SmartError(401, "invalid_token", "access token is unknown or expired")
        return self.tokens[token]

    def expire_all_tokens(self) -> None:
        self.expired = True


def _context(client_id: str, patient: str | None) -> TokenContext:
    return TokenContext(client_id=client_id, scopes=["patient/*.rs"], patient=patient, expires_at=2e9)


@pytest.fixture
def guarded(make_sandbox):
    """A sandbox whose FHIR API needs a token: `user` sees everything, `pat` only the first patient."""
    box = make_sandbox()
    auth = StubAuth({"user": _context("app-a", None), "pat": _context("app-p", box.patients[0])})
    return make_sandbox(auth=auth, store=box.store), auth


def test_without_a_token_the_api_answers_401_with_a_bearer_challenge(guarded):
    box, _ = guarded
    response = box.get("/fhir/r4/Patient")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"
    assert box.get("/fhir/r4/metadata").status_code == 200


def test_authenticate_is_told_the_interaction_and_the_patient_targeted(guarded):
    box, auth = guarded
    record = box.store.scan("Observation", patient=box.patients[1])[0]
    box.get(f"/fhir/r4/Observation/{record.id}", headers={"Authorization": "Bearer user"})
    assert auth.calls[-1] == ("Observation", "read", box.patients[1])


def test_patient_token_search_is_confined_to_its_patient(guarded):
    box, _ = guarded
    mine, other = box.patients[0], box.patients[1]
    headers = {"Authorization": "Bearer pat"}
    own, _ = box.page_through(box.base("plain") + "/Observation", {"patient": mine, "_count": 1000}, headers=headers)
    assert own and all(e["resource"]["subject"]["reference"] == f"Patient/{mine}" for e in own)
    assert box.get("/fhir/r4/Observation", params={"patient": other}, headers=headers).status_code == 403
    theirs = box.store.scan("Observation", patient=other)[0]
    assert box.get(f"/fhir/r4/Observation/{theirs.id}", headers=headers).status_code == 403


def test_patient_token_reads_binary_only_of_its_own_documents(guarded):
    box, _ = guarded
    headers = {"Authorization": "Bearer pat"}
    for record in box.store.scan("Binary"):
        document = record.body["securityContext"]["reference"].split("/")[1]
        owner = box.store.get("DocumentReference", document).patient_id
        expected = 200 if owner == box.patients[0] else 403
        assert box.get(f"/fhir/r4/Binary/{record.id}", headers=headers).status_code == expected


def test_real_smart_server_mounts_its_discovery_under_every_base(make_sandbox):
    box = make_sandbox(auth=SmartAuthServer())
    cerner = box.base("cerner")
    config = box.get(cerner + "/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == cerner + "/auth/token"
    assert box.get(cerner + "/Patient/" + box.patients[0]).status_code == 401


# ---------------------------------------------------------------------------- date semantics


def test_a_fhir_date_stands_for_its_whole_precision():
    march = parse_fhir_date("2024-03")
    assert (march.lo, march.hi) == (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    instant = parse_fhir_date("2024-03-05T10:00:00.123+02:00")
    assert instant.lo == datetime(2024, 3, 5, 8, 0, 0, 123000, tzinfo=UTC)
    assert (instant.hi - instant.lo).total_seconds() == 0.001
    with pytest.raises(ValueError):
        parse_fhir_date("2024-13-01")


def test_date_prefixes_compare_ranges_as_fhir_defines():
    search = parse_fhir_date("2024-03")
    inside, after = parse_fhir_date("2024-03-31T23:00:00Z"), parse_fhir_date("2024-04-01")
    assert date_matches("eq", search, inside) and not date_matches("gt", search, inside)
    assert date_matches("ge", search, inside) and date_matches("gt", search, after)
    assert date_matches("sa", search, after) and not date_matches("le", search, after)


def test_search_by_date_on_encounter_period(sandbox):
    url = sandbox.base("plain") + "/Encounter"
    everything, _ = sandbox.page_through(url, {"_count": 1000})
    starts = sorted(e["resource"]["period"]["start"] for e in everything)
    cut = starts[len(starts) // 2][:10]
    before, _ = sandbox.page_through(url, {"date": f"lt{cut}", "_count": 1000})
    assert before and all(e["resource"]["period"]["start"][:10] < cut for e in before)
