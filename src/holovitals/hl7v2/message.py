"""ER7 (pipe-delimited) HL7 v2 messages: parse, read by terse path, edit, build.

Parsing is lazy because it is the hot path of every feed: segments are split when the message
is parsed, a segment's fields when one of them is first read, and repetitions, components and
subcomponents only on the read that needs them. The raw text of every untouched segment and
every segment terminator is kept, so ``str(parse(text)) == text`` holds for any message we accept,
and setting a field rewrites that field only.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from .delimiters import DEFAULT_DELIMITERS, HEADER_SEGMENTS, Delimiters
from .errors import HL7Location, HL7ParseError
from .escape import escape as _escape
from .escape import unescape as _unescape
from .paths import FieldPath, _field_cache, _path_cache, parse_field_path, parse_path
from .structures import structure_for

#: The HL7 null: a field sent as ``""`` tells the receiver to delete the value it holds.
NULL = '""'

_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_MIXED_TERMINATORS = re.compile(r"(\r\n|\r)")
_LEAD_WHITESPACE = " \t\r\n\ufeff"

#: MSH-18 (HL7 table 0211) to Python codec.
CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin-1",
    "ISO IR100": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "ISO IR192": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc-kr",
    "BIG-5": "big5",
    "ISO IR87": "iso2022_jp",
}

ValueSpec = str | Sequence["str | Sequence[str | None] | None"] | None


class Repetition:
    """One occurrence of a field: its components and subcomponents, read on demand.

    A read-only view of the text it was made from: to change a value, ``set`` it on the segment
    and read the repetition again.
    """

    __slots__ = ("_components", "delimiters", "raw")

    def __init__(self, raw: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> None:
        self.raw = raw
        self.delimiters = delimiters
        # Split into components on the first component read, then indexed: readers take several
        # components of one repetition (a CX for its value, type and assigning authority), and
        # re-splitting the text on every read was the converter's largest single cost.
        self._components: list[str] | None = None

    def get(self, component: int | None = None, subcomponent: int | None = None) -> str | None:
        """Raw text of a component (or subcomponent); None when the sender did not send that far."""
        if component is None:
            return self.raw
        comps = self._components
        if comps is None:
            comps = self._components = self.raw.split(self.delimiters.component)
        if component > len(comps):
            return None
        text = comps[component - 1]
        if subcomponent is None:
            return text
        subs = text.split(self.delimiters.subcomponent)
        return subs[subcomponent - 1] if subcomponent <= len(subs) else None

    def raw_components(self) -> list[str]:
        """Raw text of every component, split once and cached: read it, do not modify it."""
        comps = self._components
        if comps is None:
            comps = self._components = self.raw.split(self.delimiters.component)
        return comps

    def value(self, component: int | None = None, subcomponent: int | None = None) -> str | None:
        """Unescaped value; the HL7 null ``""`` reads as an empty string (see ``is_null``)."""
        return _decoded(self.get(component, subcomponent), self.delimiters)

    def is_null(self, component: int | None = None, subcomponent: int | None = None) -> bool:
        return self.get(component, subcomponent) == NULL

    @property
    def components(self) -> list[str]:
        return self.raw.split(self.delimiters.component)

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"<Repetition with {len(self.components)} components>"


class Segment:
    """One segment. Fields are numbered as in the standard: ``fields[0]`` is the segment name,
    and for MSH/BHS/FHS field 1 is the field separator itself, field 2 the encoding characters."""

    __slots__ = ("_delims", "_fields", "_raw", "name")

    def __init__(self, raw: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> None:
        self._raw: str | None = raw
        self._delims = delimiters
        self._fields: list[str] | None = None
        # Segment ids are three characters; a line whose fourth is no field separator is not a
        # segment, and the validator says so.
        self.name = raw[:3]

    # -- reading ---------------------------------------------------------------------------

    @property
    def delimiters(self) -> Delimiters:
        return self._delims

    @property
    def raw(self) -> str:
        raw = self._raw
        if raw is None:
            fields = self._fields or []
            sep = self._delims.field
            if self.name in HEADER_SEGMENTS:
                raw = fields[0] + sep + sep.join(fields[2:])
            else:
                raw = sep.join(fields)
            self._raw = raw
        return raw

    @property
    def fields(self) -> list[str]:
        """Raw field texts, index = HL7 field number (a copy: edit through ``set``)."""
        return list(self._split())

    def _split(self) -> list[str]:
        fields = self._fields
        if fields is None:
            fields = self._raw.split(self._delims.field)  # type: ignore[union-attr]
            if self.name in HEADER_SEGMENTS:
                fields.insert(1, self._delims.field)
            self._fields = fields
        return fields

    def _read(self, field: int | None, rep: int | None, comp: int | None, sub: int | None) -> str | None:
        if field is None:
            return self.raw
        fields = self._fields
        if fields is None:
            fields = self._split()
        if field >= len(fields):
            return None
        text = fields[field]
        if rep is None and comp is None:
            return text
        if field <= 2 and self.name in HEADER_SEGMENTS:
            # MSH-1 and MSH-2 are the delimiters themselves: never split them.
            return text if rep in (None, 1) and comp in (None, 1) and sub in (None, 1) else None
        d = self._delims
        if rep is None or rep == 1:
            cut = text.find(d.repetition)
            if cut >= 0:
                text = text[:cut]
        else:
            reps = text.split(d.repetition)
            if rep > len(reps):
                return None
            text = reps[rep - 1]
        if comp is None:
            return text
        return _read_within(text, d, comp, sub)

    def _at_path(self, path: str | int) -> str | None:
        if path.__class__ is int and path > 0:  # a whole field, the most common read: no path to look up
            fields = self._fields or self._split()
            return fields[path] if path < len(fields) else None  # type: ignore[index,operator]
        p = _field_cache.get(path) or parse_field_path(path)
        return self._read(p[0], p[1], p[2], p[3])

    def get(self, path: str | int, default: str | None = None) -> str | None:
        """Raw text at an in-segment path (``5``, ``"5.1"``, ``"3(2).1"``); ``default`` when absent."""
        value = self._at_path(path)
        return default if value is None else value

    def __getitem__(self, path: str | int) -> str | None:
        return self.get(path)

    def value(self, path: str | int) -> str | None:
        """Unescaped value at an in-segment path; None when absent, ``""`` for the HL7 null."""
        return _decoded(self._at_path(path), self._delims)

    def component_value(self, field: int, component: int = 1) -> str | None:
        """``value("<field>.<component>")`` (first repetition) without a path to parse: the
        converter reads a component of a field 20-odd times a message (TS.1, CWE.1...)."""
        if field < 1 or component < 1:
            raise ValueError("HL7 path positions start at 1")
        return _decoded(self._read(field, 1, component, None), self._delims)

    def is_null(self, path: str | int) -> bool:
        return self.get(path) == NULL

    def repetitions(self, field: int) -> list[Repetition]:
        """Every occurrence of a repeating field (an empty list when the field is absent or empty)."""
        fields = self._fields
        if fields is None:
            fields = self._split()
        text = fields[field] if field < len(fields) else None
        if not text:
            return []
        d = self._delims
        if d.repetition not in text or (field <= 2 and self.name in HEADER_SEGMENTS):
            return [Repetition(text, d)]
        return [Repetition(r, d) for r in text.split(d.repetition)]

    def first_repetition(self, field: int) -> Repetition | None:
        """The first occurrence of a field; None when the field is absent or empty."""
        # Makes the first repetition only: the converter reads 40-odd fields' first repetition a
        # message, and going through ``repetitions`` (all of them, then index) cost twice this.
        fields = self._fields
        if fields is None:
            fields = self._split()
        if field >= len(fields):
            return None
        text = fields[field]
        if not text:
            return None
        d = self._delims
        cut = text.find(d.repetition)
        if cut >= 0 and not (field <= 2 and self.name in HEADER_SEGMENTS):
            text = text[:cut]
        return Repetition(text, d)

    def __len__(self) -> int:
        """Number of fields present after the segment name."""
        return len(self._split()) - 1

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        # Never the content: segments carry patient data and reprs end up in logs.
        name = self.name if _SEGMENT_NAME.match(self.name) else "?"
        return f"<Segment {name} with {len(self)} fields>"

    # -- writing ---------------------------------------------------------------------------

    def set(self, path: str | int | FieldPath, value: ValueSpec, *, escape: bool = True) -> None:
        """Set a field, repetition, component or subcomponent; everything else stays byte-identical.

        A string is one value (escaped unless ``escape=False``); a list gives the components of
        the target (or the subcomponents of a component), nested lists subcomponents.
        """
        p = path if isinstance(path, FieldPath) else parse_field_path(path)
        field, rep, comp, sub = p
        if field is None:
            raise ValueError("a field number is needed to set a value")
        if field <= 2 and self.name in HEADER_SEGMENTS:
            raise ValueError(f"{self.name}-1 and {self.name}-2 hold the delimiters and cannot be set")
        d = self._delims
        level = 3 if sub is not None else 2 if comp is not None else 1
        text = _encode(value, d, escape, level)
        fields = self._split()
        while len(fields) <= field:
            fields.append("")
        if rep is None and comp is None:
            fields[field] = text
        else:
            reps = _padded(fields[field].split(d.repetition), rep or 1)
            if comp is None:
                reps[(rep or 1) - 1] = text
            else:
                target = reps[(rep or 1) - 1]
                comps = _padded(target.split(d.component), comp)
                if sub is None:
                    comps[comp - 1] = text
                else:
                    subs = _padded(comps[comp - 1].split(d.subcomponent), sub)
                    subs[sub - 1] = text
                    comps[comp - 1] = d.subcomponent.join(subs)
                reps[(rep or 1) - 1] = d.component.join(comps)
            fields[field] = d.repetition.join(reps)
        self._raw = None

    def set_null(self, path: str | int) -> None:
        """Write the HL7 null ``""`` (tell the receiver to delete its value)."""
        self.set(path, NULL, escape=False)

    def __setitem__(self, path: str | int, value: ValueSpec) -> None:
        self.set(path, value)


class Message:
    """A parsed or built HL7 v2 message. Read with terse paths, write with ``set``."""

    __slots__ = ("_lead", "_names", "_segments", "_terminators", "delimiters")

    def __init__(
        self,
        segments: Sequence[Segment | str],
        delimiters: Delimiters = DEFAULT_DELIMITERS,
        terminators: list[str] | None = None,
        lead: str = "",
    ) -> None:
        self.delimiters = delimiters
        # Raw strings until first touched: most segments of a message are never read.
        self._segments: list[Segment | str] = list(segments)
        self._terminators = terminators if terminators is not None else ["\r"] * len(self._segments)
        self._lead = lead
        # Segment ids by position; list.index finds a segment at C speed, no dict to build.
        self._names = [item[:3] if isinstance(item, str) else item.name for item in self._segments]

    @classmethod
    def _parsed(cls, raws: list[str], delimiters: Delimiters, terminators: list[str], lead: str) -> Message:
        # The parse hot path: skip __init__'s copying and type checks, the lists are ours.
        message = cls.__new__(cls)
        message.delimiters = delimiters
        message._segments = raws  # type: ignore[assignment]
        message._terminators = terminators
        message._lead = lead
        message._names = [raw[:3] for raw in raws]
        return message

    # -- building --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        message_type: str,
        *,
        version: str = "2.5.1",
        sending_application: str = "HOLOVITALS",
        sending_facility: str = "",
        receiving_application: str = "",
        receiving_facility: str = "",
        control_id: str | None = None,
        timestamp: datetime | None = None,
        processing_id: str = "P",
        delimiters: Delimiters = DEFAULT_DELIMITERS,
        character_set: str | None = None,
        accept_ack_type: str | None = None,
        application_ack_type: str | None = None,
        segment_terminator: str = "\r",
    ) -> Message:
        """A new message holding only its MSH (fresh control id and timestamp unless given)."""
        msh = build_msh(
            message_type,
            version=version,
            sending_application=sending_application,
            sending_facility=sending_facility,
            receiving_application=receiving_application,
            receiving_facility=receiving_facility,
            control_id=control_id,
            timestamp=timestamp,
            processing_id=processing_id,
            delimiters=delimiters,
            character_set=character_set,
            accept_ack_type=accept_ack_type,
            application_ack_type=application_ack_type,
        )
        if segment_terminator not in ("\r", "\n", "\r\n"):
            raise ValueError("segment terminator must be \\r, \\n or \\r\\n")
        return cls([Segment(msh, delimiters)], delimiters, [segment_terminator])

    def add_segment(self, name: str, *fields: ValueSpec, escape: bool = True) -> Segment:
        """Append a segment; each argument is the value of the next field (escaped unless told not)."""
        if not _SEGMENT_NAME.match(name) or name in HEADER_SEGMENTS:
            raise ValueError(f"cannot add a segment named {name!r}")
        d = self.delimiters
        raw = name + "".join(d.field + _encode(f, d, escape, 1) for f in fields)
        return self._append(Segment(raw, d))

    def add_raw_segment(self, text: str) -> Segment:
        """Append a segment given as ER7 text in this message's delimiters (no escaping)."""
        if "\r" in text or "\n" in text:
            raise ValueError("a raw segment must not contain segment terminators")
        segment = Segment(text, self.delimiters)
        if not _SEGMENT_NAME.match(segment.name) or segment.name in HEADER_SEGMENTS:
            raise ValueError("raw segment does not start with a valid segment name")
        return self._append(segment)

    def remove_segment(self, segment: Segment) -> None:
        for i, candidate in enumerate(self._segments):
            if candidate is segment:
                if i == 0:
                    raise ValueError("the MSH segment cannot be removed")
                if i == len(self._segments) - 1:
                    self._terminators[i - 1] = self._terminators[i]
                del self._segments[i]
                del self._terminators[i]
                del self._names[i]
                return
        raise ValueError("segment is not part of this message")

    def _append(self, segment: Segment) -> Segment:
        terminators = self._terminators
        last = terminators[-1]
        terminators[-1] = self._terminator()
        terminators.append(last)
        self._segments.append(segment)
        self._names.append(segment.name)
        return segment

    def _terminator(self) -> str:
        for term in self._terminators:
            for candidate in ("\r\n", "\r", "\n"):
                if term.startswith(candidate):
                    return candidate
        return "\r"

    def set(self, path: str, value: ValueSpec, *, escape: bool = True) -> None:
        """Set the value at a terse path, appending the segment when it is the next occurrence."""
        p = _path_cache.get(path) or parse_path(path)
        if p.field is None:
            raise ValueError("a field number is needed to set a value")
        segment = self._find(p.segment, p.occurrence)
        if segment is None:
            have = len(self.segments(p.segment))
            if p.occurrence != have + 1:
                raise ValueError(f"cannot set {path}: the message has {have} {p.segment} segment(s)")
            segment = self.add_segment(p.segment)
        segment.set(p.in_segment, value, escape=escape)

    def set_null(self, path: str) -> None:
        """Write the HL7 null ``""`` at a path."""
        self.set(path, NULL, escape=False)

    def __setitem__(self, path: str, value: ValueSpec) -> None:
        self.set(path, value)

    # -- reading ---------------------------------------------------------------------------

    def _position(self, name: str, occurrence: int) -> int:
        names = self._names
        if name not in names:
            return -1
        position = names.index(name)
        for _ in range(occurrence - 1):
            try:
                position = names.index(name, position + 1)
            except ValueError:
                return -1
        return position

    def _at(self, position: int) -> Segment:
        item = self._segments[position]
        if isinstance(item, str):
            item = self._segments[position] = Segment(item, self.delimiters)
        return item

    def _find(self, name: str, occurrence: int) -> Segment | None:
        position = self._position(name, occurrence)
        return None if position < 0 else self._at(position)

    def get(self, path: str, default: str | None = None) -> str | None:
        """Raw text at a terse path (``"PID-5.1"``); ``default`` when the message does not have it."""
        p = _path_cache.get(path) or parse_path(path)
        name, occurrence, field, rep, comp, sub = p
        names = self._names
        if occurrence == 1:
            if name not in names:
                return default
            position = names.index(name)
        else:
            position = self._position(name, occurrence)
            if position < 0:
                return default
        segment = self._segments[position]
        if segment.__class__ is str:
            segment = self._at(position)
        value = segment._read(field, rep, comp, sub)  # type: ignore[union-attr]
        return default if value is None else value

    def __getitem__(self, path: str) -> str | None:
        return self.get(path)

    def value(self, path: str) -> str | None:
        """Unescaped value at a terse path; None when absent, ``""`` for the HL7 null."""
        return _decoded(self.get(path), self.delimiters)

    def is_null(self, path: str) -> bool:
        """True when the sender sent the HL7 null ``""`` (delete), as opposed to nothing."""
        return self.get(path) == NULL

    def unescape(self, text: str) -> str:
        return _unescape(text, self.delimiters)

    def escape(self, value: str) -> str:
        return _escape(value, self.delimiters)

    def segment(self, name: str, occurrence: int = 1) -> Segment | None:
        if occurrence == 1:  # the usual lookup, without the occurrence walk
            names = self._names
            return self._at(names.index(name)) if name in names else None
        return self._find(name, occurrence)

    def segments(self, name: str | None = None) -> list[Segment]:
        if name is None:
            return [self._at(i) for i in range(len(self._segments))]
        names = self._names
        count = names.count(name)  # at C speed; most lookups are for segments a message has not
        if count <= 1:
            return [self._at(names.index(name))] if count else []
        found = []
        for i, n in enumerate(names):  # a loop: a comprehension is one more call in 3.11
            if n == name:
                found.append(self._at(i))
        return found

    def segment_names(self) -> list[str]:
        """The id of every segment, in order (without making Segment objects of them)."""
        return list(self._names)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments())

    def __len__(self) -> int:
        return len(self._segments)

    @property
    def msh(self) -> Segment:
        return self._at(0)

    @property
    def message_type(self) -> str | None:
        return self.msh._read(9, 1, 1, None)

    @property
    def trigger_event(self) -> str | None:
        return self.msh._read(9, 1, 2, None)

    @property
    def structure(self) -> str | None:
        """Message structure id: MSH-9.3 when sent, else the standard one for type and trigger."""
        sent = self.msh._read(9, 1, 3, None)
        if sent:
            return sent
        return structure_for(self.message_type or "", self.trigger_event or "")

    @property
    def control_id(self) -> str | None:
        return self.msh._read(10, None, None, None)

    @property
    def processing_id(self) -> str | None:
        return self.msh._read(11, 1, 1, None)

    @property
    def version(self) -> str | None:
        return self.msh._read(12, 1, 1, None)

    def __str__(self) -> str:
        out = [self._lead]
        for item, term in zip(self._segments, self._terminators, strict=True):
            out.append(item if isinstance(item, str) else item.raw)
            out.append(term)
        return "".join(out)

    def to_er7(self, segment_terminator: str | None = None) -> str:
        """The message text; with a terminator given, every segment ends with exactly that one."""
        if segment_terminator is None:
            return str(self)
        return "".join(s.raw + segment_terminator for s in self.segments())

    def encode(self, encoding: str | None = None) -> bytes:
        """Bytes for the wire, in ``encoding`` or the MSH-18 character set (UTF-8 by default)."""
        if encoding is None:
            encoding = CHARSETS.get((self.msh._read(18, 1, None, None) or "").upper(), "utf-8")
        return str(self).encode(encoding)

    def __repr__(self) -> str:
        return (
            f"<Message {self.message_type}^{self.trigger_event} v{self.version} "
            f"control_id={self.control_id!r} segments={len(self._segments)}>"
        )


# -- parsing ---------------------------------------------------------------------------------


def parse(text: str | bytes, *, strict: bool = False, encoding: str | None = None) -> Message:
    """Parse one ER7 message.

    Lenient by default: anything with a readable MSH parses, and problems of content are left to
    ``validate``. With ``strict=True`` the message is also validated and HL7ValidationError is
    raised for missing required segments and fields, bad data types and unsupported types.
    Raises HL7ParseError (a ValueError) when the text is not an HL7 message at all.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = decode_message(bytes(text), encoding)
    elif not isinstance(text, str):
        raise TypeError("an HL7 message is str or bytes")
    if text.startswith("MSH"):
        lead = ""
    else:
        body = text.lstrip(_LEAD_WHITESPACE)
        if not body:
            raise HL7ParseError("message is empty", code=100, location=HL7Location("MSH", 1))
        lead = text[: len(text) - len(body)]
        text = body
        if not text.startswith("MSH"):
            if text[:3] in ("FHS", "BHS"):
                raise HL7ParseError(
                    f"input starts with {text[:3]}: it is a batch file, read it with parse_batch",
                    code=100,
                    location=HL7Location(text[:3], 1),
                )
            raise HL7ParseError("message does not start with an MSH segment", code=100, location=HL7Location("MSH", 1))
    raws, terminators = split_segments(text)
    delimiters = Delimiters.from_header(raws[0])
    message = Message._parsed(raws, delimiters, terminators, lead)
    if strict:
        from .validate import validate

        validate(message)
    return message


def split_segments(text: str) -> tuple[list[str], list[str]]:
    """Split ER7 text into segments and the exact terminator text after each.

    CR is the standard terminator; LF and CRLF are accepted from senders that use them. When a
    message mixes CR with bare LF, only CR ends a segment: a bare LF is then inside a value
    (free text pasted into OBX-5), and splitting on it would invent segments. Blank lines are
    kept in the terminator before them so the text round-trips.
    """
    if "\n" not in text:
        return _split_uniform(text.split("\r"), "\r")
    if "\r" not in text:
        return _split_uniform(text.split("\n"), "\n")
    if text.count("\r\n") == text.count("\r"):
        return _split_uniform(text.split("\r\n"), "\r\n")
    pieces = _MIXED_TERMINATORS.split(text)
    segments: list[str] = []
    terminators: list[str] = []
    for i in range(0, len(pieces), 2):
        part = pieces[i]
        after = pieces[i + 1] if i + 1 < len(pieces) else ""
        if (part and not part.isspace()) or not segments:
            segments.append(part)
            terminators.append(after)
        else:
            terminators[-1] += part + after
    return segments, terminators


def _split_uniform(parts: list[str], sep: str) -> tuple[list[str], list[str]]:
    tail = parts[-1]
    if len(parts) > 1 and (not tail or tail.isspace()):
        body = parts[:-1]
        if "" not in body and not any(map(str.isspace, body)):
            # The usual message: every segment followed by one terminator.
            terminators = [sep] * len(body)
            terminators[-1] = sep + tail
            return body, terminators
    elif "" not in parts and not any(map(str.isspace, parts)):
        terminators = [sep] * len(parts)
        terminators[-1] = ""
        return parts, terminators
    last = len(parts) - 1
    segments: list[str] = []
    terminators: list[str] = []
    for i, part in enumerate(parts):
        after = sep if i < last else ""
        if (part and not part.isspace()) or not segments:
            segments.append(part)
            terminators.append(after)
        else:
            terminators[-1] += part + after
    return segments, terminators


def decode_message(data: bytes, encoding: str | None = None) -> str:
    """Decode message bytes: the given encoding, else by MSH-18, UTF-8 and Windows-1252.

    Bytes that are valid UTF-8 are read as UTF-8 even when MSH-18 names a single-byte set:
    senders mislabel far more often than Latin-1 text happens to form valid UTF-8. Unlabelled
    bytes that are not UTF-8 nearly always turn out to be Windows-1252.
    """
    if encoding:
        return data.decode(encoding)
    declared = CHARSETS.get(_declared_charset(data))
    single_byte = declared is None or declared in ("ascii", "latin-1", "utf-8") or declared.startswith("iso8859")
    order = ["utf-8", declared, "cp1252"] if single_byte else [declared, "utf-8", "cp1252"]
    for codec in order:
        if codec:
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode("latin-1")


def _declared_charset(data: bytes) -> str:
    if not data.startswith(b"MSH") or len(data) < 4:
        return ""
    first = re.split(rb"[\r\n]", data, maxsplit=1)[0].decode("latin-1")
    if len(first) < 4:  # "MSH" alone on its line: no field separator, so no MSH-18
        return ""
    fields = first.split(first[3])
    if len(fields) < 18:
        return ""
    return fields[17].split(fields[1][1:2] or "~")[0].strip().upper()


# -- building --------------------------------------------------------------------------------


def new_control_id() -> str:
    """A fresh MSH-10: 20 characters, unique without coordination between workers."""
    return uuid.uuid4().hex[:20].upper()


def format_timestamp(moment: datetime | None = None) -> str:
    """HL7 DTM with seconds and UTC offset (``20240131142501+0000``)."""
    if moment is None:
        # Every ACK stamps "now": a listener makes thousands a second, so the text is made once
        # per second (3.3 -> 0.2 us; strftime is nearly all of it).
        global _now_stamp
        second = int(time.time())
        if _now_stamp[0] == second:
            return _now_stamp[1]
        stamped = datetime.fromtimestamp(second, UTC).strftime("%Y%m%d%H%M%S%z")
        _now_stamp = (second, stamped)
        return stamped
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.strftime("%Y%m%d%H%M%S%z")


_now_stamp: tuple[int, str] = (-1, "")


def build_msh(
    message_type: str,
    *,
    version: str = "2.5.1",
    sending_application: str = "HOLOVITALS",
    sending_facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    control_id: str | None = None,
    timestamp: datetime | None = None,
    processing_id: str = "P",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    character_set: str | None = None,
    accept_ack_type: str | None = None,
    application_ack_type: str | None = None,
) -> str:
    """The text of an MSH segment.

    ``message_type`` is ``"ADT^A01"`` or ``"ADT^A01^ADT_A01"`` written with ``^``; the structure
    is filled in from the trigger for v2.3.1 and later. Application and facility arguments are
    ER7 text (an HD may carry components: ``"LAB^1.2.3^ISO"``), written with ``^`` and ``&``.
    """
    d = delimiters
    parts = message_type.split("^")
    if len(parts) == 2 and _version_tuple(version) >= (2, 3, 1):
        structure = structure_for(parts[0], parts[1])
        if structure:
            parts.append(structure)
    if d.truncation and _version_tuple(version) < (2, 7):
        raise ValueError("the truncation character exists from HL7 v2.7 on")
    values = {
        3: sending_application,
        4: sending_facility,
        5: receiving_application,
        6: receiving_facility,
        7: format_timestamp(timestamp),
        9: d.component.join(parts),
        10: control_id or new_control_id(),
        11: processing_id,
        12: version,
        15: accept_ack_type or "",
        16: application_ack_type or "",
        18: character_set or "",
    }
    last = max(k for k, v in values.items() if v)
    fields = ["MSH", d.encoding_characters]
    for number in range(3, last + 1):
        text = _to_delimiters(values.get(number, ""), d)
        if d.field in text or "\r" in text or "\n" in text:
            raise ValueError(f"MSH-{number} must not contain a field separator or line break")
        fields.append(text)
    return d.field.join(fields)


def _to_delimiters(text: str, d: Delimiters) -> str:
    if d.component == "^" and d.subcomponent == "&":
        return text
    return text.replace("^", d.component).replace("&", d.subcomponent)


@lru_cache(maxsize=64)
def _version_tuple(version: str | None) -> tuple[int, ...]:
    numbers = []
    for part in (version or "").split("^")[0].split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


# -- helpers -----------------------------------------------------------------------------------


def _read_within(text: str, d: Delimiters, comp: int | None, sub: int | None) -> str | None:
    if comp is None:
        return text
    if comp == 1:
        if d.component in text:
            text = text[: text.index(d.component)]
    else:
        comps = text.split(d.component)
        if comp > len(comps):
            return None
        text = comps[comp - 1]
    if sub is None:
        return text
    if sub == 1:
        return text[: text.index(d.subcomponent)] if d.subcomponent in text else text
    subs = text.split(d.subcomponent)
    return subs[sub - 1] if sub <= len(subs) else None


def _decoded(raw: str | None, d: Delimiters) -> str | None:
    if raw is None:
        return None
    if raw == NULL:
        return ""
    # Most values hold no escape character: skip the call (a third of the cost of a short read).
    return _unescape(raw, d) if d.escape in raw else raw


def _padded(items: list[str], length: int) -> list[str]:
    if len(items) < length:
        items.extend([""] * (length - len(items)))
    return items


def _encode(value: ValueSpec, d: Delimiters, escape: bool, level: int) -> str:
    """Text for a value written at a level (1 field/repetition, 2 component, 3 subcomponent)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _escape(value, d) if escape else value
    if level >= 3:
        raise ValueError("a subcomponent holds a single value, not a list")
    joiner = d.component if level == 1 else d.subcomponent
    return joiner.join(_encode(item, d, escape, level + 1) for item in value)
