"""FHIR date, dateTime and instant values as ranges, and the search prefixes compared on them.

A FHIR date stands for its whole precision: `2024-03` is all of March. Searching compares ranges
(https://hl7.org/fhir/R4/search.html#prefix), so `gt2024-03` means after the end of March, and a
resource's `effectivePeriod` is the range from its start to its end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

DATE_PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open instant range [lo, hi): a FHIR date/dateTime value stands for its whole precision."""

    lo: datetime
    hi: datetime


def parse_fhir_date(value: str) -> Period:
    """`2024`, `2024-03`, `2024-03-05`, `2024-03-05T10:00:00.123Z` ... as a range; ValueError if not one."""
    match = _DATE_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a FHIR date or dateTime")
    g = match.groupdict()
    tz = UTC
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    year = int(g["y"])
    if g["m"] is None:
        return Period(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
    month = int(g["m"])
    if g["d"] is None:
        lo = datetime(year, month, 1, tzinfo=UTC)
        hi = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        return Period(lo, hi)
    day = int(g["d"])
    if g["H"] is None:
        lo = datetime(year, month, day, tzinfo=UTC)
        return Period(lo, lo + timedelta(days=1))
    second = int(g["S"]) if g["S"] is not None else 0
    fraction = g["f"] or ""
    micro = int((fraction + "000000")[:6]) if fraction else 0
    lo = datetime(year, month, day, int(g["H"]), int(g["M"]), second, micro, tzinfo=tz).astimezone(UTC)
    if g["S"] is None:
        step = timedelta(minutes=1)
    elif not fraction:
        step = timedelta(seconds=1)
    else:
        step = timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    return Period(lo, lo + step)


def period_of(value: Any) -> Period | None:
    try:
        if isinstance(value, str):
            return parse_fhir_date(value)
        if isinstance(value, dict):
            start, end = value.get("start"), value.get("end")
            lo = parse_fhir_date(start).lo if isinstance(start, str) else datetime.min.replace(tzinfo=UTC)
            hi = parse_fhir_date(end).hi if isinstance(end, str) else datetime.max.replace(tzinfo=UTC)
            return Period(lo, hi)
    except ValueError:
        return None
    return None


def date_matches(prefix: str, search: Period, target: Period) -> bool:
    """FHIR R4 search prefix semantics on ranges (https://hl7.org/fhir/R4/search.html#prefix)."""
    contained = search.lo <= target.lo and target.hi <= search.hi
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return not contained
    if prefix == "gt":
        return target.hi > search.hi
    if prefix == "lt":
        return target.lo < search.lo
    if prefix == "ge":
        return target.hi > search.hi or contained
    if prefix == "le":
        return target.lo < search.lo or contained
    if prefix == "sa":
        return target.lo >= search.hi
    if prefix == "eb":
        return target.hi <= search.lo
    return target.lo < search.hi and search.lo < target.hi  # ap


def split_prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in DATE_PREFIXES and value[2].isdigit():
        return value[:2], value[2:]
    return "eq", value
