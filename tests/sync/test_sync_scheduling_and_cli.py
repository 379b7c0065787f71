"""Scheduled incremental syncs, strict validation, and the sync CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from holovitals.store.db import transaction
from holovitals.store.models import Connection, SyncError, SyncJob
from holovitals.store.types import utcnow
from holovitals.sync.tasks import schedule_due_syncs


def test_scheduled_syncs_start_for_connections_whose_interval_has_passed(harness, sandbox):
    never = harness.connect(sandbox.url + "/fhir/r4")
    stale = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"interval_hours": 2})
    fresh = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"interval_hours": 24})
    with transaction(harness.ctx.sessions) as session:
        session.get(Connection, stale).last_sync_at = utcnow() - timedelta(hours=3)
        session.get(Connection, fresh).last_sync_at = utcnow() - timedelta(hours=3)
    assert schedule_due_syncs(harness.ctx, harness.queues) == 2
    with harness.ctx.sessions() as session:
        jobs = {j.connection_id: j for j in session.execute(select(SyncJob)).scalars()}
    assert set(jobs) == {never, stale}
    assert jobs[never].job_type == "FULL_SYNC" and jobs[stale].job_type == "INCREMENTAL_SYNC"
    assert {j.priority for j in jobs.values()} == {"BACKGROUND"}
    assert schedule_due_syncs(harness.ctx, harness.queues) == 0  # already queued: not twice


def test_strict_validation_records_what_the_fast_check_lets_through(harness, sandbox):
    sandbox.store.load(
        [
            {
                "resourceType": "Observation",
                "id": "bad-status",
                "status": "final",
                "code": {"text": "x"},
                "valueQuantity": {"value": "high", "unit": "mg"},
                "subject": {"reference": "Patient/p"},
                "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
            }
        ]
    )
    fast = harness.connect(sandbox.url + "/fhir/r4")
    strict = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"validation": "strict"})
    fast_job, _ = harness.run(fast, resource_types=["Observation"])
    strict_job, _ = harness.run(strict, resource_types=["Observation"])
    with harness.ctx.sessions() as session:

        def errors(job):
            return [
                (e.resource_id, e.message)
                for e in session.execute(select(SyncError).where(SyncError.job_id == job)).scalars()
            ]

        assert errors(fast_job) == []
        [(rid, message)] = errors(strict_job)
    assert rid == "bad-status" and "Observation.valueQuantity" in message


def test_sync_cli_runs_shows_status_and_lists_records(harness, sandbox, settings):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")} | {
        "HOLOVITALS_DATABASE_URL": settings.effective_database_url,
        "HOLOVITALS_HOME": str(settings.home),
        "HOLOVITALS_KEYRING_FILE": str(settings.effective_keyring_file),
        "COLUMNS": "200",
    }

    def hv(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "holovitals.cli", *args], capture_output=True, text=True, env=env, timeout=300
        )

    run = hv("sync", "run", "--connection", conn, "--full")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FULL_SYNC: COMPLETED" in run.stdout
    assert "resources/s" in run.stdout
    status = hv("sync", "status")
    assert conn in status.stdout and "COMPLETED" in status.stdout
    listing = hv("resources", "list", "--type", "Patient")
    patient = sandbox.store.scan("Patient")[0].id
    assert patient in listing.stdout
    shown = hv("resources", "show", "Patient", patient)
    assert shown.returncode == 0 and f'"id": "{patient}"' in shown.stdout
    missing = hv("resources", "show", "Patient", "nobody")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no Patient/nobody in the local store"
    unknown = hv("sync", "run", "--connection", "no-such-connection")
    assert unknown.returncode == 1 and "no connection with id or name" in unknown.stderr
