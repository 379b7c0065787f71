"""ACKs: original and enhanced mode, ERR segments by version, rejects for unparseable input."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest

from holovitals.hl7v2 import (
    HL7Issue,
    HL7Location,
    HL7ParseError,
    HL7ValidationError,
    build_ack,
    build_reject,
    parse,
    parse_ack,
    wants_ack,
)

ORIGINAL = (
    "MSH|^~\\&|EPIC|GENHOSP|HOLOVITALS|HVS|20240315081530||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r"
    "EVN|A01|20240315081500\rPID|1||E111^^^GENHOSP^MR||DOE^JANE\rPV1|1|I\r"
)
ENHANCED = ORIGINAL.replace("|P|2.5.1", "|P|2.5.1|||AL|NE")
V23 = ORIGINAL.replace("|ADT^A01^ADT_A01|", "|ADT^A01|").replace("|P|2.5.1", "|P|2.3")
WHEN = datetime(2024, 3, 15, 13, 15, 31, tzinfo=UTC)


def test_accept_in_original_mode_is_aa_echoing_the_control_id() -> None:
    ack = build_ack(parse(ORIGINAL), control_id="ACK1", timestamp=WHEN)
    assert str(ack) == (
        "MSH|^~\\&|HOLOVITALS|HVS|EPIC|GENHOSP|20240315131531+0000||ACK^A01^ACK|ACK1|P|2.5.1\r"
        "MSA|AA|MSG0001\r"
    )


def test_ack_swaps_sender_and_receiver_and_keeps_the_version() -> None:
    ack = build_ack(parse(V23))
    swapped = (ack["MSH-3"], ack["MSH-4"], ack["MSH-5"], ack["MSH-6"])
    assert swapped == ("HOLOVITALS", "HVS", "EPIC", "GENHOSP")
    assert ack.version == "2.3"
    assert ack["MSH-9"] == "ACK^A01"  # no message structure component before v2.3.1
    assert ack.control_id and ack.control_id != "MSG0001"


def test_enhanced_mode_answers_with_a_commit_ack() -> None:
    ack = build_ack(parse(ENHANCED), "accept")
    assert ack["MSA-1"] == "CA"
    assert (ack["MSH-15"], ack["MSH-16"]) == ("NE", "NE")  # an ACK asks for no ACK back


@pytest.mark.parametrize(
    ("text", "outcome", "code"),
    [
        (ORIGINAL, "error", "AE"),
        (ORIGINAL, "reject", "AR"),
        (ENHANCED, "error", "CE"),
        (ENHANCED, "reject", "CR"),
        (ENHANCED, "AA", "AA"),
    ],
)
def test_outcome_maps_to_the_code_of_the_senders_mode(text: str, outcome: str, code: str) -> None:
    assert build_ack(parse(text), outcome)["MSA-1"] == code


def test_error_ack_from_a_validation_error_locates_the_failure_in_err_for_v25() -> None:
    msg = parse(ORIGINAL.replace("E111^^^GENHOSP^MR", ""))
    with pytest.raises(HL7ValidationError) as caught:
        parse(str(msg), strict=True)
    ack = build_ack(msg, error=caught.value, control_id="ACK2", timestamp=WHEN)
    assert ack["MSA-1"] == "AE"
    assert ack["MSA-2"] == "MSG0001"
    assert ack.value("MSA-3") == "PID-3 required field missing"
    err = ack.segment("ERR")
    assert err is not None
    assert err.get(2) == "PID^1^3"
    assert err.get(3) == "101^Required field missing^HL70357"
    assert err.get(4) == "E"
    assert err.value(8) == "PID-3 required field missing"


def test_error_ack_for_a_component_fills_erl_repetition_and_component() -> None:
    issue = HL7Issue(101, "MSH-9.2 required field missing", HL7Location("MSH", 1, 9, None, 2))
    ack = build_ack(parse(ORIGINAL), "error", issues=[issue])
    assert ack["ERR-2"] == "MSH^1^9^1^2"


def test_before_v25_the_error_goes_in_err_1() -> None:
    issue = HL7Issue(203, "MSH-12 version id is not supported", HL7Location("MSH", 1, 12))
    ack = build_ack(parse(V23), "reject", issues=[issue], text="Unsupported version id")
    assert ack["MSA-1"] == "AR"
    assert ack["ERR-1"] == "MSH^1^12^203&Unsupported version id&HL70357"
    assert ack.get("ERR-2") is None


def test_several_issues_give_one_err_segment_each_from_v25() -> None:
    issues = [HL7Issue(101, "PID-3 required field missing", HL7Location("PID", 1, 3)),
              HL7Issue(103, "PV1-2.1 value is not in HL7 table 0004", HL7Location("PV1", 1, 2, None, 1))]
    ack = build_ack(parse(ORIGINAL), "error", issues=issues)
    assert [s.get("3.1") for s in ack.segments("ERR")] == ["101", "103"]


def test_application_error_without_issues_reports_207() -> None:
    ack = build_ack(parse(ORIGINAL), "error", text="database unavailable")
    assert ack["ERR-3.1"] == "207"
    assert ack.value("ERR-8") == "database unavailable"


def test_ack_text_is_escaped() -> None:
    ack = build_ack(parse(ORIGINAL), "error", text="bad value | ^ & ~")
    assert parse(str(ack)).value("MSA-3") == "bad value | ^ & ~"


def test_ack_uses_the_senders_delimiters(load) -> None:
    received = parse(load("adt_a01_custom_delimiters_v24.hl7"))
    ack = build_ack(received)
    assert str(ack).startswith("MSH|@*/$|")
    assert ack["MSH-9"] == "ACK@A01@ACK"
    assert parse_ack(str(ack)) == ("AA", "LEG000001", None)


def test_ack_for_every_corpus_message_is_valid_and_matches_it(corpus_text: str) -> None:
    received = parse(corpus_text)
    ack = parse(str(build_ack(received)), strict=True)
    assert ack["MSA-2"] == received.control_id
    assert ack.version == received.version


def test_python_hl7_reads_our_ack() -> None:
    ack = hl7.parse(str(build_ack(parse(ORIGINAL), "error", text="broken")))
    assert str(ack.segment("MSA")(1)) == "AE"
    assert str(ack.segment("MSA")(2)) == "MSG0001"


def test_reject_for_garbage_has_no_control_id_and_states_the_reason() -> None:
    with pytest.raises(HL7ParseError) as caught:
        parse("this is not hl7 at all")
    ack = build_reject("this is not hl7 at all", caught.value)
    assert ack["MSA-1"] == "AR"
    assert ack["MSA-2"] == ""
    assert ack.value("MSA-3") == "message does not start with an MSH segment"
    assert ack["ERR-3.1"] == "100"
    assert "not hl7 at all" not in str(ack)


def test_reject_for_a_broken_message_salvages_the_header() -> None:
    broken = b"MSH|^~\\&|LAB|REFLAB|HV|HVS|20240101||ORU^R01|CTRL9|P|2.4\rPID|1||X\x00"
    ack = build_reject(broken, "message body is unreadable")
    assert (ack["MSA-1"], ack["MSA-2"]) == ("AR", "CTRL9")
    assert (ack["MSH-5"], ack["MSH-6"]) == ("LAB", "REFLAB")
    assert ack.version == "2.4"
    assert ack["ERR-1.4"] == "100&Segment sequence error&HL70357"


def test_reject_for_bad_delimiters_falls_back_to_defaults() -> None:
    with pytest.raises(HL7ParseError) as caught:
        parse("MSH|^^\\&|APP|FAC")
    ack = build_reject("MSH|^^\\&|APP|FAC", caught.value, version="2.5.1")
    assert str(ack).startswith("MSH|^~\\&|")
    assert ack["ERR-2"] == "MSH^1^2"
    assert ack["ERR-3.1"] == "102"


def test_parse_ack_reads_code_control_id_and_text(load) -> None:
    assert parse_ack(load("ack_aa_v251.hl7")) == ("AA", "1000123", None)
    assert parse_ack(load("ack_ae_err_v25.hl7")) == ("AE", "LAB-000451", "Required field missing")
    result = parse_ack(load("ack_ar_v23_err1.hl7"))
    assert (result.code, result.accepted) == ("AR", False)


def test_parse_ack_falls_back_to_err_text() -> None:
    text = str(build_ack(parse(ORIGINAL), "error", text="x")).replace("|MSG0001|x", "|MSG0001")
    assert parse_ack(text).text == "x"


def test_parse_ack_refuses_a_message_without_msa() -> None:
    with pytest.raises(HL7ParseError, match="MSA"):
        parse_ack(ORIGINAL)


@pytest.mark.parametrize(
    ("accept_type", "outcome", "expected"),
    [("AL", "accept", True), ("NE", "accept", False), ("ER", "accept", False), ("ER", "error", True),
     ("SU", "accept", True), ("SU", "reject", False)],
)
def test_wants_ack_follows_msh_15(accept_type: str, outcome: str, expected: bool) -> None:
    msg = parse(ORIGINAL.replace("|P|2.5.1", f"|P|2.5.1|||{accept_type}|AL"))
    assert wants_ack(msg, outcome) is expected  # type: ignore[arg-type]


def test_original_mode_always_wants_an_ack() -> None:
    assert wants_ack(parse(ORIGINAL), "accept")
