"""Seeds, ids and timestamps: what makes the output a pure function of (seed, patient index, as_of).

Times are integer milliseconds since the Unix epoch (UTC) on the hot path; formatting goes
through a per-day string cache because `datetime.isoformat()` for a million resources is a
measurable share of the run time.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime
from functools import cache

# A fixed "now" keeps the output identical from one day to the next. Callers that want records
# that look fresh pass their own `as_of`.
DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
# meta.lastUpdated spreads over this many days before as_of: the window a sandbox client walks
# with `_lastUpdated` / `_since` when it syncs incrementally.
LAST_UPDATED_WINDOW_DAYS = 730

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
MS_PER_YEAR = 31_556_952_000  # mean Gregorian year
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()


def patient_key(seed: int, index: int) -> str:
    """The Patient id for patient `index`; every id of that patient's records starts with it."""
    return _digest("patient", seed, index).hex()


def directory_key(seed: int) -> str:
    return _digest("directory", seed).hex()[:8]


def seeded_rng(seed: int, *parts: object) -> random.Random:
    """An independent stream per (seed, purpose, index): patient 7 never depends on patient 6."""
    # A string seed is hashed with SHA-512 by `random` (seed version 2): stable across processes
    # and Python versions, unlike hash() of a tuple, which PYTHONHASHSEED randomises.
    return random.Random(":".join(map(str, ("holovitals", seed, *parts))))


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return int(value.timestamp() * 1000)


@cache
def day_string(day: int) -> str:
    """ISO date of a day number (days since 1970-01-01, negative before)."""
    return date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


def fmt_date(ms: int) -> str:
    return day_string(ms // MS_PER_DAY)


def fmt_datetime(ms: int) -> str:
    """FHIR dateTime to the second, in UTC."""
    day, rem = divmod(ms, MS_PER_DAY)
    rem //= 1000
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"{day_string(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def fmt_instant(ms: int) -> str:
    """FHIR instant with milliseconds, in UTC (the form servers use for meta.lastUpdated)."""
    day, rem = divmod(ms, MS_PER_DAY)
    rem, millis = divmod(rem, 1000)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"{day_string(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


class Clock:
    """Per-patient time: clinical event times and the lastUpdated stamps that follow them.

    A record made inside the lastUpdated window is stamped a little after the event (charting lag);
    a record older than the window carries a stamp somewhere in the window, as if it had been
    migrated or touched since. Stamps never pass as_of.
    """

    __slots__ = ("as_of", "rng", "window", "window_start")

    def __init__(self, as_of_ms: int, rng: random.Random) -> None:
        self.as_of = as_of_ms
        self.window = LAST_UPDATED_WINDOW_DAYS * MS_PER_DAY
        self.window_start = as_of_ms - self.window
        self.rng = rng

    def stamp(self, event_ms: int) -> int:
        if event_ms < self.window_start:
            return self.window_start + int(self.rng.random() * self.window)
        # Most charting lands within hours; a long tail (late results, amended notes) takes days.
        lag = int(self.rng.expovariate(1 / (6 * MS_PER_HOUR))) + 1000
        return min(event_ms + lag, self.as_of - 1)

    def meta(self, event_ms: int, profile: str | None) -> dict:
        meta = {"versionId": "1", "lastUpdated": fmt_instant(self.stamp(event_ms))}
        if profile:
            meta["profile"] = [profile]
        return meta
