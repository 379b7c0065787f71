"""Sync tests run against the sandbox EHR over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from holovitals.sandbox.app import create_sandbox_app
from holovitals.sandbox.generator import generate_population
from holovitals.sandbox.server import SandboxServer
from holovitals.sandbox.store import SandboxStore
from holovitals.store.db import transaction
from holovitals.store.models import Connection, Resource, SyncJob
from holovitals.sync.jobs import JobType, create_job
from holovitals.sync.queue import build_queues
from holovitals.sync.tasks import bind, execute_job

SYNCED_TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "AllergyIntolerance",
                "Immunization", "Procedure", "DiagnosticReport", "DocumentReference", "CarePlan")  # fmt: skip


@dataclass
class Sandbox:
    store: SandboxStore
    app: object
    url: str

    @property
    def faults(self):
        return self.app.state.faults

    def served(self) -> set[tuple[str, str, str]]:
        """(type, id, versionId) of every record a full sync must bring home."""
        out = set()
        for rtype in SYNCED_TYPES:
            for rec in self.store.scan(rtype):
                out.add((rtype, rec.id, str(rec.version)))
        return out


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    store = SandboxStore()
    store.load(generate_population(8, seed=3))
    app = create_sandbox_app(store)
    with SandboxServer(app) as server:
        yield Sandbox(store, app, server.url)


@dataclass
class SyncHarness:
    ctx: object
    org_id: str
    queues: object

    def connect(self, base_url: str, vendor: str = "generic", **fields) -> str:
        with transaction(self.ctx.sessions) as session:
            conn = Connection(org_id=self.org_id, name=f"{vendor} sandbox", vendor=vendor, base_url=base_url,
                              status="ACTIVE", **fields)  # fmt: skip
            session.add(conn)
            session.flush()
            return conn.id

    def job(self, connection_id: str, job_type: JobType = JobType.FULL_SYNC, **params) -> str:
        with transaction(self.ctx.sessions) as session:
            return create_job(session, org_id=self.org_id, connection_id=connection_id, job_type=job_type,
                              params=params, max_attempts=self.ctx.settings.sync_max_attempts).id  # fmt: skip

    def run(self, connection_id: str, job_type: JobType = JobType.FULL_SYNC, **params) -> tuple[str, str]:
        """Run a job to its end in this process, retries included; returns (job id, final state)."""
        job_id = self.job(connection_id, job_type, **params)
        return job_id, self.drive(job_id)

    def drive(self, job_id: str) -> str:
        state = execute_job(self.ctx, self.queues, job_id)
        while state == "RETRYING":
            state = execute_job(self.ctx, self.queues, job_id)
        return state

    def stored(self, connection_id: str) -> set[tuple[str, str, str]]:
        with self.ctx.sessions() as session:
            rows = session.execute(
                select(Resource.resource_type, Resource.resource_id, Resource.version_id).where(
                    Resource.connection_id == connection_id, Resource.deleted.is_(False),
                    Resource.resource_type.in_(SYNCED_TYPES))
            ).all()  # fmt: skip
        return {(t, i, v) for t, i, v in rows}

    def job_row(self, job_id: str) -> SyncJob:
        with self.ctx.sessions() as session:
            return session.get(SyncJob, job_id)


@pytest.fixture
def harness(ctx, tenant, monkeypatch) -> SyncHarness:
    # Retries in tests wait no time; the back-off arithmetic has its own test.
    object.__setattr__(ctx.settings, "sync_retry_base_seconds", 0.0)
    object.__setattr__(ctx.settings, "http_backoff_seconds", 0.01)
    queues = build_queues(ctx.settings)
    bind(ctx, queues)
    return SyncHarness(ctx, tenant.org_id, queues)


@pytest.fixture
def bulk_sandbox(tmp_path) -> Iterator[Sandbox]:
    from holovitals.sandbox.bulk import BulkExporter

    store = SandboxStore()
    store.load(generate_population(6, seed=4))
    app = create_sandbox_app(store, bulk=BulkExporter(store, files_dir=tmp_path / "bulk-files", retry_after=1))
    with SandboxServer(app) as server:
        yield Sandbox(store, app, server.url)
