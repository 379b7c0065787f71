"""`holovitals sync ...`, `holovitals resources ...` and `holovitals worker`."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import or_, select

sync_app = typer.Typer(no_args_is_help=True, help="Run and inspect syncs.")
resources_app = typer.Typer(no_args_is_help=True, help="Browse the local copy of synced records.")
out = Console() if sys.stdout.isatty() else Console(width=120)  # piped: room for the tables


class CliError(Exception):
    pass


def _ctx():
    from holovitals.cli import _ctx as make_ctx
    from holovitals.cli import _require_schema

    ctx = make_ctx()
    _require_schema(ctx)
    return ctx


def _find_connection(session, ref: str):
    from holovitals.store.models import Connection

    conn = session.execute(select(Connection).where(or_(Connection.id == ref, Connection.name == ref))).scalars()
    found = list(conn)
    if not found:
        raise CliError(f"no connection with id or name {ref!r}: see `holovitals sync status`")
    if len(found) > 1:
        raise CliError(f"{len(found)} connections are named {ref!r}: give the id")
    return found[0]


def run_with_progress(ctx, job_id: str, *, console: Console = out) -> str:
    """Run a job in this process with a progress bar per stream; retries run here too."""
    from holovitals.sync.tasks import execute_job
    from holovitals.tuning import tune_for_throughput

    tune_for_throughput()
    columns = (SpinnerColumn(), TextColumn("{task.description}", style="cyan"), BarColumn(), MofNCompleteColumn(),
               TextColumn("resources"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        bars: dict[str, int] = {}

        def listener(event: str, stream: str, count: int, total: int | None) -> None:
            if event == "start" and stream not in bars:
                bars[stream] = progress.add_task(stream[:60], total=None)
            elif event == "page":
                task = bars.setdefault(stream, progress.add_task(stream[:60], total=None))
                progress.update(task, advance=count, total=total if total is not None else None)
            elif event == "done" and stream in bars:
                task = bars[stream]
                done = progress.tasks[task].completed
                progress.update(task, total=done, completed=done)

        state = execute_job(ctx, None, job_id, listener)
        while state == "RETRYING":
            time.sleep(min(ctx.settings.sync_retry_base_seconds, 5))
            state = execute_job(ctx, None, job_id, listener)
    return state


@sync_app.command("run")
def sync_run(
    connection: Annotated[str, typer.Option("--connection", "-c", help="Connection id or name")],
    full: Annotated[bool, typer.Option("--full", help="Re-read everything")] = False,
    incremental: Annotated[bool, typer.Option("--incremental", help="Only what changed (default)")] = False,
    bulk: Annotated[bool, typer.Option("--bulk", help="Bulk $export with _since")] = False,
    patient: Annotated[str | None, typer.Option(help="Sync one patient's records")] = None,
    types: Annotated[str | None, typer.Option(help="Comma-separated resource types")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Hand the job to `holovitals worker` instead")] = False,
) -> None:
    """Sync a connection now, with a progress bar per stream."""
    from holovitals.store.db import transaction
    from holovitals.sync.jobs import JobType, create_job

    if sum([full, incremental, bulk]) > 1:
        raise CliError("choose one of --full, --incremental, --bulk")
    job_type = JobType.FULL_SYNC if full else JobType.BULK_SYNC if bulk else JobType.INCREMENTAL_SYNC
    params: dict = {}
    if patient:
        job_type, params["patient_id"] = JobType.PATIENT_SYNC, patient
    if types:
        params["resource_types"] = [t.strip() for t in types.split(",") if t.strip()]
    ctx = _ctx()
    with transaction(ctx.sessions) as session:
        conn = _find_connection(session, connection)
        if conn.status == "REVOKED":
            raise CliError("the connection was revoked; connect it again first")
        job = create_job(session, org_id=conn.org_id, connection_id=conn.id, job_type=job_type, params=params,
                         max_attempts=ctx.settings.sync_max_attempts)  # fmt: skip
        job_id = job.id
    if queue:
        from holovitals.sync.queue import build_queues
        from holovitals.sync.tasks import enqueue_job

        enqueue_job(build_queues(ctx.settings), job_id, job.priority)
        out.print(f"queued job {job_id}")
        return
    state = run_with_progress(ctx, job_id)
    print_job_summary(ctx, job_id)
    if state != "COMPLETED":
        raise typer.Exit(1)


def print_job_summary(ctx, job_id: str) -> None:
    from holovitals.store.models import SyncError, SyncJob, SyncStatistic

    with ctx.sessions() as session:
        job = session.get(SyncJob, job_id)
        stat = session.execute(
            select(SyncStatistic).where(SyncStatistic.job_id == job_id, SyncStatistic.period == "JOB")
        ).scalar_one_or_none()
        errors = session.execute(select(SyncError).where(SyncError.job_id == job_id).limit(10)).scalars().all()
    table = Table(title=f"job {job.id} {job.job_type}: {job.status}")
    for name in ("queried", "created", "updated", "unchanged", "deleted", "documents", "bytes", "pages", "retries",
                 "errors"):  # fmt: skip
        table.add_column(name, justify="right")
    if stat:
        table.add_row(*(str(getattr(stat, c)) for c in (c.header for c in table.columns)))
    out.print(table)
    if stat and stat.duration_ms:
        rate = (stat.created + stat.updated + stat.unchanged) / (stat.duration_ms / 1000)
        out.print(f"{stat.duration_ms / 1000:.1f} s, {rate:,.0f} resources/s")
    for e in errors:
        out.print(f"[red]{e.kind}[/red] {e.stream or ''} {e.resource_type or ''}/{e.resource_id or ''}: {e.message}",
                  markup=True, highlight=False)  # fmt: skip
    if job.error:
        out.print(f"[red]error:[/red] {job.error}", highlight=False)


@sync_app.command("status")
def sync_status(
    connection: Annotated[str | None, typer.Option("--connection", "-c", help="Only this connection")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """Connections and their recent sync jobs."""
    from holovitals.store.models import Connection, SyncJob

    ctx = _ctx()
    with ctx.sessions() as session:
        conns = list(session.execute(select(Connection).order_by(Connection.created_at)).scalars())
        table = Table("connection", "name", "vendor", "status", "last sync", title="connections")
        for c in conns:
            table.add_row(c.id, c.name, c.vendor or "", c.status,
                          c.last_sync_at.strftime("%Y-%m-%d %H:%M:%S") if c.last_sync_at else "never")  # fmt: skip
        out.print(table)
        stmt = select(SyncJob).order_by(SyncJob.created_at.desc()).limit(limit)
        if connection:
            stmt = stmt.where(SyncJob.connection_id == _find_connection(session, connection).id)
        jobs = Table("job", "connection", "type", "status", "attempts", "created", "error", title="jobs")
        for j in session.execute(stmt).scalars():
            jobs.add_row(j.id, j.connection_id, j.job_type, j.status, str(j.attempts),
                         j.created_at.strftime("%Y-%m-%d %H:%M:%S"), (j.error or "")[:60])  # fmt: skip
        out.print(jobs)


@resources_app.command("list")
def resources_list(
    type: Annotated[str | None, typer.Option("--type", "-t", help="Resource type")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient id")] = None,
    connection: Annotated[str | None, typer.Option("--connection", "-c")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Stored resources (reads are audited as the CLI)."""
    from holovitals.security.audit import AuditEvent, record
    from holovitals.store.db import transaction
    from holovitals.store.models import Resource

    ctx = _ctx()
    with transaction(ctx.sessions) as session:
        stmt = (
            select(Resource).where(Resource.deleted.is_(False)).order_by(Resource.resource_type, Resource.resource_id)
        )
        if type:
            stmt = stmt.where(Resource.resource_type == type)
        if patient:
            stmt = stmt.where(Resource.patient_id == patient)
        if connection:
            stmt = stmt.where(Resource.connection_id == _find_connection(session, connection).id)
        rows = list(session.execute(stmt.limit(limit)).scalars())
        record(session, AuditEvent(actor="cli", action="search", outcome="success", resource_type=type,
                                   patient_id=patient, detail=f"{len(rows)} rows"))  # fmt: skip
    table = Table("type", "id", "version", "last updated", "patient", "connection")
    for r in rows:
        table.add_row(r.resource_type, r.resource_id, r.version_id or "",
                      r.last_updated.strftime("%Y-%m-%d %H:%M:%S") if r.last_updated else "", r.patient_id or "",
                      r.connection_id)  # fmt: skip
    out.print(table)


@resources_app.command("show")
def resources_show(
    resource_type: Annotated[str, typer.Argument(help="e.g. Patient")],
    resource_id: Annotated[str, typer.Argument(help="The resource id")],
    connection: Annotated[str | None, typer.Option("--connection", "-c")] = None,
) -> None:
    """Print one stored resource as JSON (audited as the CLI)."""
    from holovitals.security.audit import AuditEvent, record
    from holovitals.store.db import transaction
    from holovitals.store.models import Resource

    ctx = _ctx()
    with transaction(ctx.sessions) as session:
        stmt = select(Resource).where(Resource.resource_type == resource_type, Resource.resource_id == resource_id)
        if connection:
            stmt = stmt.where(Resource.connection_id == _find_connection(session, connection).id)
        row = session.execute(stmt.limit(1)).scalar_one_or_none()
        outcome = "success" if row is not None and not row.deleted else "not_found"
        record(session, AuditEvent(actor="cli", action="read", outcome=outcome, resource_type=resource_type,
                                   resource_id=resource_id, patient_id=row.patient_id if row else None))  # fmt: skip
    if outcome != "success":
        raise CliError(f"no {resource_type}/{resource_id} in the local store")
    out.print_json(orjson.dumps(row.body).decode())


def worker(
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues (default: all four)")] = None,
) -> None:
    """Run the queue consumers until Ctrl-C; resumes jobs whose worker died."""
    from holovitals.cli import _setup_logging
    from holovitals.sync.worker import Worker

    _setup_logging()
    ctx = _ctx()
    only = [q.strip() for q in queues.split(",")] if queues else None
    w = Worker(ctx, only=only)
    out.print(f"worker running: {', '.join(c.huey.name for c in w.consumers)} (Ctrl-C to stop)")
    w.run_forever()
