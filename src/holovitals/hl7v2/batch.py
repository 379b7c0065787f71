"""HL7 batch files: FHS [BHS {MSH...} BTS] FTS, or plain concatenated messages.

``split_messages`` only cuts the text, so a feed can parse each message on its own and record
a bad one as a failure without losing the rest; ``parse_batch`` parses everything at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from .delimiters import DEFAULT_DELIMITERS, Delimiters
from .errors import HL7Issue, HL7Location, HL7ParseError, HL7ValidationError
from .message import (
    Message,
    Segment,
    decode_message,
    format_timestamp,
    new_control_id,
    parse,
    split_segments,
)

_ENVELOPE = frozenset({"FHS", "BHS", "BTS", "FTS"})
_LEAD_WHITESPACE = " \t\r\n\ufeff"


@dataclass
class Batch:
    """One BHS ... BTS batch (header and trailer are None for messages outside any batch)."""

    header: Segment | None = None
    messages: list[Message] = field(default_factory=list)
    trailer: Segment | None = None

    @property
    def declared_count(self) -> int | None:
        """BTS-1, the message count the sender declared."""
        text = self.trailer.get(1) if self.trailer else None
        return int(text) if text and text.strip().isdigit() else None


@dataclass
class BatchFile:
    """A whole file: the FHS/FTS envelope (optional) and its batches."""

    header: Segment | None = None
    batches: list[Batch] = field(default_factory=list)
    trailer: Segment | None = None

    @property
    def messages(self) -> list[Message]:
        return [m for b in self.batches for m in b.messages]

    @property
    def declared_count(self) -> int | None:
        """FTS-1, the batch count the sender declared."""
        text = self.trailer.get(1) if self.trailer else None
        return int(text) if text and text.strip().isdigit() else None

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)


@dataclass
class _Piece:
    kind: str  # "FHS", "BHS", "BTS", "FTS" or "MSG"
    text: str


def _pieces(text: str) -> list[_Piece]:
    body = text.lstrip(_LEAD_WHITESPACE)
    if not body:
        raise HL7ParseError("batch is empty", code=100, location=HL7Location("MSH", 1))
    segments, terminators = split_segments(body)
    pieces: list[_Piece] = []
    current = False
    for index, (segment, term) in enumerate(zip(segments, terminators, strict=True)):
        name = segment[:3]
        if name in _ENVELOPE:
            current = False
            pieces.append(_Piece(name, segment))
        elif name == "MSH":
            current = True
            pieces.append(_Piece("MSG", segment + term))
        elif not current:
            raise HL7ParseError(f"segment {index + 1} comes before any MSH segment", code=100)
        else:
            pieces[-1].text += segment + term
    return pieces


def split_messages(text: str | bytes) -> list[str]:
    """The text of every message in a batch file or a run of concatenated messages."""
    if isinstance(text, bytes):
        text = decode_message(text)
    return [p.text for p in _pieces(text) if p.kind == "MSG"]


def iter_messages(text: str | bytes, *, strict: bool = False) -> Iterator[Message]:
    """Parse the messages of a batch one by one (a parse error stops at the bad message)."""
    for piece in split_messages(text):
        yield parse(piece, strict=strict)


def parse_batch(text: str | bytes, *, strict: bool = False) -> BatchFile:
    """Parse a batch file. Strict mode also checks envelope order and the BTS-1/FTS-1 counts."""
    if isinstance(text, bytes):
        text = decode_message(text)
    result = BatchFile()
    delimiters = DEFAULT_DELIMITERS
    issues: list[HL7Issue] = []
    batch: Batch | None = None
    for piece in _pieces(text):
        if piece.kind == "FHS":
            if result.header is not None or result.batches:
                issues.append(HL7Issue(100, "FHS segment is out of sequence", HL7Location("FHS", 2)))
            delimiters = Delimiters.from_header(piece.text)
            result.header = Segment(piece.text, delimiters)
        elif piece.kind == "BHS":
            batch = Batch(header=Segment(piece.text, Delimiters.from_header(piece.text)))
            result.batches.append(batch)
        elif piece.kind == "BTS":
            if batch is None:
                issues.append(HL7Issue(100, "BTS segment without a BHS", HL7Location("BTS", None)))
                batch = Batch()
                result.batches.append(batch)
            batch.trailer = Segment(piece.text, batch.header.delimiters if batch.header else delimiters)
            batch = None
        elif piece.kind == "FTS":
            result.trailer = Segment(piece.text, delimiters)
        else:
            if batch is None:
                batch = Batch()
                result.batches.append(batch)
            batch.messages.append(parse(piece.text, strict=strict))
    if strict:
        for number, item in enumerate(result.batches, start=1):
            if item.header is not None and item.trailer is None:
                issues.append(HL7Issue(100, f"batch {number} has no BTS segment", HL7Location("BTS", number)))
            declared = item.declared_count
            if declared is not None and declared != len(item.messages):
                issues.append(
                    HL7Issue(
                        102, f"BTS-1 of batch {number} does not match its message count", HL7Location("BTS", number, 1)
                    )
                )
        if result.declared_count is not None and result.declared_count != len(result.batches):
            issues.append(HL7Issue(102, "FTS-1 does not match the batch count", HL7Location("FTS", 1, 1)))
        if issues:
            raise HL7ValidationError(issues)
    return result


def build_batch(
    messages: Iterable[Message | str],
    *,
    sending_application: str = "HOLOVITALS",
    sending_facility: str = "",
    control_id: str | None = None,
    timestamp: datetime | None = None,
    with_file_header: bool = True,
) -> str:
    """An FHS/BHS/.../BTS/FTS file holding the messages, CR-terminated."""
    texts = [m.to_er7("\r") if isinstance(m, Message) else m.rstrip("\r\n") + "\r" for m in messages]
    d = DEFAULT_DELIMITERS
    stamp = format_timestamp(timestamp)
    ident = control_id or new_control_id()
    header_fields = [d.encoding_characters, sending_application, sending_facility, "", "", stamp, "", "", ident]
    out = []
    if with_file_header:
        out.append("FHS" + d.field + d.field.join(header_fields) + "\r")
    out.append("BHS" + d.field + d.field.join(header_fields) + "\r")
    out.extend(texts)
    out.append(f"BTS{d.field}{len(texts)}\r")
    if with_file_header:
        out.append(f"FTS{d.field}1\r")
    return "".join(out)
