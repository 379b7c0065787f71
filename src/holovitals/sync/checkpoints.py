"""Checkpoints: where each stream of a connection got to, committed with the page it describes.

The bookmark for the next incremental sync is min(sync start, max lastUpdated seen): a record
changed while we paged is re-read next time rather than skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from holovitals.store.models import SyncCheckpoint


@dataclass
class StreamState:
    stream: str
    bookmark: datetime | None = None  # last completed sync's bookmark (incremental start)
    next_url: str | None = None  # resume point inside a running sync (the page after the last commit)
    job_id: str | None = None  # which job next_url belongs to
    pages_done: int = 0
    max_seen: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def in_progress_for(self, job_id: str) -> bool:
        return self.job_id == job_id and (self.next_url is not None or self.extra.get("done") is True)


def load(session: Session, connection_id: str, stream: str) -> StreamState:
    row = session.execute(
        select(SyncCheckpoint).where(SyncCheckpoint.connection_id == connection_id, SyncCheckpoint.stream == stream)
    ).scalar_one_or_none()
    if row is None:
        return StreamState(stream=stream)
    extra = dict(row.state or {})
    max_seen = extra.pop("max_seen", None)
    return StreamState(
        stream=stream,
        bookmark=row.bookmark,
        next_url=row.next_url,
        job_id=row.job_id,
        pages_done=row.pages_done,
        max_seen=datetime.fromisoformat(max_seen) if max_seen else None,
        extra=extra,
    )


def save(session: Session, connection_id: str, state: StreamState) -> None:
    row = session.execute(
        select(SyncCheckpoint).where(
            SyncCheckpoint.connection_id == connection_id, SyncCheckpoint.stream == state.stream
        )
    ).scalar_one_or_none()
    if row is None:
        row = SyncCheckpoint(connection_id=connection_id, stream=state.stream)
        session.add(row)
    row.bookmark = state.bookmark
    row.next_url = state.next_url
    row.job_id = state.job_id
    row.pages_done = state.pages_done
    extra = dict(state.extra)
    if state.max_seen is not None:
        extra["max_seen"] = state.max_seen.isoformat()
    row.state = extra


def reset(session: Session, connection_id: str) -> None:
    session.execute(delete(SyncCheckpoint).where(SyncCheckpoint.connection_id == connection_id))
