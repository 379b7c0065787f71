"""Why a message could not be converted, typed so the MLLP channel answers without string matching.

Both are ``HL7Error``s: ``build_ack(msg, error=exc)`` turns them into the NAK. Texts name segments
and fields (``PID-3``), never values, because they end up in logs, ACKs and failure records.
"""

from __future__ import annotations

from ..errors import HL7Error, HL7Location, Outcome


class UnsupportedMessage(HL7Error, ValueError):
    """No mapping for this message type or trigger event: the sender gets a reject (AR/CR).

    Table 0357 code 200 (type) or 201 (trigger event) tells the sender not to resend it to us.
    """

    outcome: Outcome = "reject"

    def __init__(self, message_type: str | None, trigger_event: str | None = None) -> None:
        self.message_type = message_type or ""
        self.trigger_event = trigger_event or ""
        known_type = bool(message_type) and message_type in _SUPPORTED_TYPES
        self.code = 201 if known_type else 200
        self.location = HL7Location("MSH", 1, 9, None, 2 if known_type else 1)
        label = "^".join(p for p in (self.message_type, self.trigger_event) if p) or "(none)"
        what = "trigger event" if known_type else "message type"
        super().__init__(f"unsupported {what} for FHIR conversion: {label}")


class ConversionError(HL7Error, ValueError):
    """The message is of a supported type but lacks what the mapping needs (AE/CE: fix and resend)."""

    outcome: Outcome = "error"

    def __init__(self, reason: str, *, location: HL7Location | None = None, code: int = 101) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.location = location


def missing(segment: str, field: int | None = None, what: str | None = None) -> ConversionError:
    """The error for a required segment or field that is absent or empty."""
    if field is None:
        return ConversionError(f"required {segment} segment missing", location=HL7Location(segment, None), code=100)
    label = f"{segment}-{field}" + (f" ({what})" if what else "")
    return ConversionError(f"required field {label} missing", location=HL7Location(segment, 1, field))


_SUPPORTED_TYPES = frozenset({"ADT", "ORM", "ORU", "SIU", "MDM"})
