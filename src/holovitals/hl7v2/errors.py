"""Typed HL7 v2 errors that carry what the receiver needs to answer the sender.

Every error knows its HL7 table 0357 code and, where it can, the location of the problem, so the
MLLP server builds the NAK from the exception alone, without string matching. Error text names
locations (``PID-3``), never values: these messages end up in logs and ACKs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

#: HL7 table 0357, message error condition codes.
ERROR_CODES: dict[int, str] = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    104: "Value too long",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}

#: The 2xx codes reject the message as a whole (AR/CR); the 1xx codes are errors in its content (AE/CE).
REJECT_CODES = frozenset({200, 201, 202, 203})

Outcome = Literal["accept", "error", "reject"]


@dataclass(frozen=True, slots=True)
class HL7Location:
    """Where in a message a problem is, in HL7 ERL terms (all numbers 1-based)."""

    segment: str
    sequence: int | None = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        text = self.segment
        if self.sequence not in (None, 1):
            text += f"({self.sequence})"
        if self.field is not None:
            text += f"-{self.field}"
            if self.repetition not in (None, 1):
                text += f"({self.repetition})"
            if self.component is not None:
                text += f".{self.component}"
                if self.subcomponent is not None:
                    text += f".{self.subcomponent}"
        return text


@dataclass(frozen=True, slots=True)
class HL7Issue:
    """One problem found in a message: table 0357 code, a value-free message, and its location."""

    code: int
    message: str
    location: HL7Location | None = None
    severity: Literal["E", "W", "I"] = "E"

    @property
    def code_text(self) -> str:
        return ERROR_CODES.get(self.code, "Application error")

    def __str__(self) -> str:
        return self.message


class HL7Error(Exception):
    """Base of every HL7 v2 error raised by this package."""

    code: int = 207
    location: HL7Location | None = None
    #: What the acknowledgement should say: "error" (AE/CE) or "reject" (AR/CR).
    outcome: Outcome = "error"

    @property
    def issues(self) -> list[HL7Issue]:
        return [HL7Issue(self.code, str(self), self.location)]


class HL7ParseError(HL7Error, ValueError):
    """The text is not an HL7 v2 message we can read at all (garbage, broken MSH, bad delimiters).

    The receiver cannot trust anything in it, so the answer is always a reject (AR).
    """

    outcome: Outcome = "reject"

    def __init__(self, reason: str, *, code: int = 100, location: HL7Location | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.location = location


class HL7ValidationError(HL7Error, ValueError):
    """A readable message broke the rules of its type (strict mode); carries every issue found."""

    def __init__(self, issues: Iterable[HL7Issue]) -> None:
        self._issues = list(issues)
        if not self._issues:
            raise ValueError("HL7ValidationError needs at least one issue")
        first = self._issues[0]
        self.code = first.code
        self.location = first.location
        self.outcome = "reject" if any(i.code in REJECT_CODES for i in self._issues) else "error"
        super().__init__("; ".join(str(i) for i in self._issues))

    @property
    def issues(self) -> list[HL7Issue]:
        return list(self._issues)
