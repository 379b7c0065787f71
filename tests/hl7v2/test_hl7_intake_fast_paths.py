"""Differential tests: strict validation and ACK building, written for speed, against the general
path they replaced (kept below as the reference: every field read through ``Segment.get``, the
structure matched for every message, the ACK built with ``add_segment``).

Both must agree exactly, issue for issue (code, text, location, order) and byte for byte, over the
corpus, over the corpus with damaged fields and headers, and over random damage.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holovitals.hl7v2 import HL7Issue, HL7Location, HL7ParseError, HL7ValidationError, parse
from holovitals.hl7v2 import ack as ack_module
from holovitals.hl7v2.ack import ack_mode, build_ack, build_reject, wants_ack
from holovitals.hl7v2.delimiters import DEFAULT_DELIMITERS, HEADER_SEGMENTS, Delimiters
from holovitals.hl7v2.errors import ERROR_CODES
from holovitals.hl7v2.escape import escape
from holovitals.hl7v2.groups import match_structure
from holovitals.hl7v2.message import (
    NULL,
    Message,
    Segment,
    _version_tuple,
    format_timestamp,
    new_control_id,
)
from holovitals.hl7v2.mllp import encode
from holovitals.hl7v2.structures import SUPPORTED_TYPES, TRIGGERS
from holovitals.hl7v2.validate import (
    _DTM,
    _NUMBER,
    _SEGMENT_ID,
    PROCESSING_IDS,
    REQUIRED_FIELDS,
    SUPPORTED_VERSIONS,
    TABLES,
    TIMESTAMP_FIELDS,
    _layouts,
    find_issues,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
TEXTS = [p.read_bytes().decode("utf-8") for p in sorted(CORPUS.glob("*.hl7"))]
WHEN = datetime(2024, 3, 15, 13, 15, 31, tzinfo=UTC)

# ---------------------------------------------------------------- reference: strict validation


def reference_find_issues(message: Message) -> list[HL7Issue]:
    issues = _ref_header_issues(message)
    message_type = message.message_type or ""
    if any(issue.code in (200, 201) for issue in issues) or message_type not in SUPPORTED_TYPES:
        return issues
    for index, segment in enumerate(message):
        if not _SEGMENT_ID.match(segment.name):
            issues.append(HL7Issue(100, f"segment {index + 1} does not start with a valid segment id"))
    issues.extend(match_structure(message)[1])
    seen: dict[str, int] = {}
    for segment in message:
        seen[segment.name] = seen.get(segment.name, 0) + 1
        if segment.name != "MSH":
            issues.extend(_ref_segment_issues(segment, seen[segment.name]))
    return issues


def _ref_header_issues(message: Message) -> list[HL7Issue]:
    issues: list[HL7Issue] = []

    def at(field: int, component: int | None = None) -> HL7Location:
        return HL7Location("MSH", 1, field, None, component)

    message_type, trigger = message.message_type, message.trigger_event
    if not _ref_valued(message_type):
        issues.append(HL7Issue(101, "MSH-9.1 required field missing (message type)", at(9, 1)))
    elif message_type not in SUPPORTED_TYPES:
        issues.append(HL7Issue(200, "MSH-9.1 message type is not supported", at(9, 1)))
    elif message_type != "ACK":
        if not _ref_valued(trigger):
            issues.append(HL7Issue(101, "MSH-9.2 required field missing (trigger event)", at(9, 2)))
        elif trigger not in TRIGGERS[message_type]:
            issues.append(HL7Issue(201, "MSH-9.2 trigger event is not supported for this type", at(9, 2)))
    if not _ref_valued(message.control_id):
        issues.append(HL7Issue(101, "MSH-10 required field missing (message control id)", at(10)))
    processing = message.processing_id
    if not _ref_valued(processing):
        issues.append(HL7Issue(101, "MSH-11 required field missing (processing id)", at(11)))
    elif processing not in PROCESSING_IDS:
        issues.append(HL7Issue(202, "MSH-11 processing id is not supported", at(11, 1)))
    version = message.version
    if not _ref_valued(version):
        issues.append(HL7Issue(101, "MSH-12 required field missing (version id)", at(12)))
    elif version not in SUPPORTED_VERSIONS:
        issues.append(HL7Issue(203, "MSH-12 version id is not supported", at(12, 1)))
    issues.extend(_ref_value_issues(message.msh, 1))
    return issues


def _ref_segment_issues(segment: Segment, occurrence: int) -> list[HL7Issue]:
    issues: list[HL7Issue] = []
    for number in REQUIRED_FIELDS.get(segment.name, ()):
        if not _ref_valued(segment.get(number), segment):
            location = HL7Location(segment.name, occurrence, number)
            issues.append(HL7Issue(101, f"{location} required field missing", location))
    issues.extend(_ref_value_issues(segment, occurrence))
    if segment.name == "OBX":
        issues.extend(_ref_observation_value_issues(segment, occurrence))
    return issues


def _ref_value_issues(segment: Segment, occurrence: int) -> list[HL7Issue]:
    issues: list[HL7Issue] = []
    name = segment.name
    for (table_segment, number), (table, allowed) in TABLES.items():
        if table_segment != name:
            continue
        reps = segment.repetitions(number)
        for rep_number, rep in enumerate(reps, start=1):
            code = rep.get(1)
            if code and code != NULL and code not in allowed:
                location = HL7Location(name, occurrence, number, rep_number if rep_number > 1 else None, 1)
                issues.append(HL7Issue(103, f"{location} value is not in HL7 table {table}", location))
    for stamp_segment, number in sorted(TIMESTAMP_FIELDS):
        if stamp_segment != name:
            continue
        stamp = segment.get(f"{number}.1")
        if stamp and stamp != NULL and not _DTM.match(stamp):
            location = HL7Location(name, occurrence, number, None, 1)
            issues.append(HL7Issue(102, f"{location} is not an HL7 date/time", location))
    return issues


def _ref_observation_value_issues(obx: Segment, occurrence: int) -> list[HL7Issue]:
    if not _ref_valued(obx.get(5), obx):
        return []
    value_type = obx.get("2.1")
    if not _ref_valued(value_type):
        location = HL7Location("OBX", occurrence, 2)
        return [HL7Issue(101, f"{location} required field missing (OBX-5 is valued)", location)]
    if value_type == "NM":
        for rep_number, rep in enumerate(obx.repetitions(5), start=1):
            if rep.raw and rep.raw != NULL and not _NUMBER.match(rep.raw):
                location = HL7Location("OBX", occurrence, 5, rep_number if rep_number > 1 else None)
                return [HL7Issue(102, f"{location} is not a number (OBX-2 is NM)", location)]
    return []


def _ref_valued(raw: str | None, segment: Segment | None = None) -> bool:
    if not raw or raw == NULL:
        return False
    if segment is None:
        return True
    d = segment.delimiters
    return bool(raw.strip(d.component + d.repetition + d.subcomponent))


# ---------------------------------------------------------------- reference: ACKs


def reference_ack_mode(message: Message) -> str:
    return "enhanced" if message.get("MSH-15") or message.get("MSH-16") else "original"


def reference_build_ack(received: Message, outcome: str | None = None, **kwargs) -> Message:
    error = kwargs.pop("error", None)
    text = kwargs.pop("text", None)
    all_issues = list(kwargs.pop("issues", ()))
    if error is not None:
        all_issues = error.issues + all_issues
        outcome = outcome or error.outcome
        text = text if text is not None else str(error)
    outcome = outcome or "accept"
    mode = reference_ack_mode(received)
    code = outcome if outcome in ("AA", "AE", "AR", "CA", "CE", "CR") else ack_module.ACK_CODES[(mode, outcome)]  # type: ignore[index]
    return _ref_build(received.msh, received.delimiters, code, text, all_issues, enhanced=mode == "enhanced", **kwargs)


def reference_build_reject(raw: str, reason: HL7ParseError | str, **kwargs) -> Message:
    if isinstance(reason, HL7ParseError):
        issues, text = reason.issues, reason.reason
    else:
        text, issues = reason, [HL7Issue(100, reason, HL7Location("MSH", 1))]
    delimiters, msh = ack_module._salvage_header(raw)
    if msh is None:
        msh = Segment("MSH" + DEFAULT_DELIMITERS.field + DEFAULT_DELIMITERS.encoding_characters)
        delimiters = DEFAULT_DELIMITERS
    version = kwargs.pop("version", None)
    if version:
        msh.set(12, version, escape=False)
    return _ref_build(msh, delimiters, "AR", text, issues, enhanced=False, **kwargs)


def _ref_build(
    msh_in: Segment,
    d: Delimiters,
    code: str,
    text: str | None,
    issues: list[HL7Issue],
    *,
    enhanced: bool,
    control_id: str | None = None,
    timestamp: datetime | None = None,
    sending_application: str | None = None,
    sending_facility: str | None = None,
) -> Message:
    version_field = msh_in.get(12) or "2.5.1"
    version = _version_tuple(msh_in.get("12.1") or "2.5.1")
    trigger = msh_in.get("9.2") or ""
    message_type = d.component.join(["ACK", trigger, "ACK"] if version >= (2, 3, 1) else ["ACK", trigger])
    if message_type.endswith(d.component):
        message_type = "ACK"
    fields = {
        3: escape(sending_application, d) if sending_application is not None else msh_in.get(5) or "",
        4: escape(sending_facility, d) if sending_facility is not None else msh_in.get(6) or "",
        5: msh_in.get(3) or "",
        6: msh_in.get(4) or "",
        7: format_timestamp(timestamp),
        9: message_type,
        10: escape(control_id or new_control_id(), d),
        11: msh_in.get(11) or "P",
        12: version_field,
        15: "NE" if enhanced else "",
        16: "NE" if enhanced else "",
        18: msh_in.get(18) or "",
    }
    last = max(number for number, value in fields.items() if value)
    msh = d.field.join(["MSH", d.encoding_characters] + [fields.get(n, "") for n in range(3, last + 1)])
    ack = Message([Segment(msh, d)], d, ["\r"])
    msa = [code, msh_in.get(10) or ""]
    if text:
        msa.append(escape(text, d))
    ack.add_segment("MSA", *msa, escape=False)
    if code not in ("AA", "CA") and not issues:
        issues = [HL7Issue(207, text or ERROR_CODES[207])]
    if issues:
        if version >= (2, 5):
            for issue in issues:
                ack.add_segment("ERR", *ack_module._err_fields(issue, d), escape=False)
        else:
            ack.add_segment("ERR", d.repetition.join(ack_module._eld(issue, d) for issue in issues), escape=False)
    return ack


# ---------------------------------------------------------------- inputs

#: What broken senders put in fields, written with ^ ~ & \ and turned into each message's delimiters.
JUNK = [
    "",
    '""',
    "^",
    "^^~^",
    "&",
    "~",
    '^""',
    "ZZ",
    "F~ZZ",
    "ZZ~F",
    "F^Female~M",
    "NM",
    "SN",
    "ST^x",
    "abc",
    "1.5",
    "-2",
    " +.5 ",
    "5.",
    ".",
    "1~x",
    '12~""~',
    "١٢",
    "1e9",
    "20240101",
    "2024",
    "202401011230",
    "20240101123045.1234+0100",
    "20240101123045.12345",
    "20240101-0500",
    "2024-01-01",
    "20241399",
    "+0500",
    "20240101^x",
    "x~20240101",
    "\\X0D\\",
    "ADT^A01",
    "ADT^A99",
    "ADT",
    "ACK",
    "ORU^R01^ORU_R01",
    "ORU^R01^ADT_A01",
    "DFT^P03",
    "ADT~ORU^R01",
    "P",
    "X",
    "D^A",
    "2.3",
    "2.4",
    "2.5",
    "2.3.1",
    "2.5.1~2.4",
    "2.4^x",
    "3.0",
    "AL",
    "NE",
    "ER",
    "SU",
    "UNICODE UTF-8",
    "8859/1",
]


def _in_delimiters(text: str, d: Delimiters) -> str:
    table = {"^": d.component, "~": d.repetition, "&": d.subcomponent, "\\": d.escape}
    return "".join(table.get(ch, ch) for ch in text)


def _checked_fields() -> dict[str, set[int]]:
    fields: dict[str, set[int]] = {"MSH": {7, 9, 10, 11, 12, 15, 16, 18}, "OBX": {2, 5}}
    for name, numbers in REQUIRED_FIELDS.items():
        fields.setdefault(name, set()).update(numbers)
    for name, number in (*TABLES, *TIMESTAMP_FIELDS):
        fields.setdefault(name, set()).add(number)
    return fields


CHECKED = _checked_fields()


def damaged(text: str, rng: random.Random, count: int) -> Iterator[str]:
    """Variants of a message with one checked field set to junk each."""
    message = parse(text)
    d = message.delimiters
    targets = [
        (position, number)
        for position, segment in enumerate(message.segments())
        for number in sorted(CHECKED.get(segment.name, ()))
    ]
    for position, number in rng.sample(targets, min(count, len(targets))):
        copy = parse(text)
        copy.segments()[position].set(number, _in_delimiters(rng.choice(JUNK), d), escape=False)
        yield str(copy)


def rearranged(text: str, rng: random.Random) -> Iterator[str]:
    """Variants with a segment dropped, repeated, moved, renamed or a non-segment line added."""
    lines = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line]
    body = range(1, len(lines))
    if not body:
        return
    i, j = rng.choice(body), rng.choice(body)
    yield "\r".join(lines[:i] + lines[i + 1 :])
    yield "\r".join(lines[: i + 1] + lines[i:])
    moved = lines[:i] + lines[i + 1 :]
    moved.insert(j, lines[i])
    yield "\r".join(moved)
    yield "\r".join([*lines[:i], "ZXX|1", *lines[i:]])
    yield "\r".join([*lines[:i], "RXA|1", *lines[i:]])
    yield "\r".join([*lines[:i], "a line of patient text", *lines[i:]])
    yield "\r".join([*lines[:i], "OBX|9|NM|1^x^LN||abc|||||Q", *lines[i:]])


def headers(text: str) -> Iterator[str]:
    """Variants with each MSH field the checks or the ACK read set to each junk value."""
    d = parse(text).delimiters
    for number in (3, 9, 10, 11, 12, 15, 16, 18):
        for junk in JUNK:
            copy = parse(text)
            copy.msh.set(number, _in_delimiters(junk, d), escape=False)
            yield str(copy)


def observations() -> Iterator[str]:
    """OBX-2 and OBX-5 together (OBX-5 is checked against OBX-2), in default and custom delimiters."""
    oru = (
        "MSH|^~\\&|LAB|REFLAB|HV|HVS|20240302110045||ORU^R01^ORU_R01|LAB-1|P|2.5.1\r"
        "PID|1||MRN123^^^HOSP^MR||DOE^JANE||19800214|F\rOBR|1||F1|718-7^Hemoglobin^LN\r"
        "OBX|1|{type}|718-7^Hemoglobin^LN||{value}|g/dL|||||F\r"
    )
    types = ["", '""', "NM", "ST", "NM^x", "NM~ST", "^NM", "~NM"]
    values = ["", '""', "^", "~", "5", "x", "5~x", "~5", '""~x', " 5 ", "1.2.3", "5.", "-.5", "5^kg", "١٢"]
    for value_type in types:
        for value in values:
            yield oru.format(type=value_type, value=value)
            # Repetition ".", component "-": a value like 1.5 is then two numbers.
            yield oru.format(type=value_type, value=value).replace("MSH|^~", "MSH|-.").replace("^", "-")


def _cases() -> list[str]:
    rng = random.Random(2500)
    cases = list(TEXTS)
    for text in TEXTS:
        cases.extend(damaged(text, rng, 40))
        cases.extend(rearranged(text, rng))
    for text in TEXTS[::6]:
        cases.extend(headers(text))
    cases.extend(observations())
    return cases


CASES = _cases()


# ---------------------------------------------------------------- tests: validation


def test_validation_matches_the_general_path_on_every_damaged_corpus_message() -> None:
    _layouts.clear()
    for text in CASES:
        assert find_issues(parse(text)) == reference_find_issues(parse(text)), text


def test_validation_matches_the_general_path_with_a_warm_layout_cache() -> None:
    # Second pass: every layout is now cached, the issues must still be those of each message.
    for text in CASES:
        find_issues(parse(text))
    for text in CASES:
        assert find_issues(parse(text)) == reference_find_issues(parse(text)), text


def test_messages_of_one_layout_but_another_type_get_their_own_structure_issues() -> None:
    adt = "MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rEVN|A04|20240101\rPID|1||X1||DOE^J\rPV1|1|O"
    assert find_issues(parse(adt)) == []
    as_siu = adt.replace("ADT^A04", "SIU^S12")
    assert find_issues(parse(as_siu)) == reference_find_issues(parse(as_siu)) != []


def test_a_layout_with_a_line_that_is_no_segment_is_never_cached() -> None:
    text = TEXTS[5] + "\rpatient SECRETNAME said hello\r"
    find_issues(parse(text))
    assert not any("pat" in names.split("\r") for _, names in _layouts)


def test_validating_twice_and_after_reading_fields_gives_the_same_issues() -> None:
    for text in CASES[::7]:
        message = parse(text)
        for segment in message.segments():
            segment.get(3)
        assert find_issues(message) == find_issues(message) == reference_find_issues(parse(text))


# ---------------------------------------------------------------- tests: ACKs


def _ack_arguments() -> list[dict]:
    issues = [
        HL7Issue(101, "PID-3 required field missing", HL7Location("PID", 1, 3)),
        HL7Issue(103, "OBX(2)-11.1 value is not in HL7 table 0085", HL7Location("OBX", 2, 11, None, 1)),
        HL7Issue(100, "segment 4 does not start with a valid segment id"),
        HL7Issue(100, "required OBR segment missing", HL7Location("OBR", None)),
        HL7Issue(102, "OBX-5(2) is not a number | ^ ~ & \\", HL7Location("OBX", 1, 5, 2), "W"),
    ]
    base = {"control_id": "ACK-1", "timestamp": WHEN}
    return [
        base,
        {**base, "outcome": "accept"},
        {**base, "outcome": "error"},
        {**base, "outcome": "reject", "text": "Unsupported version id"},
        {**base, "outcome": "AA", "text": "fine | ^ & ~ \\ done"},
        {**base, "outcome": "CE", "issues": issues[:1]},
        {**base, "outcome": "error", "issues": issues, "text": ""},
        {**base, "error": HL7ValidationError(issues[:2])},
        {**base, "error": HL7ValidationError(issues[2:]), "text": "overridden"},
        {**base, "error": HL7ParseError("broken header", code=102, location=HL7Location("MSH", 1, 2))},
        {**base, "sending_application": "LAB^1.2.3^ISO", "sending_facility": "A|B"},
        {**base, "control_id": "ID^WITH|DELIMS", "timestamp": datetime(2024, 1, 2, 3, 4, 5)},
    ]


ACK_ARGUMENTS = _ack_arguments()
ACK_CASES = CASES[::3]


@pytest.mark.parametrize("arguments", ACK_ARGUMENTS, ids=range(len(ACK_ARGUMENTS)))
def test_ack_is_byte_identical_to_the_general_path(arguments: dict) -> None:
    for text in ACK_CASES:
        received = parse(text)
        ours = build_ack(received, **arguments)
        reference = reference_build_ack(parse(text), **arguments)
        assert str(ours) == str(reference), text
        assert encode(ours) == encode(reference)
        assert ours.segment_names() == reference.segment_names()


def test_ack_mode_and_wants_ack_match_the_general_path() -> None:
    for text in ACK_CASES:
        message = parse(text)
        assert ack_mode(message) == reference_ack_mode(message)
        for outcome in ("accept", "error", "reject"):
            reference = reference_ack_mode(message) == "original" or _ref_wants(message, outcome)
            assert wants_ack(message, outcome) is reference  # type: ignore[arg-type]


def _ref_wants(message: Message, outcome: str) -> bool:
    condition = message.get("MSH-15.1") or "AL"
    return {"NE": False, "ER": outcome != "accept", "SU": outcome == "accept"}.get(condition, True)


def test_ack_without_a_control_id_gets_a_fresh_one_and_is_otherwise_identical() -> None:
    for text in ACK_CASES[::5]:
        ours = build_ack(parse(text), timestamp=WHEN)
        fresh = ours.control_id
        assert fresh and len(fresh) == 20 and fresh.isalnum()
        assert str(ours) == str(reference_build_ack(parse(text), timestamp=WHEN, control_id=fresh))


def test_reject_is_byte_identical_to_the_general_path() -> None:
    inputs = [text[:cut] for text in TEXTS[::4] for cut in (8, 40, 90, len(text))]
    inputs += ["this is not hl7", "MSH|^^\\&|APP|FAC", "MSH|^~\\&|A|B|C|D|2024||ORU^R01|C9|P|2.4\rPID|1||X\x00"]
    for raw in inputs:
        for reason in ("message body is unreadable", HL7ParseError("bad", code=100, location=HL7Location("MSH", 1))):
            for version in (None, "2.3", "2.5.1"):
                kwargs = {"version": version, "control_id": "R1", "timestamp": WHEN}
                assert str(build_reject(raw, reason, **kwargs)) == str(reference_build_reject(raw, reason, **kwargs))


# ---------------------------------------------------------------- random damage

_RANDOM_JUNK = st.one_of(st.sampled_from(JUNK), st.text(alphabet='AZ09 .:-+"^~&\\|', max_size=10))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(TEXTS) - 1),
    damage=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 40), _RANDOM_JUNK), min_size=1, max_size=4),
)
def test_random_damage_gives_the_same_issues_and_ack(index: int, damage: list[tuple[int, int, str]]) -> None:
    lines = TEXTS[index].replace("\r\n", "\r").replace("\n", "\r").split("\r")
    for line, field, junk in damage:
        at = line % len(lines)
        fields = lines[at].split("|")
        first = 3 if fields[0] in HEADER_SEGMENTS else 1  # keep the delimiters readable
        if len(fields) > first:
            fields[first + field % (len(fields) - first)] = junk
        lines[at] = "|".join(fields)
    text = "\r".join(lines)
    assert find_issues(parse(text)) == reference_find_issues(parse(text))
    for arguments in (ACK_ARGUMENTS[0], ACK_ARGUMENTS[7]):
        assert str(build_ack(parse(text), **arguments)) == str(reference_build_ack(parse(text), **arguments))
