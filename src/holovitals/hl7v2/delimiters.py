"""The delimiter set of an ER7 message, read from MSH-1 and MSH-2."""

from __future__ import annotations

from typing import NamedTuple

from .errors import HL7Location, HL7ParseError

HEADER_SEGMENTS = frozenset({"MSH", "BHS", "FHS"})
_FORBIDDEN = frozenset("\r\n\t ")


class Delimiters(NamedTuple):
    """Field separator (MSH-1) and encoding characters (MSH-2, in their MSH-2 order)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    #: v2.7+ truncation character (usually ``#``); None when MSH-2 has only four characters.
    truncation: str | None = None

    @property
    def encoding_characters(self) -> str:
        """The MSH-2 value for this set."""
        return self.component + self.repetition + self.escape + self.subcomponent + (self.truncation or "")

    @classmethod
    def from_header(cls, segment: str) -> Delimiters:
        """Read the delimiters from the start of an MSH, BHS or FHS segment.

        Raises HL7ParseError when the separators are missing, repeated or unusable: guessing
        delimiters for a broken header silently garbles every field after it.
        """
        if segment.startswith("MSH|^~\\&|"):
            return DEFAULT_DELIMITERS
        name = segment[:3]
        if len(segment) < 4:
            raise HL7ParseError(
                f"{name} segment is truncated before the field separator", code=101, location=HL7Location(name, 1, 1)
            )
        sep = segment[3]
        if sep.isalnum() or sep in _FORBIDDEN or not sep.isprintable():
            raise HL7ParseError(
                f"{name}-1 field separator is not a usable delimiter", code=102, location=HL7Location(name, 1, 1)
            )
        end = segment.find(sep, 4)
        if end < 0:
            raise HL7ParseError(
                f"{name} segment is truncated after the encoding characters", code=101, location=HL7Location(name, 1, 2)
            )
        chars = segment[4:end]
        if len(chars) not in (4, 5):
            raise HL7ParseError(
                f"{name}-2 must hold 4 or 5 encoding characters", code=102, location=HL7Location(name, 1, 2)
            )
        if len(set(chars + sep)) != len(chars) + 1:
            raise HL7ParseError(
                f"{name}-2 encoding characters repeat a delimiter", code=102, location=HL7Location(name, 1, 2)
            )
        for ch in chars:
            if ch.isalnum() or ch in _FORBIDDEN or not ch.isprintable():
                raise HL7ParseError(
                    f"{name}-2 encoding characters include an unusable delimiter",
                    code=102,
                    location=HL7Location(name, 1, 2),
                )
        return cls(sep, chars[0], chars[1], chars[2], chars[3], chars[4] if len(chars) == 5 else None)


DEFAULT_DELIMITERS = Delimiters()
