"""Sync jobs: types, directions, priorities, and a state machine whose every change is recorded.

A job row is the source of truth, not the queue: Huey pops a task and forgets it, so a worker killed
mid-sync would lose the task. Instead a running job keeps a heartbeat, and a job RUNNING with a stale
heartbeat is requeued (see ``reap_stale``) and resumes from its checkpoints.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from holovitals.store.models import Connection, SyncJob, SyncJobEvent
from holovitals.store.types import utcnow


class JobType(StrEnum):
    FULL_SYNC = "FULL_SYNC"
    INCREMENTAL_SYNC = "INCREMENTAL_SYNC"
    PATIENT_SYNC = "PATIENT_SYNC"
    RESOURCE_SYNC = "RESOURCE_SYNC"
    BULK_SYNC = "BULK_SYNC"
    WEBHOOK_SYNC = "WEBHOOK_SYNC"


class Direction(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"
    BIDIRECTIONAL = "BIDIRECTIONAL"


class Priority(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"
    BACKGROUND = "BACKGROUND"


# Huey runs higher numbers first.
PRIORITY_VALUE = {
    Priority.CRITICAL: 100,
    Priority.HIGH: 75,
    Priority.NORMAL: 50,
    Priority.LOW: 25,
    Priority.BACKGROUND: 0,
}


class JobState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    RETRYING = "RETRYING"


S = JobState
FINAL_STATES = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})
ACTIVE_STATES = frozenset({S.QUEUED, S.RUNNING, S.RETRYING, S.PAUSED})

ALLOWED: dict[JobState, frozenset[JobState]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.PAUSED, S.FAILED}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.RETRYING, S.PAUSED, S.QUEUED}),
    S.RETRYING: frozenset({S.RUNNING, S.CANCELLED, S.FAILED, S.PAUSED}),
    S.PAUSED: frozenset({S.QUEUED, S.CANCELLED}),
    S.FAILED: frozenset({S.QUEUED}),  # retry by hand
    S.CANCELLED: frozenset({S.QUEUED}),  # retry by hand
    S.COMPLETED: frozenset(),
}


class JobError(Exception):
    """A request about a job that cannot be honoured; the message says why."""


class InvalidTransition(JobError):
    pass


class ConnectionBusy(JobError):
    """Another job of the same connection is running."""


def record_transition(session: Session, job: SyncJob, to: JobState, reason: str | None = None) -> None:
    """Change state and keep the change, with its time, in ``sync_job_events``."""
    current = JobState(job.status)
    if to not in ALLOWED[current]:
        raise InvalidTransition(f"job {job.id} cannot go from {current} to {to}")
    now = utcnow()
    session.add(SyncJobEvent(job_id=job.id, from_status=current.value, to_status=to.value, reason=reason, at=now))
    job.status = to.value
    if to == S.RUNNING:
        job.started_at = job.started_at or now
        job.heartbeat_at = now
    if to in FINAL_STATES:
        job.finished_at = now
    if to in (S.FAILED, S.RETRYING) and reason:
        job.error = reason[:2000]


def create_job(
    session: Session,
    *,
    org_id: str,
    connection_id: str,
    job_type: JobType,
    direction: Direction = Direction.INBOUND,
    priority: Priority = Priority.NORMAL,
    params: dict | None = None,
    max_attempts: int = 3,
) -> SyncJob:
    job = SyncJob(
        org_id=org_id,
        connection_id=connection_id,
        job_type=job_type.value,
        direction=direction.value,
        priority=priority.value,
        params=params or {},
        max_attempts=max_attempts,
        status=S.QUEUED.value,
    )
    session.add(job)
    session.flush()
    session.add(SyncJobEvent(job_id=job.id, from_status=None, to_status=S.QUEUED.value, reason="created"))
    return job


def claim(session: Session, job_id: str, worker_id: str) -> SyncJob | None:
    """Move a job to RUNNING if no other job of its connection runs; None when it must wait.

    The connection row is locked first (FOR UPDATE on PostgreSQL; SQLite's write transactions are
    IMMEDIATE), and the job is then re-read under that lock and moved with a conditional UPDATE: a
    job queued twice (a requeue racing a sweep) is claimed once, never by two workers at a time.
    """
    job = session.get(SyncJob, job_id)
    if job is None or JobState(job.status) not in (S.QUEUED, S.RETRYING):
        return None
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Connection.id).where(Connection.id == job.connection_id).with_for_update())
    session.refresh(job)
    previous = job.status
    if JobState(previous) not in (S.QUEUED, S.RETRYING):
        return None
    busy = session.execute(
        select(SyncJob.id).where(
            SyncJob.connection_id == job.connection_id, SyncJob.status == S.RUNNING.value, SyncJob.id != job.id
        )
    ).first()
    if busy:
        return None
    now = utcnow()
    moved = session.execute(
        update(SyncJob)
        .where(SyncJob.id == job_id, SyncJob.status == previous, SyncJob.attempts == job.attempts)
        .values(
            status=S.RUNNING.value,
            attempts=SyncJob.attempts + 1,
            worker_id=worker_id,
            heartbeat_at=now,
            started_at=func.coalesce(SyncJob.started_at, now),
        )
    )
    if not moved.rowcount:
        return None
    session.refresh(job)
    session.add(
        SyncJobEvent(
            job_id=job.id,
            from_status=previous,
            to_status=S.RUNNING.value,
            reason=f"attempt {job.attempts} on {worker_id}",
            at=now,
        )
    )
    return job


def heartbeat(session: Session, job_id: str, attempt: int) -> bool:
    """Refresh the lease of one attempt; False means stop: the job was cancelled, or it was handed
    to another worker (its attempt number moved on), and two runners must never share its rows."""
    res = session.execute(
        update(SyncJob)
        .where(SyncJob.id == job_id, SyncJob.status == S.RUNNING.value, SyncJob.attempts == attempt)
        .values(heartbeat_at=utcnow())
    )
    return bool(res.rowcount)


def reap_stale(session: Session, lease: timedelta, now: datetime | None = None) -> list[SyncJob]:
    """RUNNING jobs whose worker stopped beating (killed, machine lost) go back to the queue."""
    cutoff = (now or utcnow()) - lease
    stale = list(
        session.execute(
            select(SyncJob).where(SyncJob.status == S.RUNNING.value, SyncJob.heartbeat_at < cutoff)
        ).scalars()
    )
    for job in stale:
        record_transition(session, job, S.QUEUED, "worker stopped responding; resuming from checkpoints")
    return stale
