"""v2 data types as FHIR data types: timestamps, codes, identifiers, quantities, ranges, attachments."""

from __future__ import annotations

import base64
from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from holovitals.hl7v2 import Repetition, parse
from holovitals.hl7v2.to_fhir import datatypes as dt
from holovitals.hl7v2.to_fhir.context import build_context
from holovitals.hl7v2.to_fhir.timestamps import fhir_to_dtm, parse_dtm, to_date, to_datetime, to_instant

EST = timezone(timedelta(hours=-5))


@pytest.fixture
def ctx():
    message = parse("MSH|^~\\&|APP|FAC|||20240301120000-0500||ADT^A08|1|P|2.5\rPID|1||X")
    return build_context(message, source_system=None, zone=None, identifier_systems={"LOCALMRN": "urn:oid:9.9"})


def rep(text: str) -> Repetition:
    return Repetition(text)


# -- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v2", "fhir"),
    [
        ("2024", "2024"),
        ("202403", "2024-03"),
        ("20240315", "2024-03-15"),
        ("2024031508", "2024-03-15T08:00:00-05:00"),
        ("202403150810", "2024-03-15T08:10:00-05:00"),
        ("20240315081005", "2024-03-15T08:10:05-05:00"),
        ("20240315081005.123", "2024-03-15T08:10:05.123-05:00"),
        ("20240315081005+0100", "2024-03-15T08:10:05+01:00"),
        ("20240315081005-0000", "2024-03-15T08:10:05+00:00"),
    ],
)
def test_timestamps_keep_their_precision_and_get_an_offset(v2: str, fhir: str) -> None:
    assert to_datetime(parse_dtm(v2), EST) == fhir


@pytest.mark.parametrize("bad", ["", "2024-03-15", "20241315", "20240230", "202403151", "20240315250000", "abc"])
def test_impossible_timestamps_are_not_read(bad: str) -> None:
    assert parse_dtm(bad) is None


def test_instants_need_a_day_and_dates_drop_the_time() -> None:
    assert to_instant(parse_dtm("202403"), EST) is None
    assert to_instant(parse_dtm("20240315"), EST) == "2024-03-15T00:00:00-05:00"
    assert to_date(parse_dtm("20240315081005-0500")) == "2024-03-15"


def test_invalid_timestamp_is_left_out_with_a_value_free_warning(ctx) -> None:
    assert dt.date_time("2024-13-45", ctx, "OBX-14") is None
    assert ctx.warnings[-1] == "OBX-14 is not a valid HL7 timestamp; left out"


@given(st.datetimes(timezones=st.just(EST)).map(lambda d: d.replace(microsecond=0)))
def test_fhir_times_go_back_to_the_same_v2_time(moment) -> None:
    fhir = moment.isoformat()
    assert to_datetime(parse_dtm(fhir_to_dtm(fhir)), EST) == fhir


# -- codes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "system"),
    [
        ("LN", "http://loinc.org"),
        ("SCT", "http://snomed.info/sct"),
        ("SNM", "http://snomed.info/sct"),
        ("I10", "http://hl7.org/fhir/sid/icd-10-cm"),
        ("RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"),
        ("CVX", "http://hl7.org/fhir/sid/cvx"),
        ("HL70078", "http://terminology.hl7.org/CodeSystem/v2-0078"),
        ("HL70112", "http://terminology.hl7.org/CodeSystem/v2-0112"),
        ("L", None),
        ("99ZZZ", None),
    ],
)
def test_coding_system_names_map_to_fhir_uris(ctx, name: str, system: str | None) -> None:
    assert dt.system_for(name, ctx, "OBX-3") == system


def test_unknown_coding_system_keeps_the_code_and_warns(ctx) -> None:
    concept = dt.codeable_concept(rep("123^Thing^MYSYS"), ctx, "OBX-3")
    assert concept == {"coding": [{"code": "123", "display": "Thing"}]}
    assert "OBX-3 names a coding system we do not know" in ctx.warnings[-1]


def test_cwe_alternate_coding_and_original_text(ctx) -> None:
    concept = dt.codeable_concept(rep("2345-7^Glucose^LN^GLU^Glucose serum^99LAB^^^Blood sugar"), ctx, "OBX-3")
    assert concept == {
        "coding": [
            {"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"},
            {"code": "GLU", "display": "Glucose serum"},
        ],
        "text": "Blood sugar",
    }


def test_text_only_cwe_is_a_text_concept(ctx) -> None:
    assert dt.codeable_concept(rep("^Chest pain"), ctx, "PV2-3") == {"text": "Chest pain"}


def test_table_codes_sent_without_a_system_get_the_table(ctx) -> None:
    assert dt.codeable_concept(rep("01"), ctx, "PV1-36", table="0112")["coding"][0]["system"].endswith("v2-0112")
    assert "system" not in dt.codeable_concept(rep("EMR"), ctx, "PV1-14", table="0023")["coding"][0]


# -- identifiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cx", "system"),
    [
        ("123^^^GENHOSP&1.2.3.4&ISO^MR", "urn:oid:1.2.3.4"),
        ("123^^^GENHOSP^MR", "urn:holovitals:hl7v2:authority:GENHOSP"),
        ("123^^^NORTH CLINIC^MR", "urn:holovitals:hl7v2:authority:NORTH%20CLINIC"),
        ("123^^^USSSA^SS", "http://hl7.org/fhir/sid/us-ssn"),
        ("123^^^&2.16.840.1.113883.4.6&ISO", "http://hl7.org/fhir/sid/us-npi"),
        ("123^^^LOCALMRN^MR", "urn:oid:9.9"),
        ("123^^^&https://ids.example.org/mrn&URI", "https://ids.example.org/mrn"),
        ("123", None),
    ],
)
def test_assigning_authority_becomes_the_identifier_system(ctx, cx: str, system: str | None) -> None:
    assert dt.identifier_cx(rep(cx), ctx, "PID-3").get("system") == system


def test_identifier_type_outside_table_0203_is_text(ctx) -> None:
    identifier = dt.identifier_cx(rep("5550001^^^MRN^MRN"), ctx, "PID-3")
    assert identifier["type"] == {"text": "MRN"}


# -- names, addresses, telecom ---------------------------------------------------------------------


def test_xpn_parts_go_where_humanname_wants_them(ctx) -> None:
    name = dt.human_name(rep("SMITH^JOHN^Q^JR^DR^PHD^L"), ctx, "PID-5")
    assert name == {
        "use": "official",
        "family": "SMITH",
        "given": ["JOHN", "Q"],
        "prefix": ["DR"],
        "suffix": ["JR", "PHD"],
    }


def test_xtn_email_phone_parts_and_mobile(ctx) -> None:
    assert dt.contact_point(rep("^NET^Internet^a@b.org"), ctx, "PID-13", default_use="home") == {
        "system": "email",
        "value": "a@b.org",
        "use": "home",
    }
    assert dt.contact_point(rep("^PRN^CP^^1^617^5551234^22"), ctx, "PID-13", default_use="home") == {
        "system": "phone",
        "value": "+1 (617) 555-1234 ext. 22",
        "use": "mobile",
    }
    assert dt.contact_point(rep("(555)555-1234"), ctx, "PID-14", default_use="work") == {
        "system": "phone",
        "value": "(555)555-1234",
        "use": "work",
    }


# -- quantities and ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "ucum"),
    [
        ("mg/dL", True),
        ("10*3/uL", True),
        ("mL/min/{1.73_m2}", True),
        ("%", True),
        ("{CFU}/mL", True),
        ("mm[Hg]", True),
        ("kg/m2", True),
        ("mmol/L", True),
        ("[IU]/L", True),
        ("/min", True),
        ("IU/L", False),
        ("thousand per microliter", False),
        ("MIN", False),
        ("cells/uL", False),
        ("", False),
    ],
)
def test_ucum_looking_units(unit: str, ucum: bool) -> None:
    assert dt.is_ucum(unit) is ucum


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("70-110", {"low": {"value": 70}, "high": {"value": 110}}),
        ("3.5 - 5.1", {"low": {"value": 3.5}, "high": {"value": 5.1}}),
        ("-2-2", {"low": {"value": -2}, "high": {"value": 2}}),
        ("<5", {"high": {"value": 5}}),
        ("<=5", {"high": {"value": 5}}),
        (">90", {"low": {"value": 90}}),
        ("negative", {}),
    ],
)
def test_reference_ranges(text: str, expected: dict) -> None:
    assert dt.reference_range(text, {}) == {**expected, "text": text}


@pytest.mark.parametrize(
    ("sn", "kind", "value"),
    [
        (">^100000", "valueQuantity", {"value": 100000, "comparator": ">"}),
        ("^7.5", "valueQuantity", {"value": 7.5}),
        ("=^7", "valueQuantity", {"value": 7}),
        ("^1^:^128", "valueRatio", {"numerator": {"value": 1}, "denominator": {"value": 128}}),
        ("^10^-^20", "valueRange", {"low": {"value": 10}, "high": {"value": 20}}),
        ("^2^+", "valueString", "2+"),
        ("<>^5", "valueString", "<>5"),
    ],
)
def test_structured_numeric(sn: str, kind: str, value) -> None:
    assert dt.structured_numeric(rep(sn), {}) == (kind, value)


# -- attachments -----------------------------------------------------------------------------------


def test_ed_encodings_become_base64(ctx) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 x").decode()
    assert dt.attachment(rep(f"^application^pdf^Base64^{pdf}"), ctx, "OBX-5") == {
        "contentType": "application/pdf",
        "data": pdf,
    }
    assert dt.attachment(rep("^AP^PDF^Hex^255044"), ctx, "OBX-5")["data"] == base64.b64encode(b"%PD").decode()
    assert dt.attachment(rep("^TEXT^^A^hello"), ctx, "OBX-5") == {
        "contentType": "text/plain",
        "data": base64.b64encode(b"hello").decode(),
    }


def test_broken_base64_is_left_out_with_a_warning(ctx) -> None:
    assert dt.attachment(rep("^application^pdf^Base64^%%%notbase64"), ctx, "OBX-5") is None
    assert "ED.4" in ctx.warnings[-1]
