"""Strict mode: the checks a receiver makes before it accepts a message (and the NAK it sends).

The rules are data (required fields, HL7 tables, timestamp fields) and cover what every version
from 2.3 to 2.8 requires of the supported types. Each issue carries its table 0357 code and
location, and its message names the location only, never the value.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .delimiters import HEADER_SEGMENTS, Delimiters
from .errors import HL7Issue, HL7Location, HL7ValidationError
from .groups import match_structure
from .message import NULL, Message
from .structures import SUPPORTED_TYPES, TRIGGERS

SUPPORTED_VERSIONS = frozenset(
    {
        "2.1",
        "2.2",
        "2.3",
        "2.3.1",
        "2.4",
        "2.5",
        "2.5.1",
        "2.6",
        "2.7",
        "2.7.1",
        "2.8",
        "2.8.1",
        "2.8.2",
        "2.9",
    }
)
PROCESSING_IDS = frozenset({"P", "D", "T"})

#: Fields every version marks required (R), per segment.
REQUIRED_FIELDS: dict[str, tuple[int, ...]] = {
    "EVN": (2,),
    "PID": (3, 5),
    "MRG": (1,),
    "PV1": (2,),
    "ORC": (1,),
    "OBR": (4,),
    "OBX": (3, 11),
    "SPM": (4,),
    "AL1": (3,),
    "PR1": (3,),
    "RGS": (1,),
    "AIS": (3,),
    "TXA": (2, 12, 17),
    "MSA": (1, 2),
}

#: (segment, field) -> (HL7 table, allowed codes), checked on component 1 of every repetition.
TABLES: dict[tuple[str, int], tuple[str, frozenset[str]]] = {
    ("MSH", 15): ("0155", frozenset({"AL", "NE", "ER", "SU"})),
    ("MSH", 16): ("0155", frozenset({"AL", "NE", "ER", "SU"})),
    ("PID", 8): ("0001", frozenset({"F", "M", "O", "U", "A", "N", "X"})),
    ("PV1", 2): ("0004", frozenset({"E", "I", "O", "P", "R", "B", "C", "N", "U"})),
    ("OBX", 2): (
        "0125",
        frozenset(
            {
                "AD",
                "CE",
                "CF",
                "CK",
                "CN",
                "CNE",
                "CP",
                "CWE",
                "CX",
                "DR",
                "DT",
                "DTM",
                "ED",
                "FT",
                "ID",
                "IS",
                "MA",
                "MO",
                "NA",
                "NM",
                "PN",
                "RP",
                "SN",
                "ST",
                "TM",
                "TN",
                "TS",
                "TX",
                "XAD",
                "XCN",
                "XON",
                "XPN",
                "XTN",
            }
        ),
    ),
    ("OBX", 11): ("0085", frozenset({"A", "C", "D", "F", "I", "N", "O", "P", "R", "S", "U", "W", "X"})),
    ("MSA", 1): ("0008", frozenset({"AA", "AE", "AR", "CA", "CE", "CR"})),
    ("TXA", 17): ("0271", frozenset({"AU", "DI", "DO", "IN", "IP", "LA", "PA"})),
}

#: Fields of type TS/DTM, checked for the HL7 date-time format.
TIMESTAMP_FIELDS = frozenset({("MSH", 7), ("EVN", 2), ("PID", 7), ("OBR", 7), ("OBX", 14), ("SPM", 17)})


class _SegmentRules(NamedTuple):
    """The checks of one segment id, in the order their issues are reported."""

    required: tuple[int, ...]
    tables: tuple[tuple[int, str, frozenset[str]], ...]
    timestamps: tuple[int, ...]
    #: OBX only: a valued OBX-5 needs OBX-2, and must be a number when OBX-2 is NM.
    observation: bool
    #: The highest field number a check reads (shorter field lists are padded up to it).
    last: int


def _compile_rules() -> dict[str, _SegmentRules]:
    """The rule tables above by segment id, read once: walking every rule for every segment, and
    reading each field through ``Segment.get``, was most of what validation cost."""
    for segment, number in (*TABLES, *TIMESTAMP_FIELDS):
        if number <= 2 and segment in HEADER_SEGMENTS:
            raise ValueError(f"{segment}-{number} holds delimiters: no table or timestamp rule applies to it")
    names = {*REQUIRED_FIELDS, *(s for s, _ in TABLES), *(s for s, _ in TIMESTAMP_FIELDS), "OBX"}
    rules: dict[str, _SegmentRules] = {}
    for name in sorted(names):
        required = REQUIRED_FIELDS.get(name, ())
        tables = tuple((n, table, allowed) for (s, n), (table, allowed) in TABLES.items() if s == name)
        timestamps = tuple(sorted(n for s, n in TIMESTAMP_FIELDS if s == name))
        observation = name == "OBX"
        numbers = [*required, *(n for n, _, _ in tables), *timestamps, *((2, 5) if observation else ())]
        if name == "MSH":
            numbers.append(12)  # the header checks read MSH-9 to MSH-12
        rules[name] = _SegmentRules(required, tables, timestamps, observation, max(numbers))
    return rules


_RULES = _compile_rules()
_MSH_RULES = _RULES.pop("MSH")  # checked with the header; the loop over the body skips every MSH


class _Layout(NamedTuple):
    """What validation needs to know of a message's segment ids, worked out once per layout."""

    #: Segment-id and structure issues.
    issues: tuple[HL7Issue, ...]
    #: (position, segment id, occurrence, rules) of every segment after MSH that has rules.
    checks: tuple[tuple[int, str, int, _SegmentRules], ...]


# A layout depends on MSH-9 (which picks the structure) and the segment ids alone, and a feed
# sends few distinct ones: matching each once took an ADT^A01 from 12 us to under 1. Bounded in
# entries and in the size of each key; a layout with a line that is no segment is never kept (its
# "id" may be patient text).
_LAYOUT_CACHE_SIZE = 256
_LAYOUT_CACHE_MAX_SEGMENTS = 100
_layouts: dict[tuple[tuple[str, ...], str], _Layout] = {}

_DTM = re.compile(r"^\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?(?:[+-]\d{4})?$")
_NUMBER = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*$")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")


def validate(message: Message) -> None:
    """Raise HL7ValidationError carrying every issue when the message breaks strict rules."""
    issues = find_issues(message)
    if any(issue.severity == "E" for issue in issues):
        raise HL7ValidationError(issues)


def find_issues(message: Message) -> list[HL7Issue]:
    """Every strict-mode issue in the message, header problems first, then in message order."""
    d = message.delimiters
    header = _padded(message.msh.fields, _MSH_RULES.last)
    msh9 = header[9].partition(d.repetition)[0].split(d.component)
    message_type = msh9[0]
    issues = _header_issues(header, message_type, msh9[1] if len(msh9) > 1 else "", d)
    if message_type not in SUPPORTED_TYPES or (issues and any(issue.code in (200, 201) for issue in issues)):
        return issues
    layout = _layout(message, tuple(msh9[:3]), message.segment_names())
    issues.extend(layout.issues)
    segments = message.segments()
    for position, name, occurrence, rules in layout.checks:
        _segment_issues(name, occurrence, segments[position].fields, rules, d, issues)
    return issues


def _header_issues(fields: list[str], message_type: str, trigger: str, d: Delimiters) -> list[HL7Issue]:
    """MSH problems, given MSH's fields padded to ``_MSH_RULES.last``."""
    issues: list[HL7Issue] = []

    def at(field: int, component: int | None = None) -> HL7Location:
        return HL7Location("MSH", 1, field, None, component)

    if not _valued(message_type):
        issues.append(HL7Issue(101, "MSH-9.1 required field missing (message type)", at(9, 1)))
    elif message_type not in SUPPORTED_TYPES:
        issues.append(HL7Issue(200, "MSH-9.1 message type is not supported", at(9, 1)))
    elif message_type != "ACK":
        if not _valued(trigger):
            issues.append(HL7Issue(101, "MSH-9.2 required field missing (trigger event)", at(9, 2)))
        elif trigger not in TRIGGERS[message_type]:
            issues.append(HL7Issue(201, "MSH-9.2 trigger event is not supported for this type", at(9, 2)))
    if not _valued(fields[10]):
        issues.append(HL7Issue(101, "MSH-10 required field missing (message control id)", at(10)))
    processing = _first_component(fields[11], d)
    if not _valued(processing):
        issues.append(HL7Issue(101, "MSH-11 required field missing (processing id)", at(11)))
    elif processing not in PROCESSING_IDS:
        issues.append(HL7Issue(202, "MSH-11 processing id is not supported", at(11, 1)))
    version = _first_component(fields[12], d)
    if not _valued(version):
        issues.append(HL7Issue(101, "MSH-12 required field missing (version id)", at(12)))
    elif version not in SUPPORTED_VERSIONS:
        issues.append(HL7Issue(203, "MSH-12 version id is not supported", at(12, 1)))
    _segment_issues("MSH", 1, fields, _MSH_RULES, d, issues)
    return issues


def _layout(message: Message, msh9: tuple[str, ...], names: list[str]) -> _Layout:
    """The layout of a message, from the cache when seen before (see ``_layouts``)."""
    cacheable = len(names) <= _LAYOUT_CACHE_MAX_SEGMENTS
    if cacheable:
        # CR never occurs inside a segment, so the joined ids stand for the list unambiguously.
        key = (msh9, "\r".join(names))
        found = _layouts.get(key)
        if found is not None:
            return found
    bad_ids = [
        HL7Issue(100, f"segment {index} does not start with a valid segment id")
        for index, name in enumerate(names, start=1)
        if not _SEGMENT_ID.match(name)
    ]
    seen: dict[str, int] = {}
    checks = []
    for position, name in enumerate(names):
        rules = _RULES.get(name)
        if rules is not None:
            seen[name] = occurrence = seen.get(name, 0) + 1
            checks.append((position, name, occurrence, rules))
    found = _Layout((*bad_ids, *match_structure(message)[1]), tuple(checks))
    if cacheable and not bad_ids:
        if len(_layouts) >= _LAYOUT_CACHE_SIZE:
            _layouts.clear()
        _layouts[key] = found
    return found


def _segment_issues(
    name: str, occurrence: int, fields: list[str], rules: _SegmentRules, d: Delimiters, issues: list[HL7Issue]
) -> None:
    """Append the issues of one segment, given its field list (a copy: it is padded here).

    Every received message runs this on most of its segments, so the checks are written out
    inline rather than as one small function each (calls were half of the cost), and the usual
    case (one repetition holding a good value) is accepted before the loop over repetitions.
    """
    required, tables, timestamps, observation, last = rules
    if len(fields) <= last:
        _padded(fields, last)
    repetition, component = d.repetition, d.component
    blank = component + repetition + d.subcomponent
    for number in required:
        raw = fields[number]
        if raw == NULL or not raw.strip(blank):  # absent, empty, only delimiters, or the null
            location = HL7Location(name, occurrence, number)
            issues.append(HL7Issue(101, f"{location} required field missing", location))
    for number, table, allowed in tables:
        # Component 1 of each repetition.
        field_text = fields[number]
        if not field_text or (field_text.partition(component)[0] in allowed and repetition not in field_text):
            continue
        for rep_number, rep_text in enumerate(field_text.split(repetition), start=1):
            code = rep_text.partition(component)[0]
            if code not in allowed and code and code != NULL:
                location = HL7Location(name, occurrence, number, rep_number if rep_number > 1 else None, 1)
                issues.append(HL7Issue(103, f"{location} value is not in HL7 table {table}", location))
    for number in timestamps:
        stamp = fields[number].partition(repetition)[0].partition(component)[0]
        if stamp and stamp != NULL and not _is_dtm(stamp):
            location = HL7Location(name, occurrence, number, None, 1)
            issues.append(HL7Issue(102, f"{location} is not an HL7 date/time", location))
    if not observation:
        return
    # A valued OBX-5 needs OBX-2, and is a number when OBX-2 is NM.
    value = fields[5]
    if value == NULL or not value.strip(blank):
        return
    value_type = fields[2].partition(repetition)[0].partition(component)[0]
    if not value_type or value_type == NULL:
        location = HL7Location(name, occurrence, 2)
        issues.append(HL7Issue(101, f"{location} required field missing (OBX-5 is valued)", location))
    elif value_type == "NM" and not (repetition not in value and _is_number(value)):
        for rep_number, rep in enumerate(value.split(repetition), start=1):
            if rep and rep != NULL and not _is_number(rep):
                location = HL7Location(name, occurrence, 5, rep_number if rep_number > 1 else None)
                issues.append(HL7Issue(102, f"{location} is not a number (OBX-2 is NM)", location))
                break


def _padded(fields: list[str], last: int) -> list[str]:
    """A segment's field list (a copy) padded with empty fields up to ``last``: no check tells an
    absent field from an empty one, and the checks then index without bounds tests."""
    if len(fields) <= last:
        fields.extend([""] * (last + 1 - len(fields)))
    return fields


def _first_component(field_text: str, d: Delimiters) -> str:
    """Component 1 of the first repetition (what ``Segment.get("n.1")`` reads)."""
    return field_text.partition(d.repetition)[0].partition(d.component)[0]


# The _DTM and _NUMBER regexes cost more than all other checks of their field. The usual shapes
# (digits; digits and an offset; one decimal point) are recognised with str methods first, and only
# what those do not accept goes to the regex, which decides. (``isdecimal`` is exactly regex ``\d``:
# Unicode category Nd.)
_DTM_DIGITS = frozenset({4, 6, 8, 10, 12, 14})


def _is_dtm(stamp: str) -> bool:
    """HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]."""
    digits = stamp
    if len(stamp) > 5 and stamp[-5] in "+-" and stamp[-4:].isdecimal():
        digits = stamp[:-5]
    if len(digits) in _DTM_DIGITS and digits.isdecimal():
        return True
    return _DTM.match(stamp) is not None


def _is_number(text: str) -> bool:
    """An NM value: optional sign, digits with at most one decimal point, blanks around."""
    return text.replace(".", "", 1).isdecimal() or _NUMBER.match(text) is not None


def _valued(raw: str) -> bool:
    """True when a value carries data: not empty, not the HL7 null."""
    return bool(raw) and raw != NULL
