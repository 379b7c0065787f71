"""HL7 v2 acknowledgements: build them for received messages, read them on the client side.

Original mode answers AA/AE/AR. When the sender fills MSH-15 or MSH-16 it asks for enhanced
mode, and the receiver's ACK on storing the message is a commit ACK: CA/CE/CR. MSA-2 echoes the
received MSH-10; ERR says where and why, as ERR-2..ERR-8 from v2.5 on and as ERR-1 before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, NamedTuple

from .delimiters import DEFAULT_DELIMITERS, Delimiters
from .errors import ERROR_CODES, HL7Error, HL7Issue, HL7Location, HL7ParseError, Outcome
from .escape import escape
from .message import (
    Message,
    Segment,
    _version_tuple,
    decode_message,
    format_timestamp,
    new_control_id,
    parse,
    split_segments,
)

AckMode = Literal["original", "enhanced"]

ACK_CODES: dict[tuple[AckMode, Outcome], str] = {
    ("original", "accept"): "AA",
    ("original", "error"): "AE",
    ("original", "reject"): "AR",
    ("enhanced", "accept"): "CA",
    ("enhanced", "error"): "CE",
    ("enhanced", "reject"): "CR",
}
_OUTCOME_OF_CODE: dict[str, Outcome] = {code: outcome for (_, outcome), code in ACK_CODES.items()}
DEFAULT_VERSION = "2.5.1"


class AckResult(NamedTuple):
    """What a received ACK says: MSA-1, MSA-2 and the best human-readable text in it."""

    code: str
    control_id: str | None
    text: str | None

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def ack_mode(message: Message) -> AckMode:
    """Enhanced mode when the sender valued MSH-15 or MSH-16, original mode otherwise."""
    return _mode(message.msh.fields)


def ack_code(message: Message, outcome: Outcome) -> str:
    """The MSA-1 code for an outcome in the mode the sender asked for (AA/AE/AR or CA/CE/CR)."""
    return ACK_CODES[(ack_mode(message), outcome)]


def wants_ack(message: Message, outcome: Outcome = "accept") -> bool:
    """Whether the sender wants an ACK for this outcome (MSH-15: AL always, NE never, ER on
    errors only, SU on success only; an empty MSH-15 in enhanced mode counts as AL)."""
    if ack_mode(message) == "original":
        return True
    condition = message.get("MSH-15.1") or "AL"
    if condition == "NE":
        return False
    if condition == "ER":
        return outcome != "accept"
    if condition == "SU":
        return outcome == "accept"
    return True


def build_ack(
    received: Message,
    outcome: Outcome | str | None = None,
    *,
    text: str | None = None,
    error: HL7Error | None = None,
    issues: Iterable[HL7Issue] = (),
    control_id: str | None = None,
    timestamp: datetime | None = None,
    sending_application: str | None = None,
    sending_facility: str | None = None,
) -> Message:
    """The ACK for a received message.

    ``outcome`` is "accept", "error" or "reject" (turned into AA/AE/AR or CA/CE/CR by the mode
    the sender asked for) or an explicit MSA-1 code. Given an ``error``, the outcome, text and
    ERR segments come from it, so ``build_ack(msg, error=exc)`` is the whole NAK.
    """
    all_issues = list(issues)
    if error is not None:
        all_issues = error.issues + all_issues
        outcome = outcome or error.outcome
        text = text if text is not None else str(error)
    outcome = outcome or "accept"
    header = received.msh.fields
    mode = _mode(header)
    if outcome in _OUTCOME_OF_CODE:
        code = outcome
    elif outcome in ("accept", "error", "reject"):
        code = ACK_CODES[(mode, outcome)]  # type: ignore[index]
    else:
        raise ValueError("outcome is accept, error, reject or an HL7 table 0008 code")
    return _build(
        header,
        received.delimiters,
        code,
        text,
        all_issues,
        control_id=control_id,
        timestamp=timestamp,
        sending_application=sending_application,
        sending_facility=sending_facility,
        enhanced=mode == "enhanced",
    )


def build_reject(
    raw: str | bytes,
    reason: HL7ParseError | str,
    *,
    version: str | None = None,
    control_id: str | None = None,
    timestamp: datetime | None = None,
    sending_application: str | None = None,
    sending_facility: str | None = None,
) -> Message:
    """An AR for input that could not be parsed.

    Whatever MSH header can still be read (sender, control id, version) is used so the sender
    can match the reject; otherwise MSA-2 stays empty. The raw content never goes into the ACK.
    """
    if isinstance(reason, HL7ParseError):
        issues = reason.issues
        text = reason.reason
    else:
        text = reason
        issues = [HL7Issue(100, reason, HL7Location("MSH", 1))]
    delimiters, msh = _salvage_header(raw)
    if msh is None:
        msh = Segment("MSH" + DEFAULT_DELIMITERS.field + DEFAULT_DELIMITERS.encoding_characters)
        delimiters = DEFAULT_DELIMITERS
    if version:
        msh.set(12, version, escape=False)
    return _build(
        msh.fields,
        delimiters,
        "AR",
        text,
        issues,
        control_id=control_id,
        timestamp=timestamp,
        sending_application=sending_application,
        sending_facility=sending_facility,
        enhanced=False,
    )


def parse_ack(text: str | bytes) -> AckResult:
    """Read an ACK: (MSA-1 code, MSA-2 control id, text from MSA-3 or ERR-8, ERR-3.2, ERR-1).

    Raises HL7ParseError when the text is not an HL7 message or has no MSA-1.
    """
    message = parse(text)
    msa = message.segment("MSA")
    if msa is None:
        raise HL7ParseError("acknowledgement has no MSA segment", code=100, location=HL7Location("MSA", None))
    code = msa.value(1)
    if not code:
        raise HL7ParseError("MSA-1 required field missing", code=101, location=HL7Location("MSA", 1, 1))
    detail = msa.value(3) or None
    if detail is None:
        for err in message.segments("ERR"):
            detail = err.value(8) or err.value("3.2") or err.value("1.4.2") or None
            if detail:
                break
    return AckResult(code, msa.value(2) or None, detail)


# -- internals --------------------------------------------------------------------------------


def _mode(header: list[str]) -> AckMode:
    """The mode asked for by a received MSH, given as its field list."""
    return "enhanced" if any(header[15:17]) else "original"


#: The received MSH fields an ACK reads: up to MSH-18 (shorter headers are padded with empties).
_LAST_HEADER_FIELD = 18


def _build(
    header: list[str],
    d: Delimiters,
    code: str,
    text: str | None,
    issues: list[HL7Issue],
    *,
    control_id: str | None,
    timestamp: datetime | None,
    sending_application: str | None,
    sending_facility: str | None,
    enhanced: bool,
) -> Message:
    """The ACK's text, built from the received MSH's field list in one pass.

    Every accepted message gets one, so it is joined as text rather than built with
    ``Message.set`` and ``add_segment``, whose Segment objects were then re-read to be sent:
    17 -> 8 us an ADT^A01's ACK with ``mllp.encode`` (2 of them the fresh control id).
    """
    if len(header) <= _LAST_HEADER_FIELD:
        header = header + [""] * (_LAST_HEADER_FIELD + 1 - len(header))
    version_field = header[12] or DEFAULT_VERSION
    version = _version_tuple(header[12].partition(d.repetition)[0].partition(d.component)[0] or DEFAULT_VERSION)
    msh9 = header[9].partition(d.repetition)[0].split(d.component)
    trigger = msh9[1] if len(msh9) > 1 else ""
    message_type = d.component.join(["ACK", trigger, "ACK"] if version >= (2, 3, 1) else ["ACK", trigger])
    if message_type.endswith(d.component):
        message_type = "ACK"
    no_ack_back = "NE" if enhanced else ""  # MSH-15/16 of a commit ACK: it asks for no ACK itself
    fields = [  # index n holds MSH-(n + 1)
        "MSH",
        d.encoding_characters,
        escape(sending_application, d) if sending_application is not None else header[5],
        escape(sending_facility, d) if sending_facility is not None else header[6],
        header[3],  # MSH-5, -6: back to the sender
        header[4],
        format_timestamp(timestamp),
        "",
        message_type,
        # A fresh id is 20 hex digits, which no usable delimiter set needs escaped.
        escape(control_id, d) if control_id else new_control_id(),
        header[11] or "P",
        version_field,
        "",
        "",
        no_ack_back,
        no_ack_back,
        "",
        header[18],
    ]
    while not fields[-1]:  # MSH ends at its last valued field
        fields.pop()
    msa = ["MSA", code, header[10], escape(text, d)] if text else ["MSA", code, header[10]]
    segments = [d.field.join(fields), d.field.join(msa)]

    if code not in ("AA", "CA") and not issues:
        issues = [HL7Issue(207, text or ERROR_CODES[207])]
    if issues:
        if version >= (2, 5):
            segments.extend(d.field.join(["ERR", *_err_fields(issue, d)]) for issue in issues)
        else:
            segments.append(d.field.join(["ERR", d.repetition.join(_eld(issue, d) for issue in issues)]))
    return Message(segments, d, ["\r"] * len(segments))


def _err_fields(issue: HL7Issue, d: Delimiters) -> list[str]:
    """ERR-1 .. ERR-8 of a v2.5+ ERR segment."""
    location = _erl(issue.location, d) if issue.location else ""
    error_code = d.component.join([str(issue.code), escape(issue.code_text, d), "HL70357"])
    return ["", location, error_code, issue.severity, "", "", "", escape(issue.message, d)]


def _erl(location: HL7Location, d: Delimiters) -> str:
    parts = [
        location.segment,
        location.sequence,
        location.field,
        location.repetition,
        location.component,
        location.subcomponent,
    ]
    if location.field is not None and location.repetition is None and location.component is not None:
        parts[3] = 1  # ERL-4 is needed to reach ERL-5
    text = [escape(str(p), d) if p is not None else "" for p in parts]
    while text and not text[-1]:
        text.pop()
    return d.component.join(text)


def _eld(issue: HL7Issue, d: Delimiters) -> str:
    """One ERR-1 repetition (ELD, before v2.5): segment^sequence^field^code&text&HL70357."""
    loc = issue.location
    parts = [loc.segment if loc else "", str(loc.sequence or "") if loc else "", str(loc.field or "") if loc else ""]
    parts.append(d.subcomponent.join([str(issue.code), escape(issue.code_text, d), "HL70357"]))
    return d.component.join(escape(p, d) if i < 3 else p for i, p in enumerate(parts))


def _salvage_header(raw: str | bytes) -> tuple[Delimiters, Segment | None]:
    text = decode_message(raw) if isinstance(raw, bytes) else raw
    text = text.lstrip(" \t\r\n\ufeff\x0b")
    if not text.startswith("MSH"):
        return DEFAULT_DELIMITERS, None
    first = split_segments(text)[0][0]
    try:
        delimiters = Delimiters.from_header(first)
    except HL7ParseError:
        return DEFAULT_DELIMITERS, None
    return delimiters, Segment(first, delimiters)
