"""The converter's fast paths read exactly what the general paths read.

Each shortcut (a component read without a path to parse, a field's text without a repetition
object, values cached by their text, a person named twice made once) is checked against the
general reading it replaces, on the odd values the corpus holds: escapes, HL7 nulls, control
characters, repetitions, subcomponents and header fields.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from holovitals.hl7v2 import Repetition, parse
from holovitals.hl7v2.to_fhir import convert
from holovitals.hl7v2.to_fhir import datatypes as dt
from holovitals.hl7v2.to_fhir.context import build_context

HEADER = "MSH|^~\\&|APP|FAC|||20240301120000-0500||ADT^A08|1|P|2.5"
#: Field values with every kind of oddity a component read has to get right.
ODD_FIELDS = [
    "",
    '""',
    "plain",
    "  padded  ",
    "a^b^c",
    '""^b',
    "x\\T\\y^2",
    "first~second^2",
    "~second",
    "a&b&c^d&e",
    "\\X00\\",
    "\\X0D\\tail",
    "caf\\XC3A9\\",
    "\\F\\\\S\\\\R\\\\E\\",
    "broken\\escape",
]
_VALUE = st.sampled_from(ODD_FIELDS) | st.text(alphabet='ab ^~&\\"X0.', max_size=12)


def _segment(*fields: str):
    return parse(HEADER + "\rZZZ|" + "|".join(fields)).segment("ZZZ")


@pytest.fixture
def ctx():
    message = parse(HEADER + "\rPID|1||X")
    return build_context(message, source_system=None, zone=None, identifier_systems=None)


@given(_VALUE, st.integers(1, 4))
def test_component_value_reads_what_the_terse_path_reads(field: str, component: int) -> None:
    segment = _segment(field)
    assert segment.component_value(1, component) == segment.value(f"1.{component}")
    assert segment.component_value(5, component) == segment.value(f"5.{component}") is None


def test_component_value_of_msh_keeps_the_delimiter_fields_whole() -> None:
    msh = parse(HEADER).msh
    assert msh.component_value(1) == msh.value("1.1") == "|"
    assert msh.component_value(2) == msh.value("2.1") == "^~\\&"
    assert msh.component_value(9, 2) == "A08"


def test_component_value_refuses_position_zero_like_a_path_does() -> None:
    with pytest.raises(ValueError):
        _segment("x").component_value(0)
    with pytest.raises(ValueError):
        _segment("x").value("1.0")


@given(_VALUE)
def test_whole_field_reads_by_number_match_reads_by_path(field: str) -> None:
    segment = _segment(field)
    assert segment.value(1) == segment.value("1")
    assert segment.get(1) == segment.get("1")
    assert segment.get(9, "absent") == "absent"


@given(_VALUE, st.integers(1, 3))
def test_field_text_is_text_of_the_first_repetition(field: str, component: int) -> None:
    segment = _segment(field)
    assert dt.field_text(segment, 1, component) == dt.text(segment.first_repetition(1), component)
    assert dt.field_text(None, 1) is None


@given(_VALUE, st.integers(1, 9))
def test_parts_match_text_of_each_component(field: str, size: int) -> None:
    repetition = Repetition(field)
    expected = tuple(dt.text(repetition, i) for i in range(1, size + 1))
    assert dt.parts(repetition, size) == expected


@given(_VALUE)
def test_cx_parts_and_key_match_component_reads(field: str) -> None:
    repetition = Repetition(field)
    value, kind, namespace, universal, universal_type, start, end = dt.cx_parts(repetition)
    assert (value, kind, start, end) == tuple(dt.text(repetition, i) for i in (1, 5, 7, 8))
    assert (namespace, universal, universal_type) == dt.subparts(repetition, 4, 3)
    assert dt.cx_key(repetition) == (namespace or universal or "", value or "")


def test_a_cached_concept_is_a_fresh_dict_every_time(ctx) -> None:
    first = dt.codeable_concept(Repetition("R07.9^Chest pain^I10"), ctx, "DG1-3")
    first["coding"][0]["code"] = "changed"  # type: ignore[index]
    again = dt.codeable_concept(Repetition("R07.9^Chest pain^I10"), ctx, "DG1-3")
    assert again == {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "R07.9", "display": "Chest pain"}]
    }


def test_an_unknown_coding_system_is_warned_under_each_fields_label(ctx) -> None:
    dt.codeable_concept(Repetition("1^One^NOSUCH"), ctx, "OBX-3")
    dt.codeable_concept(Repetition("1^One^NOSUCH"), ctx, "OBX-5")
    assert [w.split(" ")[0] for w in ctx.warnings] == ["OBX-3", "OBX-5"]


def test_a_person_named_in_two_fields_is_one_practitioner_with_two_reference_dicts(ctx) -> None:
    xcn = Repetition("1234567890^Careful^Carla^^^^MD^^NPI^^^^QQ")
    first = dt.practitioner_reference(xcn, ctx, "PV1-7")
    second = dt.practitioner_reference(Repetition(xcn.raw), ctx, "PV1-17")
    assert first == second and first is not second
    assert len(ctx.resources) == 1
    # The unknown identifier type (QQ) is reported for each field that names the person.
    assert [w.split(" ")[0] for w in ctx.warnings] == ["PV1-7", "PV1-17"]


def test_every_resource_gets_its_own_meta(ctx) -> None:
    ctx.add({"resourceType": "Patient", "id": "a"})
    ctx.add({"resourceType": "Patient", "id": "b"})
    a, b = ctx.resources["Patient/a"]["meta"], ctx.resources["Patient/b"]["meta"]
    assert a == b and a is not b and a["tag"] is not b["tag"] and a["tag"][0] is not b["tag"][0]


def test_a_numeric_result_of_control_characters_only_has_no_value() -> None:
    # ``\X00\`` decodes to a NUL, which FHIR strings may not hold: an empty valueString would be
    # invalid R4, so the observation is written without a value.
    text = (
        HEADER.replace("ADT^A08", "ORU^R01")
        + "\rPID|1||E1^^^H^MR||DOE^JO\rOBR|1|P1|F1|2093-3^Cholesterol^LN\r"
        + "OBX|1|NM|2093-3^Cholesterol^LN||\\X00\\|mg/dL||||||F"
    )
    [observation] = convert(text).by_type("Observation")
    assert not any(key.startswith("value") for key in observation)


def test_segments_by_name_finds_one_many_or_none() -> None:
    message = parse(HEADER + "\rNK1|1\rPV1|1\rNK1|2\rNK1|3")
    assert [s.get(1) for s in message.segments("NK1")] == ["1", "2", "3"]
    assert [s.get(1) for s in message.segments("PV1")] == ["1"]
    assert message.segments("OBX") == []
    assert message.segment("NK1").get(1) == "1"  # type: ignore[union-attr]
    assert message.segment("NK1", 3).get(1) == "3"  # type: ignore[union-attr]
    assert message.segment("OBX") is None


def test_a_code_with_a_run_of_spaces_becomes_a_valid_fhir_code(ctx) -> None:
    concept = dt.codeable_concept(Repetition("0  0^Zero"), ctx, "SCH-7", table="0276")
    assert concept == {"coding": [{"code": "0 0", "display": "Zero"}]}
    assert dt.fhir_code("8302-2") == "8302-2"
