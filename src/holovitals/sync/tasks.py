"""Queue tasks: run a sync job, resume lost jobs, start scheduled incremental syncs.

Retries are ours, not Huey's, so every attempt and its reason land in the job's state history:
a failed attempt goes to RETRYING and is rescheduled after 2 s, 4 s, 8 s... until
``max_attempts``; an error the runner marks fatal (revoked connection, refused credentials,
policy denial) fails the job at once.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from huey import crontab
from sqlalchemy import select

from holovitals.context import AppContext
from holovitals.logs import get_logger
from holovitals.store.db import transaction
from holovitals.store.models import Connection, SyncJob
from holovitals.store.types import utcnow
from holovitals.sync.jobs import (
    ACTIVE_STATES,
    PRIORITY_VALUE,
    JobState,
    JobType,
    Priority,
    claim,
    create_job,
    reap_stale,
    record_transition,
)
from holovitals.sync.queue import SYNC_JOBS, Queues

log = get_logger(__name__)
BUSY_RETRY_SECONDS = 2.0


class FatalSyncError(Exception):
    """Retrying cannot help (revoked connection, refused credentials): fail the job now."""


class JobCancelled(Exception):
    """The job was cancelled while it ran; the runner stopped at a page boundary."""


_bound: dict[str, object] = {}


def bind(ctx: AppContext, queues: Queues) -> None:
    """Give the tasks their process-wide context (the worker, the demo and tests call this)."""
    _bound["ctx"] = ctx
    _bound["queues"] = queues


def _ctx() -> AppContext:
    ctx = _bound.get("ctx")
    if ctx is None:
        ctx = AppContext.from_env()
        _bound["ctx"] = ctx
    return ctx  # type: ignore[return-value]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue_job(queues: Queues, job_id: str, priority: str, *, delay: float | None = None) -> None:
    task = queues.tasks["run_sync_job"]
    prio = PRIORITY_VALUE[Priority(priority)]
    if delay:
        task.schedule(args=(job_id,), delay=delay, priority=prio)
    else:
        task(job_id, priority=prio)


def execute_job(ctx: AppContext, queues: Queues | None, job_id: str, listener=None) -> str:
    """Claim, run and settle one job; returns the state it ended in (for logs and tests).

    ``queues`` None (the CLI running a job in the foreground): a retry is not queued but left
    RETRYING for the caller to run again.
    """
    from holovitals.sync.runner import run_job

    with transaction(ctx.sessions) as session:
        job = claim(session, job_id, worker_id())
        if job is None:
            current = session.get(SyncJob, job_id)
            if current is not None and current.status in (JobState.QUEUED, JobState.RETRYING):
                # Another job of this connection runs: wait behind it, never beside it.
                if queues is not None:
                    enqueue_job(queues, job_id, current.priority, delay=BUSY_RETRY_SECONDS)
                return "waiting"
            return current.status if current is not None else "missing"
        job_snapshot = (job.id, job.attempts, job.max_attempts, job.priority)
    jid, attempts, max_attempts, priority = job_snapshot
    try:
        run_job(ctx, jid, listener)
    except JobCancelled:
        return JobState.CANCELLED.value
    except FatalSyncError as exc:
        _settle(ctx, jid, attempts, JobState.FAILED, str(exc))
        return JobState.FAILED.value
    except Exception as exc:  # any other failure is worth another attempt
        reason = f"{type(exc).__name__}: {exc}"
        if attempts < max_attempts:
            delay = ctx.settings.sync_retry_base_seconds * 2 ** (attempts - 1)
            _settle(ctx, jid, attempts, JobState.RETRYING, f"{reason}; retrying in {delay:g} s")
            if queues is not None:
                enqueue_job(queues, jid, priority, delay=delay)
            return JobState.RETRYING.value
        _settle(ctx, jid, attempts, JobState.FAILED, f"{reason} (after {attempts} attempts)")
        return JobState.FAILED.value
    if not _settle(ctx, jid, attempts, JobState.COMPLETED, None):
        return JobState.CANCELLED.value
    return JobState.COMPLETED.value


def _settle(ctx: AppContext, job_id: str, attempt: int, state: JobState, reason: str | None) -> bool:
    """Record the outcome of this attempt, unless the job was cancelled or taken over meanwhile."""
    with transaction(ctx.sessions) as session:
        job = session.get(SyncJob, job_id)
        if job is None or job.status != JobState.RUNNING.value or job.attempts != attempt:
            return False
        record_transition(session, job, state, reason)
    log.info("sync job settled", job_id=job_id, state=state.value)
    return True


def resume_stale(ctx: AppContext, queues: Queues) -> int:
    """Requeue jobs whose worker died; they continue from their checkpoints."""
    with transaction(ctx.sessions) as session:
        stale = reap_stale(session, timedelta(seconds=ctx.settings.sync_lease_seconds))
        requeue = [(j.id, j.priority) for j in stale]
        orphans = session.execute(
            select(SyncJob.id, SyncJob.priority).where(
                SyncJob.status.in_([JobState.QUEUED.value, JobState.RETRYING.value]),
                SyncJob.created_at < utcnow() - timedelta(seconds=ctx.settings.sync_lease_seconds),
            )
        ).all()
    for job_id, priority in requeue:
        enqueue_job(queues, job_id, priority)
    # A queued job whose task was lost (Redis restarted without persistence) would wait forever;
    # enqueueing it twice is harmless because claim() lets only one run.
    requeued = {job_id for job_id, _ in requeue}
    orphans = [(job_id, priority) for job_id, priority in orphans if job_id not in requeued]
    if orphans and all(h.pending_count() == 0 for h in queues.hueys.values()):
        for job_id, priority in orphans:
            enqueue_job(queues, job_id, priority)
    return len(requeue)


def schedule_due_syncs(ctx: AppContext, queues: Queues) -> int:
    """Start an incremental sync for every active connection whose interval has passed."""
    now = utcnow()
    started = []
    with transaction(ctx.sessions) as session:
        for conn in session.execute(select(Connection).where(Connection.status == "ACTIVE")).scalars():
            hours = float((conn.sync_settings or {}).get("interval_hours", ctx.settings.sync_interval_hours))
            hours = min(max(hours, 1.0), 168.0)
            if conn.last_sync_at is not None and conn.last_sync_at + timedelta(hours=hours) > now:
                continue
            active = session.execute(
                select(SyncJob.id).where(
                    SyncJob.connection_id == conn.id, SyncJob.status.in_([s.value for s in ACTIVE_STATES])
                )
            ).first()
            if active:
                continue
            job = create_job(
                session,
                org_id=conn.org_id,
                connection_id=conn.id,
                job_type=JobType.INCREMENTAL_SYNC if conn.last_sync_at else JobType.FULL_SYNC,
                priority=Priority.BACKGROUND,
                max_attempts=ctx.settings.sync_max_attempts,
                params={"scheduled": True},
            )
            started.append((job.id, job.priority))
    for job_id, priority in started:
        enqueue_job(queues, job_id, priority)
    return len(started)


def register_all(queues: Queues) -> None:
    def run_sync_job(job_id: str) -> str:
        return execute_job(_ctx(), queues, job_id)

    def scheduled_syncs() -> int:
        return schedule_due_syncs(_ctx(), queues)

    queues.register(SYNC_JOBS, "run_sync_job", run_sync_job)
    queues.hueys[SYNC_JOBS].periodic_task(crontab(minute="*"), name="scheduled_syncs")(scheduled_syncs)
