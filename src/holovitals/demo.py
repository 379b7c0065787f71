"""`make demo`: a sandbox EHR, two SMART connections, a full sync, changes, an incremental sync.

Everything a new user would otherwise need credentials for runs locally: the sandbox serves the
Epic and Oracle Health flavours with SMART on FHIR, the connect flow completes the PKCE launch
against its auto-approving consent, and an in-process worker runs the jobs from the queue.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select

from holovitals.context import AppContext
from holovitals.store.db import transaction
from holovitals.store.models import Connection, Resource, SyncJob, SyncStatistic
from holovitals.sync.jobs import FINAL_STATES, JobState, JobType, create_job

DEMO_CLIENT = "holovitals-demo"
DEMO_VENDORS = (("epic", "Epic sandbox (demo)"), ("oracle_health", "Oracle Health sandbox (demo)"))


@dataclass
class DemoSandbox:
    server: object
    store: object
    auth: object
    url: str
    patients: list[str]


def start_sandbox(ctx: AppContext, *, patients: int, port: int, console: Console) -> DemoSandbox:
    from holovitals.sandbox.app import create_sandbox_app
    from holovitals.sandbox.bulk import BulkExporter
    from holovitals.sandbox.generator import generate_population
    from holovitals.sandbox.server import SandboxServer
    from holovitals.sandbox.smart import ClientRegistration, SmartAuthServer
    from holovitals.sandbox.store import SandboxStore

    store = SandboxStore()
    count = store.load(generate_population(patients, seed=42))
    auth = SmartAuthServer()
    auth.register_client(
        ClientRegistration(client_id=DEMO_CLIENT, kind="public", redirect_uris=("http://127.0.0.1/demo-callback",))
    )
    bulk = BulkExporter(store, files_dir=ctx.settings.home / "sandbox-bulk", auth=auth)
    server = SandboxServer(create_sandbox_app(store, auth=auth, bulk=bulk), port=port)
    server.__enter__()
    ids = [r.id for r in store.scan("Patient")]
    console.print(f"sandbox EHR on {server.url} with {patients} patients ({count:,} resources)")
    return DemoSandbox(server, store, auth, server.url, ids)


async def connect_demo(ctx: AppContext, sandbox: DemoSandbox, org_id: str, console: Console) -> list[str]:
    """Complete a SMART standalone patient launch per vendor flavour, as a user clicking 'Allow' would."""
    from holovitals.hub.connect import ConnectRequest, EhrConnector
    from holovitals.vendors.registry import get_profile

    ids = []
    async with httpx.AsyncClient(timeout=30) as http:
        connector = EhrConnector(ctx.sessions, ctx.vault, http, org_id=org_id, audit=lambda *a, **k: None)
        for n, (vendor, name) in enumerate(DEMO_VENDORS):
            sandbox.auth.set_patient(sandbox.patients[n % len(sandbox.patients)])
            base = get_profile(vendor).sandbox_base_url(sandbox.url)
            started = await connector.start(
                ConnectRequest(
                    vendor=vendor,
                    client_id=DEMO_CLIENT,
                    redirect_uri="http://127.0.0.1/demo-callback",
                    base_url=base,
                    name=name,
                )
            )
            consent = await http.get(started.authorization_url, follow_redirects=False)
            query = parse_qs(urlsplit(consent.headers["location"]).query)
            conn = await connector.complete(code=query["code"][0], state=query["state"][0])
            console.print(f"connected {name}: SMART PKCE launch complete, patient context {conn.patient_id}")
            ids.append(conn.id)
    return ids


def wait_for(ctx: AppContext, job_ids: list[str], *, timeout: float = 600) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        with ctx.sessions() as session:
            states = {j.id: j.status for j in session.execute(select(SyncJob).where(SyncJob.id.in_(job_ids))).scalars()}
        if all(JobState(s) in FINAL_STATES for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def run_syncs(ctx: AppContext, queues, org_id: str, conn_ids: list[str], job_type: JobType, console: Console):
    from holovitals.sync.tasks import enqueue_job

    with transaction(ctx.sessions) as session:
        jobs = [create_job(session, org_id=org_id, connection_id=c, job_type=job_type).id for c in conn_ids]
    for job_id in jobs:
        enqueue_job(queues, job_id, "HIGH")
    with console.status(f"{job_type.value.replace('_', ' ').lower()} of {len(jobs)} connections..."):
        states = wait_for(ctx, jobs)
    return jobs, states


def summary(ctx: AppContext, rows: list[tuple[str, str, str]], console: Console) -> None:
    table = Table(title="HoloVitals demo: what was synced")
    for col in ("EHR", "sync", "status", "read", "new", "changed", "same", "docs", "errors", "s"):
        table.add_column(col, justify="left" if col in ("EHR", "sync", "status") else "right")
    with ctx.sessions() as session:
        for name, job_id, state in rows:
            job = session.get(SyncJob, job_id)
            s = session.execute(
                select(SyncStatistic).where(SyncStatistic.job_id == job_id, SyncStatistic.period == "JOB")
            ).scalar_one_or_none()
            label = name.replace(" sandbox (demo)", "")
            kind = job.job_type.removesuffix("_SYNC").lower()
            if s is None:
                table.add_row(label, kind, state.lower(), *[""] * 7)
                continue
            table.add_row(
                label,
                kind,
                state.lower(),
                str(s.queried),
                str(s.created),
                str(s.updated),
                str(s.unchanged),
                str(s.documents),
                str(s.errors),
                f"{s.duration_ms / 1000:.1f}",
            )
        stored = session.execute(select(func.count()).select_from(Resource)).scalar_one()
    console.print(table)
    console.print(f"{stored:,} resources in the local store ({ctx.settings.effective_database_url})")


def run_demo(ctx: AppContext, *, once: bool, patients: int, console: Console) -> int:
    """Returns the process exit status (0 when every sync completed)."""
    from holovitals.sandbox.changes import Mutator
    from holovitals.store.seed import seed
    from holovitals.sync.worker import Worker

    with transaction(ctx.sessions) as session:
        org_id = seed(session, create_owner_key=False).org_id
        names = [n for _, n in DEMO_VENDORS]
        # A demo run starts from a fresh sandbox, so earlier demo connections hold dead tokens.
        session.execute(delete(Connection).where(Connection.org_id == org_id, Connection.name.in_(names)))
    sandbox = start_sandbox(ctx, patients=patients, port=ctx.settings.sandbox_port, console=console)
    worker = Worker(ctx)
    worker.start()
    try:
        conn_ids = asyncio.run(connect_demo(ctx, sandbox, org_id, console))
        names = dict(zip(conn_ids, [n for _, n in DEMO_VENDORS], strict=True))
        rows = []
        full, states = run_syncs(ctx, worker.queues, org_id, conn_ids, JobType.FULL_SYNC, console)
        rows += [(names[c], j, states[j]) for c, j in zip(conn_ids, full, strict=True)]
        changes = Mutator(sandbox.store, seed=int(time.time())).step(40)
        kinds = {a: sum(1 for c in changes if c.action == a) for a in ("create", "update", "delete")}
        console.print(
            f"the sandbox EHR changed records: {kinds['create']} created, {kinds['update']} edited, "
            f"{kinds['delete']} deleted"
        )
        inc, states = run_syncs(ctx, worker.queues, org_id, conn_ids, JobType.INCREMENTAL_SYNC, console)
        rows += [(names[c], j, states[j]) for c, j in zip(conn_ids, inc, strict=True)]
        summary(ctx, rows, console)
        ok = all(s == JobState.COMPLETED.value for _, _, s in rows)
        if once:
            return 0 if ok else 1
        from holovitals.cli import _serve

        console.print(f"sandbox EHR stays up on {sandbox.url}; worker running; Ctrl-C to stop")
        _serve(ctx.settings.api_host, ctx.settings.api_port)
        return 0
    finally:
        worker.stop(graceful=False)
        sandbox.server.__exit__(None, None, None)
