"""Building and editing messages: set by terse path, escaping on write, new messages and segments."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from holovitals.hl7v2 import Delimiters, Message, build_msh, escape, parse, unescape

ADT = "\r".join([
    r"MSH|^~\&|EPIC|GENHOSP|HOLOVITALS|HVS|20240315081530||ADT^A01^ADT_A01|MSG0001|P|2.5.1",
    r"EVN|A01|20240315081500",
    r"PID|1||E111^^^GENHOSP^MR~S222^^^SSA^SS||DOE^JANE^Q||19800214|F",
    r"PV1|1|I|4WEST^412^A",
]) + "\r"


def test_setting_a_component_changes_only_that_component() -> None:
    msg = parse(ADT)
    msg["PID-5.2"] = "JOAN"
    assert str(msg) == ADT.replace("DOE^JANE^Q", "DOE^JOAN^Q")


def test_setting_a_field_in_every_corpus_message_changes_only_that_field(corpus_text: str) -> None:
    msg = parse(corpus_text)
    last = msg.segments()[-1]
    before = last.raw
    last.set(1, "CHANGED")
    fields = before.split(msg.delimiters.field)
    fields[1:2] = ["CHANGED"]
    at = corpus_text.rindex(before)
    expected = corpus_text[:at] + msg.delimiters.field.join(fields) + corpus_text[at + len(before):]
    assert str(msg) == expected


def test_setting_beyond_the_end_pads_with_delimiters() -> None:
    msg = parse(ADT)
    msg["PV1-5.3"] = "X"
    assert msg.segment("PV1").raw == "PV1|1|I|4WEST^412^A||^^X"  # type: ignore[union-attr]


def test_setting_a_repetition_and_a_subcomponent() -> None:
    msg = parse(ADT)
    msg["PID-3(3).1"] = "NEW333"
    msg["PID-3(3).4.2"] = "2.16.840.1"
    assert msg["PID-3"] == "E111^^^GENHOSP^MR~S222^^^SSA^SS~NEW333^^^&2.16.840.1"


def test_values_are_escaped_on_write_and_read_back_unescaped() -> None:
    msg = parse(ADT)
    msg["PID-11.1"] = "SMITH & JONES | SUITE ^5 ~ C:\\PATH"
    assert msg["PID-11.1"] == r"SMITH \T\ JONES \F\ SUITE \S\5 \R\ C:\E\PATH"
    assert msg.value("PID-11.1") == "SMITH & JONES | SUITE ^5 ~ C:\\PATH"
    assert parse(str(msg)).value("PID-11.1") == "SMITH & JONES | SUITE ^5 ~ C:\\PATH"


def test_raw_write_skips_escaping_for_prebuilt_structure() -> None:
    msg = parse(ADT)
    msg.set("PID-5", "ROE^RICHARD", escape=False)
    assert msg["PID-5.2"] == "RICHARD"


def test_lists_set_components_and_nested_lists_subcomponents() -> None:
    msg = parse(ADT)
    msg["PID-5"] = ["O'NEIL", "PAT", None, "JR"]
    msg["PID-3(2)"] = ["S999", "", "", ["SSA", "2.16.840.1.113883.4.1", "ISO"], "SS"]
    assert msg["PID-5"] == "O'NEIL^PAT^^JR"
    assert msg["PID-3(2)"] == "S999^^^SSA&2.16.840.1.113883.4.1&ISO^SS"


def test_a_literal_pair_of_quotes_is_not_written_as_the_null() -> None:
    msg = parse(ADT)
    msg["PID-8"] = '""'
    assert not msg.is_null("PID-8")
    assert msg.value("PID-8") == '""'


def test_set_null_writes_the_hl7_null() -> None:
    msg = parse(ADT)
    msg.set_null("PID-8")
    assert msg.is_null("PID-8")
    assert msg["PID-8"] == '""'


def test_header_delimiter_fields_cannot_be_set() -> None:
    msg = parse(ADT)
    with pytest.raises(ValueError, match="delimiters"):
        msg["MSH-2"] = "^~\\&#"


def test_create_makes_an_msh_with_fresh_control_id_timestamp_and_version() -> None:
    first = Message.create("ADT^A04", version="2.5.1", sending_facility="HVS", receiving_application="EPIC")
    second = Message.create("ADT^A04")
    assert first.control_id and second.control_id and first.control_id != second.control_id
    assert len(first.control_id) <= 20
    assert first["MSH-9"] == "ADT^A04^ADT_A01"
    assert first.version == "2.5.1"
    assert first["MSH-4"] == "HVS"
    assert first["MSH-5"] == "EPIC"
    assert re.fullmatch(r"\d{14}[+-]\d{4}", first["MSH-7"] or "")
    assert str(first).endswith("\r")


def test_create_for_v23_leaves_out_the_structure_id() -> None:
    assert Message.create("ORU^R01", version="2.3")["MSH-9"] == "ORU^R01"


def test_build_msh_uses_given_control_id_and_timestamp() -> None:
    msh = build_msh("ORU^R01", control_id="C1", timestamp=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                    sending_application="LAB^1.2.3^ISO", accept_ack_type="AL", application_ack_type="NE")
    assert msh == "MSH|^~\\&|LAB^1.2.3^ISO||||20240501120000+0000||ORU^R01^ORU_R01|C1|P|2.5.1|||AL|NE"


def test_build_msh_refuses_field_separators_in_values() -> None:
    with pytest.raises(ValueError):
        build_msh("ADT^A01", sending_application="BAD|APP")


def test_built_message_round_trips_and_reads_back() -> None:
    msg = Message.create("ORU^R01", control_id="C42", timestamp=datetime(2024, 1, 1, tzinfo=UTC))
    msg.add_segment("PID", "1", "", ["MRN1", "", "", "HOSP", "MR"], "", ["DOE", "JANE"])
    obx = msg.add_segment("OBX", "1", "NM")
    obx.set("3", ["718-7", "Hemoglobin", "LN"])
    obx.set(5, "10.9")
    msg["OBX(2)-5"] = "second & last"
    text = str(msg)
    again = parse(text)
    assert str(again) == text
    assert again["PID-3.1"] == "MRN1"
    assert again["OBX-3.2"] == "Hemoglobin"
    assert again.value("OBX(2)-5") == "second & last"
    assert [s.name for s in again] == ["MSH", "PID", "OBX", "OBX"]


def test_setting_a_segment_two_past_the_last_is_refused() -> None:
    msg = parse(ADT)
    with pytest.raises(ValueError, match="OBX"):
        msg["OBX(2)-5"] = "x"


def test_added_segments_follow_the_message_line_endings() -> None:
    msg = parse(ADT.replace("\r", "\n").rstrip("\n"))
    msg.add_segment("NTE", "1", "", "note")
    assert str(msg).endswith("PV1|1|I|4WEST^412^A\nNTE|1||note")


def test_removing_a_segment_keeps_the_rest_exact() -> None:
    msg = parse(ADT)
    msg.remove_segment(msg.segment("EVN"))  # type: ignore[arg-type]
    assert str(msg) == ADT.replace("EVN|A01|20240315081500\r", "")


def test_add_raw_segment_rejects_line_breaks_and_bad_names() -> None:
    msg = parse(ADT)
    with pytest.raises(ValueError):
        msg.add_raw_segment("NTE|1\rPID|2")
    with pytest.raises(ValueError):
        msg.add_raw_segment("nte|1")
    assert msg.add_raw_segment("ZXY|1^2").get("1.2") == "2"


def test_escape_covers_control_characters_that_would_break_framing() -> None:
    assert escape("a\x0bb\x1cc\rd\ne") == r"a\X0B\b\X1C\c\X0D\d\.br\e"


def test_escape_uses_the_truncation_character_from_v27() -> None:
    delimiters = Delimiters(truncation="#")
    assert escape("#1", delimiters) == r"\P\1"
    assert escape("#1") == "#1"


# Printable text, line breaks, control characters, delimiters, non-ASCII: anything a user types.
_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("|^~\\&#\r\n\t\x0b\x1c \"'"),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(value=_ANY_TEXT)
def test_any_value_set_through_the_builder_reads_back_identical(value: str) -> None:
    msg = Message.create("ADT^A08", control_id="P1")
    msg.add_segment("PID", "1")
    msg["PID-5.1"] = value
    reparsed = parse(str(msg))
    assert reparsed.value("PID-5.1") == value
    assert reparsed["PID-5.2"] is None  # nothing leaked into the next component
    assert len(reparsed) == 2  # nothing leaked into a new segment


@settings(max_examples=200, deadline=None)
@given(value=_ANY_TEXT, truncation=st.booleans())
def test_escape_then_unescape_is_identity_for_any_delimiters(value: str, truncation: bool) -> None:
    delimiters = Delimiters("!", "@", "*", "/", "$", "#" if truncation else None)
    assert unescape(escape(value, delimiters), delimiters) == value
