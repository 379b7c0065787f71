"""Sync statistics per job and per connection and day (the rollup the dashboard charts)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.store.models import SyncStatistic

COUNTERS = ("queried", "created", "updated", "unchanged", "deleted", "documents", "bytes", "pages", "retries", "errors")


@dataclass
class JobStats:
    queried: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    documents: int = 0
    bytes: int = 0
    pages: int = 0
    retries: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    @property
    def duration_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def as_dict(self) -> dict[str, int | float]:
        data = {k: v for k, v in asdict(self).items() if k in COUNTERS}
        data["duration_ms"] = self.duration_ms
        seconds = max(self.duration_ms / 1000, 1e-6)
        data["resources_per_s"] = round((self.created + self.updated + self.unchanged) / seconds, 1)
        return data


def persist(session: Session, *, org_id: str, connection_id: str, job_id: str, stats: JobStats, day: date) -> None:
    """Write the job's row (replacing earlier flushes of the same job) and add to the day's rollup.

    ``day_added`` remembers what this job already added to the rollup, so flushing twice (a retry
    after a crash, a periodic flush) never counts the same work twice.
    """
    row = session.execute(
        select(SyncStatistic).where(SyncStatistic.job_id == job_id, SyncStatistic.period == "JOB")
    ).scalar_one_or_none()
    previous = {c: 0 for c in COUNTERS} | {"duration_ms": 0}
    if row is None:
        row = SyncStatistic(org_id=org_id, connection_id=connection_id, job_id=job_id, period="JOB", day=day)
        session.add(row)
    else:
        previous = {c: getattr(row, c) or 0 for c in (*COUNTERS, "duration_ms")}
    current = {c: getattr(stats, c) for c in COUNTERS} | {"duration_ms": stats.duration_ms}
    for name, value in current.items():
        setattr(row, name, value)
    rollup = session.execute(
        select(SyncStatistic).where(
            SyncStatistic.connection_id == connection_id, SyncStatistic.period == "DAY", SyncStatistic.day == day
        )
    ).scalar_one_or_none()
    if rollup is None:
        rollup = SyncStatistic(
            org_id=org_id,
            connection_id=connection_id,
            period="DAY",
            day=day,
            **{c: 0 for c in (*COUNTERS, "duration_ms")},
        )
        session.add(rollup)
    for name, value in current.items():
        setattr(rollup, name, (getattr(rollup, name) or 0) + value - previous[name])
