"""FHIR Patient -> ADT^A04/A08 -> convert back: what went out comes back."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holovitals.hl7v2 import parse
from holovitals.hl7v2.to_fhir import convert
from holovitals.hl7v2.to_fhir.datatypes import AUTHORITY_URN
from holovitals.hl7v2.to_fhir.outbound import patient_to_adt

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _round_trip(patient: dict, **kwargs) -> dict:
    message = patient_to_adt(patient, sending_facility="HVS", timestamp=WHEN, control_id="RT1", **kwargs)
    (back,) = convert(parse(message.to_er7())).by_type("Patient")
    return back


def _identifier_keys(patient: dict) -> list[tuple]:
    return [
        (i.get("system"), i["value"], tuple(c["code"] for c in i.get("type", {}).get("coding", [])))
        for i in patient.get("identifier", [])
    ]


def test_epic_patient_survives_a08_and_back(load) -> None:
    patient = convert(load("adt_a01_epic_v251.hl7")).by_type("Patient")[0]
    back = _round_trip(patient)
    assert _identifier_keys(back) == _identifier_keys(patient)
    for key in ("name", "birthDate", "gender", "address", "telecom", "maritalStatus"):
        assert back[key] == patient[key], key


def test_message_has_msh_evn_pid_pv1_with_the_event(load) -> None:
    patient = convert(load("adt_a01_epic_v251.hl7")).by_type("Patient")[0]
    message = patient_to_adt(patient, event="A04", sending_facility="HVS", receiving_application="EPIC")
    assert [s.name for s in message] == ["MSH", "EVN", "PID", "PV1"]
    assert message.get("MSH-9") == "ADT^A04^ADT_A01"
    assert message.get("MSH-5") == "EPIC"
    assert message.get("PV1-2") == "N"
    assert message.get("PID-3(1)") == "E1234567^^^GENHOSP&1.2.840.114350.1.13.0.1.7.5.737384.14&ISO^MR"


def test_delimiters_in_values_are_escaped() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": AUTHORITY_URN + "A", "value": "X|1"}],
        "name": [{"family": "O'NEIL^SMITH", "given": ["A&B"]}],
        "address": [{"line": ["1 MAIN ST~APT 2\\3"]}],
    }
    message = patient_to_adt(patient)
    assert message.get("PID-5") == "O'NEIL\\S\\SMITH^A\\T\\B"
    back = _round_trip(patient)
    assert back["name"] == patient["name"]
    assert back["address"] == patient["address"]
    assert back["identifier"][0]["value"] == "X|1"


def test_encounter_becomes_pv1_and_comes_back(load) -> None:
    result = convert(load("adt_a01_epic_v251.hl7"))
    patient, encounter = result.by_type("Patient")[0], result.by_type("Encounter")[0]
    message = patient_to_adt(patient, encounter=encounter, sending_facility="GENHOSP")
    assert message.get("PV1-2") == "I"
    assert message.get("PV1-19") == "V000123456^^^GENHOSP^VN"
    back = convert(message).by_type("Encounter")[0]
    assert back["id"] == encounter["id"]
    assert back["class"] == encounter["class"]
    assert back["period"] == encounter["period"]


def test_only_a04_and_a08_are_built() -> None:
    with pytest.raises(ValueError):
        patient_to_adt({"resourceType": "Patient"}, event="A01")
    with pytest.raises(ValueError):
        patient_to_adt({"resourceType": "Observation"})


def test_patient_without_identifier_cannot_fill_pid_3() -> None:
    with pytest.raises(ValueError, match="PID-3"):
        patient_to_adt({"resourceType": "Patient", "name": [{"family": "SMITH"}]})


# -- property: random demographics survive the round trip ----------------------------------------

#: Letters, digits, every HL7 delimiter and escape character, quotes, non-ASCII and CJK.
_ALPHABET = "AZaz09 .,'-/#|^~\\&\"()éÜß测试"
_text = st.text(alphabet=_ALPHABET, min_size=1, max_size=16).map(str.strip).filter(bool)
_code = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)


@st.composite
def identifiers(draw) -> dict:
    kind = draw(st.sampled_from(["namespace", "oid", "ssn", "uri", "none"]))
    identifier: dict = {"value": draw(_text)}
    if kind == "namespace":
        identifier["system"] = AUTHORITY_URN + quote(draw(_text), safe="")
    elif kind == "oid":
        arcs = [draw(st.integers(0, 2)), *draw(st.lists(st.integers(1, 99999), min_size=1, max_size=6))]
        identifier["system"] = "urn:oid:" + ".".join(map(str, arcs))
    elif kind == "ssn":
        identifier["system"] = "http://hl7.org/fhir/sid/us-ssn"
    elif kind == "uri":
        identifier["system"] = "https://ids.example.org/" + draw(_code).lower()
    type_code = draw(st.sampled_from([None, "MR", "PI", "SS", "AN"]))
    if type_code:
        identifier["type"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": type_code}]
        }
    return identifier


@st.composite
def names(draw) -> dict:
    name: dict = {}
    use = draw(st.sampled_from([None, "official", "usual", "nickname", "maiden", "old", "temp"]))
    if use:
        name["use"] = use
    name["family"] = draw(_text)
    name["given"] = draw(st.lists(_text, min_size=1, max_size=2))
    if draw(st.booleans()):
        name["prefix"] = [draw(_text)]
    if draw(st.booleans()):
        name["suffix"] = draw(st.lists(_text, min_size=1, max_size=2))
    return name


@st.composite
def addresses(draw) -> dict:
    address: dict = {}
    use = draw(st.sampled_from([None, "home", "work", "temp", "old"]))
    if use:
        address["use"] = use
    address["line"] = draw(st.lists(_text, min_size=1, max_size=2))
    for key in ("city", "district", "state", "postalCode", "country"):
        if draw(st.booleans()):
            address[key] = draw(_text)
    return address


@st.composite
def telecoms(draw) -> dict:
    system = draw(st.sampled_from(["phone", "email", "fax", "pager"]))
    uses = ["home", "work", "mobile"] if system == "phone" else ["home", "work"]
    return {"system": system, "value": draw(_text), "use": draw(st.sampled_from(uses))}


@st.composite
def patients(draw) -> dict:
    patient: dict = {"resourceType": "Patient"}
    patient["identifier"] = draw(
        st.lists(identifiers(), min_size=1, max_size=3, unique_by=lambda i: (i.get("system"), i["value"]))
    )
    patient["name"] = draw(st.lists(names(), min_size=1, max_size=2))
    patient["telecom"] = draw(st.lists(telecoms(), max_size=3, unique_by=lambda t: tuple(sorted(t.items()))))
    patient["gender"] = draw(st.sampled_from(["male", "female", "other", "unknown"]))
    patient["birthDate"] = draw(st.dates()).isoformat()
    patient["address"] = draw(st.lists(addresses(), max_size=2))
    return {k: v for k, v in patient.items() if v != []}


def _telecom_order(points: list[dict]) -> list[dict]:
    # PID-13 (home, mobile...) comes before PID-14 (work): order within each kept.
    return [p for p in points if p["use"] != "work"] + [p for p in points if p["use"] == "work"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients(), st.sampled_from(["A04", "A08"]))
def test_random_demographics_survive_adt_and_back(patient: dict, event: str) -> None:
    back = _round_trip(patient, event=event)
    assert _identifier_keys(back) == _identifier_keys(patient)
    assert back["name"] == patient["name"]
    assert back["gender"] == patient["gender"]
    assert back["birthDate"] == patient["birthDate"]
    assert back.get("address", []) == patient.get("address", [])
    assert back.get("telecom", []) == _telecom_order(patient.get("telecom", []))


_KEYS = ["value", "system", "code", "family", "given", "line", "use", "coding", "display", "type", "assigner", "text"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=_ALPHABET, max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=6,
)
_FIELDS = ["identifier", "name", "birthDate", "gender", "address", "telecom", "communication", "maritalStatus"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=4), st.none() | _json)
def test_malformed_resources_are_a_value_error_never_a_crash(fields: dict, encounter) -> None:
    patient = {"resourceType": "Patient", **fields}
    try:
        message = patient_to_adt(patient, encounter=encounter if isinstance(encounter, dict) else None)
    except ValueError as error:
        assert str(error).startswith(("Patient", "Encounter"))
        return
    convert(message)


def test_malformed_patient_error_names_the_element_not_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        patient_to_adt({"resourceType": "Patient", "name": [{"family": "SMITH", "given": "JOHN"}]})
    assert str(caught.value) == "Patient.name[0].given must be an array"
