"""Sync jobs over HTTP: create, list, inspect, cancel, retry; queue depths; statistics."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from holovitals.api.deps import Access, get_session, owned, require
from holovitals.api.problems import Problem
from holovitals.security.rbac import Permission
from holovitals.store.models import Connection, SyncError, SyncJob, SyncJobEvent, SyncStatistic
from holovitals.sync.jobs import (
    FINAL_STATES,
    Direction,
    InvalidTransition,
    JobState,
    JobType,
    Priority,
    create_job,
    record_transition,
)
from holovitals.sync.queue import Queues, build_queues
from holovitals.sync.tasks import enqueue_job

router = APIRouter(tags=["sync"])


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection_id: str = Field(alias="connectionId", min_length=1, max_length=32)
    type: JobType = JobType.INCREMENTAL_SYNC
    direction: Direction = Direction.INBOUND
    priority: Priority = Priority.NORMAL
    params: dict[str, Any] = Field(default_factory=dict)


def queues_of(request: Request) -> Queues:
    """Built on first use so the API starts even when the queue storage is briefly unavailable."""
    queues = getattr(request.app.state, "queues", None)
    if queues is None:
        queues = request.app.state.queues = build_queues(request.app.state.ctx.settings)
    return queues


def job_dict(job: SyncJob, *, detail: bool = False, session: Session | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id,
        "connectionId": job.connection_id,
        "type": job.job_type,
        "direction": job.direction,
        "priority": job.priority,
        "status": job.status,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "params": job.params,
        "error": job.error,
        "createdAt": job.created_at.isoformat(),
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }
    if detail and session is not None:
        events = session.execute(
            select(SyncJobEvent).where(SyncJobEvent.job_id == job.id).order_by(SyncJobEvent.pk)
        ).scalars()
        out["history"] = [
            {"from": e.from_status, "to": e.to_status, "at": e.at.isoformat(), "reason": e.reason} for e in events
        ]
        stat = session.execute(
            select(SyncStatistic).where(SyncStatistic.job_id == job.id, SyncStatistic.period == "JOB")
        ).scalar_one_or_none()
        out["statistics"] = stat_dict(stat) if stat else None
        errors = session.execute(
            select(SyncError).where(SyncError.job_id == job.id).order_by(SyncError.pk).limit(100)
        ).scalars()
        out["errors"] = [
            {"kind": e.kind, "stream": e.stream, "resourceType": e.resource_type, "resourceId": e.resource_id,
             "httpStatus": e.http_status, "message": e.message, "at": e.at.isoformat()}
            for e in errors
        ]  # fmt: skip
    return out


def stat_dict(s: SyncStatistic) -> dict[str, Any]:
    seconds = max((s.duration_ms or 0) / 1000, 1e-6)
    stored = (s.created or 0) + (s.updated or 0) + (s.unchanged or 0)
    return {
        "day": s.day.isoformat(),
        "queried": s.queried, "created": s.created, "updated": s.updated, "unchanged": s.unchanged,
        "deleted": s.deleted, "documents": s.documents, "bytes": s.bytes, "pages": s.pages, "retries": s.retries,
        "errors": s.errors, "durationMs": s.duration_ms, "resourcesPerSecond": round(stored / seconds, 1),
    }  # fmt: skip


def _connection(session: Session, access: Access, connection_id: str) -> Connection:
    return owned(session, access, Connection, connection_id, "connection")


def _job(session: Session, access: Access, job_id: str) -> SyncJob:
    return owned(session, access, SyncJob, job_id, "sync job")


def start_job(session: Session, access: Access, request: Request, body: JobIn) -> SyncJob:
    conn = _connection(session, access, body.connection_id)
    job = create_job(
        session,
        org_id=access.principal.org_id,
        connection_id=conn.id,
        job_type=body.type,
        direction=body.direction,
        priority=body.priority,
        params=body.params,
        max_attempts=access.ctx.settings.sync_max_attempts,
    )
    if conn.status == "REVOKED":
        # Fails at once: no point queueing work that cannot authenticate.
        record_transition(session, job, JobState.FAILED, "the connection was revoked; reconnect it before syncing")
        return job
    session.flush()
    session.commit()  # the worker must see the job before it sees the task
    enqueue_job(queues_of(request), job.id, job.priority)
    return job


@router.post("/api/sync/jobs", status_code=201)
def create_sync_job(
    body: JobIn,
    request: Request,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    return job_dict(start_job(session, access, request, body))


@router.get("/api/sync/jobs")
def list_sync_jobs(
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
    status: JobState | None = None,
    type: JobType | None = None,
    connectionId: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    stmt = select(SyncJob).where(SyncJob.org_id == access.principal.org_id)
    if status:
        stmt = stmt.where(SyncJob.status == status.value)
    if type:
        stmt = stmt.where(SyncJob.job_type == type.value)
    if connectionId:
        stmt = stmt.where(SyncJob.connection_id == connectionId)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(SyncJob.created_at.desc()).limit(limit).offset(offset)).scalars()
    return {"total": total, "limit": limit, "offset": offset, "items": [job_dict(j) for j in rows]}


@router.get("/api/sync/jobs/{job_id}")
def get_sync_job(
    job_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    return job_dict(_job(session, access, job_id), detail=True, session=session)


@router.delete("/api/sync/jobs/{job_id}")
def cancel_sync_job(
    job_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Cancel: a queued job never starts; a running one stops at its next page boundary."""
    job = _job(session, access, job_id)
    if JobState(job.status) in FINAL_STATES:
        raise Problem(409, "Conflict", f"the job is already {job.status}")
    record_transition(session, job, JobState.CANCELLED, f"cancelled by {access.principal.actor}")
    return job_dict(job)


@router.post("/api/sync/jobs/{job_id}/retry")
def retry_sync_job(
    job_id: str,
    request: Request,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Queue a failed or cancelled job again; it resumes from its checkpoints."""
    job = _job(session, access, job_id)
    try:
        record_transition(session, job, JobState.QUEUED, f"retried by {access.principal.actor}")
    except InvalidTransition:
        raise Problem(409, "Conflict", f"a {job.status} job cannot be retried") from None
    job.attempts = 0
    job.error = None
    job.finished_at = None
    session.commit()
    enqueue_job(queues_of(request), job.id, job.priority)
    return job_dict(job)


@router.get("/api/sync/queues")
def queue_depths(
    request: Request,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Waiting tasks per queue (from the queue storage) and active/completed/failed jobs (from the store)."""
    counts = queues_of(request).counts()
    by_status = dict(
        session.execute(
            select(SyncJob.status, func.count())
            .where(SyncJob.org_id == access.principal.org_id)
            .group_by(SyncJob.status)
        ).all()
    )
    out = {}
    for name, c in counts.items():
        entry = {"waiting": c["waiting"] + c["scheduled"], "active": 0, "completed": 0, "failed": 0}
        if name == "sync-jobs":
            entry["active"] = by_status.get("RUNNING", 0)
            entry["completed"] = by_status.get("COMPLETED", 0)
            entry["failed"] = by_status.get("FAILED", 0)
        out[name] = entry
    return {"queues": out}


@router.get("/api/sync/statistics")
def sync_statistics(
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
    connectionId: Annotated[str | None, Query(max_length=32)] = None,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> dict[str, Any]:
    """Daily rollups per connection, and totals over the period."""
    since = date.today() - timedelta(days=days - 1)
    stmt = select(SyncStatistic).where(
        SyncStatistic.org_id == access.principal.org_id, SyncStatistic.period == "DAY", SyncStatistic.day >= since
    )
    if connectionId:
        _connection(session, access, connectionId)
        stmt = stmt.where(SyncStatistic.connection_id == connectionId)
    rows = list(session.execute(stmt.order_by(SyncStatistic.day)).scalars())
    totals: dict[str, int] = {}
    for r in rows:
        for k, v in stat_dict(r).items():
            if isinstance(v, int):
                totals[k] = totals.get(k, 0) + v
    return {
        "since": since.isoformat(),
        "daily": [{"connectionId": r.connection_id, **stat_dict(r)} for r in rows],
        "totals": totals,
    }


# ---------------------------------------------------------------- the /api/ehr/sync aliases


class EhrSyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection_id: str = Field(alias="connectionId", min_length=1, max_length=32)
    type: JobType = JobType.INCREMENTAL_SYNC
    priority: Priority = Priority.NORMAL
    params: dict[str, Any] = Field(default_factory=dict)


@router.post("/api/ehr/sync", status_code=202)
def ehr_sync(
    body: EhrSyncIn,
    request: Request,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    job = start_job(
        session, access, request,
        JobIn(connectionId=body.connection_id, type=body.type, priority=body.priority, params=body.params),
    )  # fmt: skip
    return {"syncId": job.id, **job_dict(job)}


@router.get("/api/ehr/sync")
def ehr_sync_status(
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
    syncId: Annotated[str | None, Query(max_length=32)] = None,
    connectionId: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    if syncId:
        return job_dict(_job(session, access, syncId), detail=True, session=session)
    if connectionId:
        conn = _connection(session, access, connectionId)
        jobs = session.execute(
            select(SyncJob).where(SyncJob.connection_id == conn.id).order_by(SyncJob.created_at.desc()).limit(20)
        ).scalars()
        return {
            "connectionId": conn.id,
            "lastSyncAt": conn.last_sync_at.isoformat() if conn.last_sync_at else None,
            "jobs": [job_dict(j) for j in jobs],
        }
    raise Problem(422, "Unprocessable Content", "query: give syncId or connectionId")
