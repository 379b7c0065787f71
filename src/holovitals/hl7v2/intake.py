"""What happens to one received frame before it is stored: decode, parse, validate, filter, convert.

Pure CPU and no I/O, so the listener can run it in its event loop or in worker processes, and a
reprocess runs exactly the same steps. The result says how to store the message (status, reason)
and carries the ACK to send once it is stored; the ACK never depends on the database, except for
a storage failure, which the pipeline answers itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from holovitals.logs import get_logger
from holovitals.store.resources import MAX_ID_LENGTH, IncomingResource, InvalidResource, parse_instant, patient_of

from .ack import ack_code, build_ack, build_reject, wants_ack
from .channels import FilterRule, passes
from .errors import HL7Error, HL7Issue, HL7Location, HL7ParseError, HL7ValidationError
from .message import CHARSETS, Message, _declared_charset, decode_message, parse
from .mllp import encode
from .validate import find_issues

log = get_logger(__name__)

RECEIVED = "RECEIVED"
FILTERED = "FILTERED"
ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class IntakeOptions:
    """The part of a channel intake needs (plain data)."""

    channel: str = "default"
    strict: bool = True
    rules: tuple[FilterRule, ...] = ()
    convert: bool = True


@dataclass(slots=True)
class Intake:
    """One received message, ready to store: header fields, status, reason, ACK, FHIR resources."""

    raw: str
    status: str  # RECEIVED, FILTERED or ERROR
    error: str | None = None
    control_id: str | None = None
    message_type: str | None = None
    version: str | None = None
    sending_application: str | None = None
    sending_facility: str | None = None
    patient_id: str | None = None
    ack: bytes | None = None  # framed; None when the sender asked for none
    ack_code: str | None = None  # the outcome's MSA-1 code, recorded even when no ACK is sent
    app_ack: str | None = None  # enhanced mode: MSH-16 (AL, ER, SU) when an application ACK is wanted
    resources: list[IncomingResource] | None = None
    conversion_error: str | None = None
    storable: bool = True  # False: not text at all; nothing is stored and the connection is closed
    log_reason: str | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        """The sender was (or would have been, under MSH-15 NE) told the message is accepted."""
        return self.ack_code in ("AA", "CA")


def intake(payload: bytes, options: IntakeOptions) -> Intake:
    """Everything we can decide about a frame without the database.

    The listener runs it twice over: without conversion before the ACK (``options.convert`` off),
    then ``convert_batch`` and ``settle`` once the message is stored; a reprocess runs it whole.
    It never raises: a frame our reader trips on is stored as ERROR and answered AR, like any
    other unreadable frame, and the frames received with it go on as usual.
    """
    try:
        return _intake(payload, options)
    except Exception as exc:
        log.error("hl7 intake crashed", error_type=type(exc).__name__)
        return _crashed(payload, exc)


def _intake(payload: bytes, options: IntakeOptions) -> Intake:
    if b"\x00" in payload:
        reason = "frame holds NUL bytes: binary data, not HL7 text"
        return Intake(raw="", status=ERROR, error=reason, storable=False, log_reason=reason)
    text = decode_message(payload)
    try:
        message = parse(text)
    except HL7ParseError as exc:
        return _unparsable(text, exc)
    item = _header(text, message)
    problem = _charset_problem(payload)
    if problem is not None:
        return _refused(item, message, problem)
    if options.strict:
        issues = [i for i in find_issues(message) if i.severity == "E"]
        if issues:
            return _refused(item, message, HL7ValidationError(issues))
    if not passes(options.rules, item.message_type or "", item.sending_facility or "", item.sending_application or ""):
        item.status = FILTERED
    _accept(item, message)
    if options.convert and item.status == RECEIVED:
        settle(item, convert_message(message))
    return item


#: A message's conversion: its resources, or why there are none.
Converted = tuple[list[IncomingResource] | None, str | None]


def convert_batch(texts: list[str]) -> list[Converted]:
    """The conversion half of intake for accepted messages' texts, in one call (one round trip to a worker)."""
    out: list[Converted] = []
    for text in texts:
        try:
            message = parse(text)
        except HL7ParseError as exc:  # accepted text parses; should it not, the message is kept, unconverted
            out.append((None, f"conversion failed: not an HL7 message: {exc.reason}"))
        else:
            out.append(convert_message(message))
    return out


def settle(item: Intake, converted: Converted) -> None:
    """Record a conversion on its message: the resources to store, or the error it is stored with."""
    item.resources, item.conversion_error = converted
    if item.conversion_error:
        item.status, item.error = ERROR, item.conversion_error


def convert_message(message: Message) -> tuple[list[IncomingResource] | None, str | None]:
    """FHIR resources for the store, or the reason there are none (value-free: it is logged and stored)."""
    try:
        from .to_fhir import convert
    except ImportError:
        return None, "FHIR conversion is not available in this installation"
    try:
        result = convert(message)
        return incoming_resources(result.resources), None
    except HL7Error as exc:
        return None, f"conversion failed: {exc}"
    except InvalidResource as exc:
        return None, f"conversion produced an invalid resource: {exc}"
    except Exception as exc:  # a converter bug must not lose the message: it stays stored for reprocess
        log.error("hl7 conversion crashed", error_type=type(exc).__name__)
        return None, f"conversion failed: internal error ({type(exc).__name__})"


def incoming_resources(resources: list[dict[str, Any]]) -> list[IncomingResource]:
    """``IncomingResource.from_dict`` of each converted resource, with what they share read once.

    Every resource of one message has the same meta.lastUpdated: parsing it once instead of per
    resource, and skipping the checks the converter's output always passes, took this from 64 to
    52 us for a typical ADT^A01 (11 resources). The resources also share that one datetime object,
    so pickling them back from a conversion worker writes it once (60 -> 33 us a message). Anything
    unusual goes through ``from_dict``.
    """
    out: list[IncomingResource] = []
    instants: dict[str, datetime] = {}
    sha256, dumps = hashlib.sha256, orjson.dumps
    for body in resources:
        meta = body.get("meta") if body.__class__ is dict else None
        if meta.__class__ is not dict:
            out.append(IncomingResource.from_dict(body))
            continue
        rtype, rid, stamp = body.get("resourceType"), body.get("id"), meta.get("lastUpdated")  # type: ignore[union-attr]
        if (
            rtype.__class__ is not str
            or not rtype
            or rid.__class__ is not str
            or not rid
            or len(rid) > MAX_ID_LENGTH
            or stamp.__class__ is not str
            or meta.get("versionId") is not None  # type: ignore[union-attr]
        ):
            out.append(IncomingResource.from_dict(body))
            continue
        last_updated = instants.get(stamp)  # type: ignore[arg-type]
        if last_updated is None:
            last_updated = instants[stamp] = parse_instant(stamp, f"{rtype}/{rid} meta.lastUpdated")  # type: ignore[index]
        raw = dumps(body)
        # Positional, in field order (as ``_rebuild`` does): keywords cost 0.15 us a resource.
        out.append(
            IncomingResource(
                rtype,  # type: ignore[arg-type]  # resource_type
                rid,  # type: ignore[arg-type]  # resource_id
                raw.decode(),  # text
                sha256(raw).hexdigest(),  # content_hash
                None,  # version_id
                None,  # version_num
                last_updated,
                patient_of(body),  # patient_id
            )
        )
    return out


# ---------------------------------------------------------------- internals


def _header(text: str, message: Message) -> Intake:
    msh = message.msh
    message_type = msh.get("9.1") or None
    trigger = msh.get("9.2")
    if message_type and trigger:
        message_type = f"{message_type}^{trigger}"
    return Intake(
        raw=text,
        status=RECEIVED,
        control_id=_cap(message.control_id, 100),
        message_type=_cap(message_type, 20),
        version=_cap(message.version, 10),
        sending_application=_cap(msh.value("3.1"), 200),
        sending_facility=_cap(msh.value("4.1"), 200),
        patient_id=_cap(message.value("PID-3.1"), 100),
    )


def _cap(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


def _accept(item: Intake, message: Message) -> None:
    item.ack_code = ack_code(message, "accept")
    if wants_ack(message, "accept"):
        item.ack = encode(build_ack(message))
    if message.get("MSH-15") or message.get("MSH-16"):
        condition = message.get("MSH-16.1") or ""
        item.app_ack = condition if condition in ("AL", "ER", "SU") else None


def _refused(item: Intake, message: Message, error: HL7Error) -> Intake:
    item.status, item.error = ERROR, str(error)
    item.log_reason = f"refused: {error}"
    item.ack_code = ack_code(message, error.outcome)
    if wants_ack(message, error.outcome):
        item.ack = encode(build_ack(message, error=error))
    return item


def _unparsable(text: str, error: HL7ParseError) -> Intake:
    ack = build_reject(text, error)
    return Intake(
        raw=text,
        status=ERROR,
        error=f"not an HL7 message: {error.reason}",
        control_id=_cap(ack.get("MSA-2"), 100),
        ack=encode(ack),
        ack_code="AR",
        log_reason=f"unparsable: {error.reason}",
    )


def _crashed(payload: bytes, exc: Exception) -> Intake:
    reason = f"message could not be read (internal error: {type(exc).__name__})"
    try:
        item = _unparsable(payload.decode("latin-1"), HL7ParseError(reason, code=207))
    except Exception:  # not even a reject can be built: close the connection, as for binary data
        return Intake(raw="", status=ERROR, error=reason, storable=False, log_reason=reason)
    item.error, item.log_reason = reason, reason
    return item


_UTF8 = {"utf-8"}


def _charset_problem(payload: bytes) -> HL7Error | None:
    """Bytes that break the character set MSH-18 declares (UTF-8 here: the one that can be checked)."""
    if CHARSETS.get(_declared_charset(payload)) not in _UTF8:
        return None
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _EncodingError(f"message is not valid UTF-8 as MSH-18 declares (byte {exc.start})")
    return None


class _EncodingError(HL7Error):
    code = 102
    outcome = "reject"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.location = HL7Location("MSH", 1, 18)

    @property
    def issues(self) -> list[HL7Issue]:
        return [HL7Issue(102, str(self), self.location)]
