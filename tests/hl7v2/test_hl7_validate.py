"""Strict mode: typed errors with HL7 table 0357 codes and locations, never patient values."""

from __future__ import annotations

from pathlib import Path

import pytest

from holovitals.hl7v2 import HL7ValidationError, find_issues, parse, validate

# Real-world flaws kept in the corpus on purpose: lenient mode reads them, strict mode must not.
KNOWN_FLAWS = {
    "adt_a01_cerner_v23": [(103, "PV1-2.1")],  # local patient class "INPATIENT"
    "oru_r01_chem_two_orders_v23": [(102, "OBX(3)-5")],  # ">90" sent as NM instead of SN
}

VALID_ORU = "\r".join([
    "MSH|^~\\&|LAB|REFLAB|HV|HVS|20240302110045||ORU^R01^ORU_R01|LAB-1|P|2.5.1",
    "PID|1||MRN123^^^HOSP^MR||SECRETNAME^JANE||19800214|F",
    "OBR|1||F1|718-7^Hemoglobin^LN",
    "OBX|1|NM|718-7^Hemoglobin^LN||10.9|g/dL|||||F",
])


def _issues(text: str) -> list[tuple[int, str]]:
    return [(i.code, str(i.location)) for i in find_issues(parse(text))]


def test_corpus_messages_pass_strict_mode_except_their_known_flaws(corpus_file: Path) -> None:
    msg = parse(corpus_file.read_bytes())
    assert [(i.code, str(i.location)) for i in find_issues(msg)] == KNOWN_FLAWS.get(corpus_file.stem, [])


def test_strict_parse_accepts_a_valid_message() -> None:
    assert parse(VALID_ORU, strict=True).control_id == "LAB-1"


def test_missing_required_field_reports_101_with_its_location() -> None:
    text = VALID_ORU.replace("MRN123^^^HOSP^MR", "")
    with pytest.raises(HL7ValidationError) as caught:
        parse(text, strict=True)
    error = caught.value
    assert error.code == 101
    assert (error.location.segment, error.location.sequence, error.location.field) == ("PID", 1, 3)  # type: ignore[union-attr]
    assert str(error) == "PID-3 required field missing"
    assert error.outcome == "error"


def test_a_field_holding_only_delimiters_or_null_counts_as_missing() -> None:
    assert (101, "PID-3") in _issues(VALID_ORU.replace("MRN123^^^HOSP^MR", "^^^~^"))
    assert (101, "PID-3") in _issues(VALID_ORU.replace("MRN123^^^HOSP^MR", '""'))


def test_error_messages_never_contain_patient_values() -> None:
    text = VALID_ORU.replace("19800214|F", "SECRETNAME|SECRETNAME").replace("|10.9|", "|SECRETNAME|")
    with pytest.raises(HL7ValidationError) as caught:
        validate(parse(text))
    assert "SECRETNAME" not in str(caught.value)
    assert all("SECRETNAME" not in issue.message for issue in caught.value.issues)
    assert {(i.code, str(i.location)) for i in caught.value.issues} == {
        (102, "PID-7.1"), (103, "PID-8.1"), (102, "OBX-5"),
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("|ORU^R01^ORU_R01|", "||"), (101, "MSH-9.1")),
        (("|ORU^R01^ORU_R01|", "|ORU|"), (101, "MSH-9.2")),
        (("|LAB-1|", "||"), (101, "MSH-10")),
        (("|P|2.5.1", "||2.5.1"), (101, "MSH-11")),
        (("|P|2.5.1", "|P|"), (101, "MSH-12")),
        (("|ORU^R01^ORU_R01|", "|DFT^P03|"), (200, "MSH-9.1")),
        (("|ORU^R01^ORU_R01|", "|ORU^R99|"), (201, "MSH-9.2")),
        (("|P|2.5.1", "|X|2.5.1"), (202, "MSH-11.1")),
        (("|P|2.5.1", "|P|3.0"), (203, "MSH-12.1")),
        (("20240302110045", "March 2nd"), (102, "MSH-7.1")),
    ],
)
def test_header_problems_carry_their_table_0357_code(
    change: tuple[str, str], expected: tuple[int, str]
) -> None:
    assert _issues(VALID_ORU.replace(*change))[0] == expected


def test_unsupported_type_or_version_rejects_the_message() -> None:
    with pytest.raises(HL7ValidationError) as caught:
        parse(VALID_ORU.replace("|P|2.5.1", "|P|3.0"), strict=True)
    assert caught.value.code == 203
    assert caught.value.outcome == "reject"


def test_missing_required_segment_is_a_segment_sequence_error() -> None:
    oru_without_results = "\r".join([*VALID_ORU.split("\r")[:2], "NTE|1||no results"])
    adt = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||X1||DOE^J"
    assert _issues(oru_without_results) == [(100, "OBR")]
    assert (100, "EVN") in _issues(adt)
    assert (100, "PV1") in _issues(adt)


def test_an_order_without_obr_is_reported() -> None:
    text = VALID_ORU.replace("OBR|1||F1|718-7^Hemoglobin^LN", "ORC|RE|F1")
    issues = find_issues(parse(text))
    expected = "required OBR segment missing in ORDER_OBSERVATION"
    assert [(i.code, i.message) for i in issues] == [(100, expected)]


def test_out_of_order_segment_reports_its_position() -> None:
    adt = "\r".join([
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5",
        "EVN|A01|20240101",
        "PID|1||X1||DOE^J",
        "PV1|1|I",
        "NK1|1|DOE^K",
    ])
    assert _issues(adt) == [(100, "NK1")]


def test_unknown_segments_are_errors_but_z_segments_are_not() -> None:
    base = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rEVN|A04|20240101\rPID|1||X1||DOE^J\rPV1|1|O"
    assert _issues(base + "\rZXX|1") == []
    assert _issues(base + "\rRXA|1") == [(100, "RXA")]


def test_a_line_that_is_not_a_segment_is_reported_by_position_only() -> None:
    base = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rEVN|A04|20240101\rPID|1||X1||DOE^J\rPV1|1|O"
    issues = find_issues(parse(base + "\rpatient SECRETNAME said hello"))
    expected = "segment 5 does not start with a valid segment id"
    assert [(i.code, i.message) for i in issues] == [(100, expected)]


def test_table_values_are_checked_for_coded_fields() -> None:
    assert _issues(VALID_ORU.replace("|||||F", "|||||Q")) == [(103, "OBX-11.1")]
    assert _issues(VALID_ORU.replace("|NM|", "|NUMBER|")) == [(103, "OBX-2.1")]


def test_obx_value_needs_a_value_type() -> None:
    assert _issues(VALID_ORU.replace("|NM|", "||")) == [(101, "OBX-2")]


def test_issues_on_later_occurrences_name_the_occurrence() -> None:
    text = VALID_ORU + "\rOBX|2|NM|||5|g/dL|||||F"
    assert _issues(text) == [(101, "OBX(2)-3")]


def test_validate_returns_nothing_for_a_valid_message() -> None:
    assert validate(parse(VALID_ORU)) is None
