"""Reading HL7 v2 messages: round trip, terse paths, escapes, nulls, line endings, bad input."""

from __future__ import annotations

import pytest

from holovitals.hl7v2 import Delimiters, HL7ParseError, decode_message, parse, unescape

ADT = "\r".join([
    r"MSH|^~\&|EPIC|GENHOSP|HOLOVITALS|HVS|20240315081530||ADT^A01^ADT_A01|MSG0001|P|2.5.1",
    r"EVN|A01|20240315081500",
    r"PID|1||E111^^^GENHOSP&1.2.3&ISO^MR~S222^^^SSA^SS||DOE^JANE^Q~ROE^JANE||19800214|F",
    r"PV1|1|I|4WEST^412^A",
    r"OBX|1|NM|8302-2^Height^LN||170|cm",
    r"OBX|2|NM|29463-7^Weight^LN||72.5|kg",
]) + "\r"


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_is_exact_for_every_corpus_message(corpus_text: str) -> None:
    assert str(parse(corpus_text)) == corpus_text


def test_round_trip_is_exact_from_bytes(corpus_file) -> None:
    data = corpus_file.read_bytes()
    assert parse(data).encode("utf-8") == data


def test_round_trip_is_exact_after_reading_every_field(corpus_text: str) -> None:
    msg = parse(corpus_text)
    for segment in msg:
        for number in range(1, len(segment) + 1):
            segment.get(number)
            segment.repetitions(number)
    assert str(msg) == corpus_text


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_segment_terminators_are_accepted_and_kept(terminator: str) -> None:
    text = ADT.replace("\r", terminator)
    msg = parse(text)
    assert [s.name for s in msg] == ["MSH", "EVN", "PID", "PV1", "OBX", "OBX"]
    assert msg["PV1-2"] == "I"
    assert str(msg) == text


def test_bare_lf_inside_a_cr_message_stays_inside_the_value(load) -> None:
    msg = parse(load("adt_a03_embedded_lf_v25.hl7"))
    assert [s.name for s in msg] == ["MSH", "EVN", "PID", "PV1", "OBX"]
    assert msg.value("OBX-5") == "Take medication daily.\nFollow up in 2 weeks."


def test_blank_lines_and_leading_whitespace_are_kept_but_not_segments() -> None:
    text = "\r\n" + ADT.replace("\rPV1", "\r\rPV1") + "\r\r"
    msg = parse(text)
    assert [s.name for s in msg] == ["MSH", "EVN", "PID", "PV1", "OBX", "OBX"]
    assert str(msg) == text


# -- terse paths ------------------------------------------------------------------------------


def test_terse_paths_read_fields_components_and_subcomponents() -> None:
    msg = parse(ADT)
    assert msg["MSH-9"] == "ADT^A01^ADT_A01"
    assert msg["MSH-9.2"] == "A01"
    assert msg["PID-5.1"] == "DOE"
    assert msg["PID-3.4"] == "GENHOSP&1.2.3&ISO"
    assert msg["PID-3.4.2"] == "1.2.3"
    assert msg.get("PID-5.1.1") == "DOE"


def test_field_path_without_repetition_returns_all_repetitions() -> None:
    msg = parse(ADT)
    assert msg["PID-3"] == "E111^^^GENHOSP&1.2.3&ISO^MR~S222^^^SSA^SS"
    assert msg["PID-3(1)"] == "E111^^^GENHOSP&1.2.3&ISO^MR"


def test_repetition_index_selects_the_nth_repetition() -> None:
    msg = parse(ADT)
    assert msg.get("PID-3(2).1") == "S222"
    assert msg.get("PID-5(2).1") == "ROE"
    assert msg.get("PID-3(3).1") is None


def test_segment_index_selects_the_nth_segment() -> None:
    msg = parse(ADT)
    assert msg.get("OBX(2)-5") == "72.5"
    assert msg.get("OBX-5") == "170"
    assert msg.get("OBX(3)-5") is None


def test_msh_numbering_counts_the_field_separator_as_msh_1() -> None:
    msg = parse(ADT)
    assert msg["MSH-1"] == "|"
    assert msg["MSH-2"] == "^~\\&"
    assert msg["MSH-3"] == "EPIC"
    assert msg["MSH-10"] == "MSG0001"
    assert msg["MSH-2.2"] is None  # the encoding characters are never split


def test_missing_things_read_as_none_not_errors() -> None:
    msg = parse(ADT)
    assert msg.get("ZZZ-1") is None
    assert msg.get("PID-99") is None
    assert msg.get("PV1-3.9") is None
    assert msg.get("PID-5.1.5") is None
    assert msg.get("PID-99", "fallback") == "fallback"


def test_present_but_empty_reads_as_empty_string() -> None:
    msg = parse(ADT)
    assert msg.get("PID-2") == ""
    assert msg.get("PID-3.2") == ""


def test_malformed_paths_are_a_programming_error() -> None:
    msg = parse(ADT)
    for path in ("PID-", "PID-0", "PID-x", "P-1", "PID-1..2", "OBX(0)-5"):
        with pytest.raises(ValueError):
            msg.get(path)


def test_path_with_only_a_segment_returns_the_segment_text() -> None:
    assert parse(ADT).get("PV1") == "PV1|1|I|4WEST^412^A"


def test_message_properties_read_the_header() -> None:
    msg = parse(ADT)
    assert (msg.message_type, msg.trigger_event, msg.structure) == ("ADT", "A01", "ADT_A01")
    assert (msg.control_id, msg.processing_id, msg.version) == ("MSG0001", "P", "2.5.1")


def test_structure_comes_from_the_trigger_when_msh_9_3_is_absent(load) -> None:
    assert parse(load("adt_a04_register_v23_lf.hl7")).structure == "ADT_A01"


# -- escapes, nulls ---------------------------------------------------------------------------


def test_escapes_stay_raw_on_read_and_decode_on_value(load) -> None:
    msg = parse(load("oru_r01_hex_escapes_v25.hl7"))
    assert msg["OBX(2)-5"] == r"A\F\B \S\ C\T\D \R\ E\E\F"
    assert msg.value("OBX(2)-5") == "A|B ^ C&D ~ E\\F"


def test_hex_escapes_decode_as_utf8_and_highlighting_is_dropped(load) -> None:
    msg = parse(load("oru_r01_hex_escapes_v25.hl7"))
    assert msg.value("OBX-5") == "Line one\r\nLine two: café important"


def test_formatted_text_line_breaks_become_newlines(load) -> None:
    msg = parse(load("oru_r01_text_report_v231.hl7"))
    assert msg.value("OBX(2)-5") == "FINDINGS:\nLungs are clear.\n\nIMPRESSION:\nNormal study."


def test_escaped_delimiters_do_not_split_components(load) -> None:
    msg = parse(load("adt_a08_update_v231_escapes.hl7"))
    assert msg.value("PID-11.1") == "SUITE 5|6 SMITH & JONES BLDG"
    assert msg.value("PID-5.3") == "& JR"
    assert msg.value("OBX-5") == "Path C:\\temp\\scan.pdf ^ see chart"


def test_unknown_escape_sequences_are_kept_literally() -> None:
    assert unescape(r"C:\temp\file") == r"C:\temp\file"
    assert unescape("trailing\\") == "trailing\\"
    assert unescape(r"\Zlocal\ text") == r"\Zlocal\ text"


def test_custom_delimiters_are_read_from_msh(load) -> None:
    msg = parse(load("adt_a01_custom_delimiters_v24.hl7"))
    assert msg.delimiters == Delimiters("|", "@", "*", "/", "$")
    assert msg["MSH-9.2"] == "A01"
    assert msg["PID-3(2).1"] == "L0002"
    assert msg["PID-3.4.2"] == "1.2.3"
    assert msg.value("PID-5.3") == "@"
    assert msg.value("PID-11.1") == "5 ROAD $ LANE"


def test_truncation_character_is_recognised_from_v27(load) -> None:
    msg = parse(load("adt_a01_v27_truncation.hl7"))
    assert msg.delimiters.truncation == "#"
    assert msg["PID-5.1"].endswith("#")
    assert msg.value("PID-11.1") == "UNIT #12"


def test_null_is_distinguished_from_empty(load) -> None:
    msg = parse(load("adt_a08_update_nulls_v251.hl7"))
    assert msg.is_null("PID-13")
    assert msg["PID-13"] == '""'
    assert msg.value("PID-13") == ""
    assert not msg.is_null("PID-12")
    assert msg["PID-12"] == ""
    assert not msg.is_null("PID-99")
    assert msg.is_null("PV1-3")


def test_utf8_text_reads_back_unchanged(load) -> None:
    msg = parse(load("adt_a31_update_person_v251_utf8.hl7"))
    assert msg.value("PID-5.1") == "MÜLLER-TESTÉ"
    assert msg.value("PID-5(2).1") == "测试"
    assert msg.value("OBX-5") == "Español — señal «ok» ✓"


def test_bytes_in_latin1_are_decoded_by_msh_18() -> None:
    text = "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.3||||||8859/1\rPID|1||X1||PEÑA^JOSÉ"
    msg = parse(text.encode("latin-1"))
    assert msg.value("PID-5.1") == "PEÑA"


def test_bytes_mislabelled_latin1_but_valid_utf8_are_read_as_utf8() -> None:
    text = "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.3||||||8859/1\rPID|1||X1||PEÑA^JOSÉ"
    assert parse(text.encode("utf-8")).value("PID-5.2") == "JOSÉ"


def test_unlabelled_windows_1252_bytes_still_decode() -> None:
    data = "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.3\rPID|1||X1||M\u00dcLLER".encode("cp1252")
    assert decode_message(data).endswith("MÜLLER")


# -- repetitions and segments -----------------------------------------------------------------


def test_repetitions_give_each_identifier_with_its_components(load) -> None:
    pid = parse(load("adt_a01_epic_v251.hl7")).segment("PID")
    assert pid is not None
    ids = [(rep.get(1), rep.get(5), rep.get(4, 1)) for rep in pid.repetitions(3)]
    assert ids == [("E1234567", "MR", "GENHOSP"), ("999001234", "SS", "USSSA"), ("MRN778899", "PI", "LABSYS")]


def test_segments_lists_every_occurrence_in_order(load) -> None:
    msg = parse(load("oru_r01_cbc_v251.hl7"))
    assert [obx.get("3.2") for obx in msg.segments("OBX")] == ["WBC", "Hemoglobin", "Hematocrit", "Platelets"]
    assert msg.segment("OBX", 2).value(5) == "10.9"  # type: ignore[union-attr]


def test_segment_repr_never_shows_patient_data() -> None:
    pid = parse(ADT).segment("PID")
    assert "DOE" not in repr(pid)
    assert "DOE" not in repr(parse(ADT))


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \r\n", "empty"),
        ("hello world", "does not start with an MSH"),
        ("PID|1||123", "does not start with an MSH"),
        ("MSH", "truncated"),
        ("MSH|^~\\&", "truncated"),
        ("MSHA^~\\&|APP", "field separator"),
        ("MSH|^~|APP|FAC", "4 or 5 encoding characters"),
        ("MSH|^^\\&|APP|FAC", "repeat a delimiter"),
        ("MSH|^~\\&#!|APP|FAC", "4 or 5 encoding characters"),
        ("MSH|^~\\&\rPID|1", "truncated"),
        ("FHS|^~\\&|APP\rMSH|^~\\&|A", "batch file"),
    ],
)
def test_garbage_raises_a_clear_parse_error(text: str, reason: str) -> None:
    with pytest.raises(HL7ParseError, match=reason) as caught:
        parse(text)
    assert caught.value.outcome == "reject"
    assert caught.value.code in (100, 101, 102)


def test_parse_error_names_the_location_not_the_content() -> None:
    with pytest.raises(HL7ParseError) as caught:
        parse("MSH|^~|SECRETNAME")
    assert caught.value.location is not None
    assert str(caught.value.location) == "MSH-2"
    assert "SECRETNAME" not in str(caught.value)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(TypeError):
        parse(12345)  # type: ignore[arg-type]
