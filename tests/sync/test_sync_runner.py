"""A sync brings home exactly what the EHR serves, resumes after a crash, and survives faults."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from holovitals.sandbox.changes import Mutator
from holovitals.store.models import Resource, ResourceVersion, SyncCheckpoint, SyncError, SyncJobEvent, SyncStatistic
from holovitals.sync import runner as runner_module
from holovitals.sync.jobs import JobType


def test_full_sync_stores_every_record_the_ehr_serves(harness, sandbox):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    _, state = harness.run(conn)
    assert state == "COMPLETED"
    assert harness.stored(conn) == sandbox.served()


def test_a_second_full_sync_creates_and_changes_nothing(harness, sandbox):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    harness.run(conn)
    job_id, state = harness.run(conn)
    assert state == "COMPLETED"
    with harness.ctx.sessions() as session:
        stat = session.execute(select(SyncStatistic).where(SyncStatistic.job_id == job_id)).scalar_one()
        versions = session.execute(select(func.count()).select_from(ResourceVersion)).scalar_one()
    assert (stat.created, stat.updated) == (0, 0)
    assert stat.unchanged == len(sandbox.served())
    assert versions == 0


def test_incremental_sync_brings_home_what_changed_and_only_that(harness, sandbox):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    harness.run(conn)
    changes = Mutator(sandbox.store, seed=5, types=["Observation", "Condition"]).step(12)
    job_id, state = harness.run(conn, JobType.INCREMENTAL_SYNC)
    assert state == "COMPLETED"
    # A search cannot see deletions: those come from bulk `deleted` files or a 404/410 on read.
    deleted = {(c.resource_type, c.id) for c in changes if c.action == "delete"}
    assert {k for k in harness.stored(conn) if k[:2] not in deleted} == sandbox.served()
    with harness.ctx.sessions() as session:
        stat = session.execute(select(SyncStatistic).where(SyncStatistic.job_id == job_id)).scalar_one()
    edited_or_new = [c for c in changes if c.action in ("update", "create")]
    assert stat.created + stat.updated == len(edited_or_new)
    assert stat.queried < len(sandbox.served()) / 2  # the _lastUpdated window kept it small


def test_a_crash_mid_sync_resumes_from_the_checkpoint_without_loss_or_duplicates(harness, sandbox, monkeypatch):
    conn = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"page_size": 50})
    reference = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"page_size": 50})
    harness.run(reference)
    real_commit = runner_module._Runner._commit_page
    commits = {"n": 0}

    def crash_after_five_pages(self, *args):
        commits["n"] += 1
        if commits["n"] == 6:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing below may swallow it
        return real_commit(self, *args)

    monkeypatch.setattr(runner_module._Runner, "_commit_page", crash_after_five_pages)
    job_id = harness.job(conn)
    with pytest.raises(KeyboardInterrupt):
        harness.drive(job_id)
    monkeypatch.setattr(runner_module._Runner, "_commit_page", real_commit)
    with harness.ctx.sessions() as session:
        partial = session.execute(select(func.count()).select_from(Resource).where(Resource.connection_id == conn))
        assert 0 < partial.scalar_one() < len(sandbox.served())
        resumable = session.execute(
            select(func.count()).select_from(SyncCheckpoint).where(SyncCheckpoint.job_id == job_id)
        ).scalar_one()
        assert resumable > 0
    # The reaper's view: the job is RUNNING with a dead worker; hand it back to the queue.
    from datetime import timedelta

    from holovitals.store.db import transaction
    from holovitals.sync.jobs import reap_stale

    with transaction(harness.ctx.sessions) as session:
        assert [j.id for j in reap_stale(session, timedelta(seconds=-1))] == [job_id]
    assert harness.drive(job_id) == "COMPLETED"
    assert harness.stored(conn) == harness.stored(reference) == sandbox.served()
    with harness.ctx.sessions() as session:
        states = [
            e.to_status
            for e in session.execute(
                select(SyncJobEvent).where(SyncJobEvent.job_id == job_id).order_by(SyncJobEvent.pk)
            ).scalars()
        ]
        assert states == ["QUEUED", "RUNNING", "QUEUED", "RUNNING", "COMPLETED"]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "429", "count": 3, "retry_after": 1},
        {"kind": "429", "count": 3},
        {"kind": "500", "count": 2},
        {"kind": "503", "count": 2},
        {"kind": "drop", "count": 2},
        {"kind": "paging-expiry", "count": 1, "after": 3},
    ],
    ids=["429-retry-after", "429-bare", "500", "503", "dropped-connection", "paging-session-expiry"],
)
def test_transient_faults_are_survived_and_the_sync_completes(harness, sandbox, fault):
    sandbox.faults.add(path_contains="/Observation", **fault)
    conn = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"page_size": 100})
    _, state = harness.run(conn)
    assert state == "COMPLETED"
    assert harness.stored(conn) == sandbox.served()


def test_a_page_that_keeps_failing_fails_the_job_with_every_reason_recorded(harness, sandbox):
    sandbox.faults.add(kind="500", count=None, path_contains="/Observation")
    conn = harness.connect(sandbox.url + "/fhir/r4")
    job_id, state = harness.run(conn)
    assert state == "FAILED"
    job = harness.job_row(job_id)
    assert job.attempts == harness.ctx.settings.sync_max_attempts
    assert "Observation" in job.error
    with harness.ctx.sessions() as session:
        errors = list(session.execute(select(SyncError).where(SyncError.job_id == job_id)).scalars())
    assert len(errors) == harness.ctx.settings.sync_max_attempts
    assert all(e.kind == "page_failed" and e.http_status == 500 and e.message for e in errors)
    # Everything else arrived: the failure cost one stream, not the sync.
    assert {k for k in sandbox.served() if k[0] != "Observation"} <= harness.stored(conn)


def test_a_malformed_record_is_recorded_and_the_rest_of_its_page_stored(harness, sandbox):
    sandbox.store.load(
        [
            {
                "resourceType": "Observation",
                "id": "broken-1",
                "status": "final",
                "code": {"text": "no subject"},
                "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
            }
        ]
    )
    conn = harness.connect(sandbox.url + "/fhir/r4")
    job_id, state = harness.run(conn)
    assert state == "COMPLETED"
    with harness.ctx.sessions() as session:
        errors = list(session.execute(select(SyncError).where(SyncError.job_id == job_id)).scalars())
    assert [(e.kind, e.resource_id) for e in errors] == [("invalid_resource", "broken-1")]
    assert "subject reference is missing" in errors[0].message
    assert harness.stored(conn) == sandbox.served() - {("Observation", "broken-1", "1")}


def test_documents_are_downloaded_once_into_a_content_addressed_store(harness, sandbox):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    job_id, _ = harness.run(conn)
    files = [p for p in harness.ctx.settings.files_dir.rglob("*") if p.is_file()]
    with harness.ctx.sessions() as session:
        stat = session.execute(select(SyncStatistic).where(SyncStatistic.job_id == job_id)).scalar_one()
    assert stat.documents > 0 and stat.bytes > 0
    import hashlib

    assert files and all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in files)
    assert any(p.read_bytes().startswith(b"%PDF-") for p in files)


def test_statistics_are_kept_per_job_and_rolled_up_per_day(harness, sandbox):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    harness.run(conn)
    harness.run(conn)
    with harness.ctx.sessions() as session:
        jobs = session.execute(select(SyncStatistic).where(SyncStatistic.period == "JOB")).scalars().all()
        day = session.execute(select(SyncStatistic).where(SyncStatistic.period == "DAY")).scalar_one()
    assert len(jobs) == 2
    assert day.created == sum(j.created for j in jobs) == len(sandbox.served()) + day.created - len(sandbox.served())
    assert day.unchanged == sum(j.unchanged for j in jobs)
    assert day.pages == sum(j.pages for j in jobs) > 0
