"""Damaged messages: a conversion either gives valid R4 or one of the documented HL7 errors, never a crash."""

from __future__ import annotations

from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holovitals.hl7v2 import HL7Error, parse
from holovitals.hl7v2.to_fhir import SUPPORTED, convert

CORPUS = Path(__file__).resolve().parent / "corpus"
MESSAGES = [
    text
    for text in (p.read_bytes().decode("utf-8") for p in sorted(CORPUS.glob("*.hl7")))
    if (parse(text).message_type, parse(text).trigger_event) in SUPPORTED
]
#: What a broken sender puts in a field: delimiters, escapes, nulls, dates, numbers, junk.
_JUNK = st.one_of(
    st.sampled_from(
        [
            '""',
            "^",
            "~",
            "&",
            "\\",
            "\\X0D\\",
            "\\X0B\\",
            "\\X00\\",
            "\\.br\\",
            "^^^^",
            "~~",
            "&&&",
            "20241399",
            "2024",
            "-5",
            "1e9",
            "Ä",
        ]
    ),
    st.text(alphabet="AZ09 .:-+<>=^~&\\|é", max_size=12),
)


def _damage(text: str, line: int, field: int, junk: str) -> str:
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    index = line % len(lines)
    if index == 0:
        index = 1 % len(lines)
    fields = lines[index].split("|")
    if len(fields) > 1:
        fields[1 + field % (len(fields) - 1)] = junk
    lines[index] = "|".join(fields)
    return "\r".join(lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(MESSAGES),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 60), _JUNK), min_size=1, max_size=3),
)
def test_damaged_messages_convert_to_valid_r4_or_raise_a_documented_error(text: str, damage: list) -> None:
    for line, field, junk in damage:
        text = _damage(text, line, field, junk)
    try:
        result = convert(text)
    except HL7Error as error:
        assert error.outcome in ("error", "reject")
        return
    for resource in result.resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
