"""HL7 v2 TS/DTM/DT values as FHIR date, dateTime and instant, keeping the sender's precision.

v2 lets a timestamp stop at any precision (``2024``, ``202403021415``) and leave out the UTC
offset; FHIR's dateTime needs seconds and an offset once there is a time, and an instant needs
both always. The v2 rule for a missing offset is "the sender's time zone", so the converter passes
the zone it knows (configured for the channel, else MSH-7's own offset, else UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

_DTM = re.compile(r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?([+-]\d{4})?$")


@dataclass(frozen=True, slots=True)
class V2Time:
    """A parsed v2 timestamp; parts the sender left out are None."""

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    fraction: str | None = None
    offset: timedelta | None = None

    @property
    def has_time(self) -> bool:
        return self.hour is not None

    def naive(self) -> datetime:
        return datetime(self.year, self.month or 1, self.day or 1, self.hour or 0, self.minute or 0, self.second or 0)


# Cached: a V2Time is immutable, and building one (a frozen dataclass, a date check) costs 5.7 us.
@lru_cache(maxsize=4096)
def parse_dtm(text: str | None) -> V2Time | None:
    """Read ``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``; None for anything else or impossible dates."""
    if not text:
        return None
    match = _DTM.match(text.strip())
    if match is None:
        return None
    y, mo, d, h, mi, s, frac, off = match.groups()
    offset = None
    if off:
        hours, minutes = int(off[1:3]), int(off[3:5])
        if hours > 14 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if off[0] == "-" else 1)
    value = V2Time(
        int(y),
        int(mo) if mo else None,
        int(d) if d else None,
        int(h) if h else None,
        int(mi) if mi else None,
        int(s) if s else None,
        frac,
        offset,
    )
    try:
        value.naive()
    except ValueError:
        return None
    return value


def offset_of(value: V2Time, zone: tzinfo) -> timedelta:
    """The UTC offset that applies to a timestamp: its own, else the zone's at that moment (DST-aware)."""
    if value.offset is not None:
        return value.offset
    return value.naive().replace(tzinfo=zone).utcoffset() or timedelta(0)


def format_offset(offset: timedelta) -> str:
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def to_date(value: V2Time) -> str:
    """FHIR date at the sender's precision (a time part is dropped: birth dates, DT fields)."""
    if value.month is None:
        return f"{value.year:04d}"
    if value.day is None:
        return f"{value.year:04d}-{value.month:02d}"
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def to_datetime(value: V2Time, zone: tzinfo = UTC) -> str:
    """FHIR dateTime: date precision stays a date; a time gets seconds and an offset."""
    if not value.has_time:
        return to_date(value)
    return _with_time(value, zone)


def to_instant(value: V2Time, zone: tzinfo = UTC) -> str | None:
    """FHIR instant (seconds and offset always); None below day precision, which is no instant."""
    if value.day is None:
        return None
    return _with_time(value, zone)


def _with_time(value: V2Time, zone: tzinfo) -> str:
    text = f"{to_date(value)}T{value.hour or 0:02d}:{value.minute or 0:02d}:{value.second or 0:02d}"
    if value.fraction:
        text += "." + value.fraction
    return text + format_offset(offset_of(value, zone))


def add_minutes(value: V2Time, minutes: float) -> V2Time:
    """The timestamp ``minutes`` later, at second precision, keeping the sender's offset (or none)."""
    moment = value.naive() + timedelta(minutes=minutes)
    return V2Time(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, None, value.offset)


def minutes_between(start: V2Time, end: V2Time, zone: tzinfo = UTC) -> float:
    """Minutes from ``start`` to ``end``, each read in its own offset (else ``zone``)."""
    begin = start.naive() - offset_of(start, zone)
    finish = end.naive() - offset_of(end, zone)
    return (finish - begin).total_seconds() / 60


_FHIR_TIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def fhir_to_dtm(value: str | None) -> str | None:
    """A FHIR date, dateTime or instant as v2 DTM at the same precision (``1980-02`` -> ``198002``)."""
    if not value:
        return None
    match = _FHIR_TIME.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    text = year + (month or "") + (day or "")
    if hour is not None:
        text += hour + minute + (second or "")
        if fraction:
            text += "." + fraction[:4]
        if zone:
            text += "+0000" if zone == "Z" else zone.replace(":", "")
    return text
