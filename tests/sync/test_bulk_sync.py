"""BULK_SYNC: a $export brings everything home; the next one with _since brings changes and deletions."""

from __future__ import annotations

from sqlalchemy import select

from holovitals.sandbox.changes import Mutator
from holovitals.store.models import Resource, SyncCheckpoint, SyncStatistic
from holovitals.sync.jobs import JobType


def test_bulk_export_then_since_export_mirrors_the_ehr_including_deletions(harness, bulk_sandbox):
    conn = harness.connect(bulk_sandbox.url + "/fhir/r4")
    first, state = harness.run(conn, JobType.BULK_SYNC, poll_interval=0.1)
    assert state == "COMPLETED", harness.job_row(first).error
    assert harness.stored(conn) == bulk_sandbox.served()
    with harness.ctx.sessions() as session:
        cp = session.execute(select(SyncCheckpoint).where(SyncCheckpoint.stream.like("bulk:%"))).scalar_one()
    assert cp.bookmark is not None  # the manifest's transactionTime: the next _since

    changes = Mutator(bulk_sandbox.store, seed=9).step(15)
    deleted = {(c.resource_type, c.id) for c in changes if c.action == "delete"}
    job_id, state = harness.run(conn, JobType.BULK_SYNC, poll_interval=0.1)
    assert state == "COMPLETED", harness.job_row(job_id).error
    assert harness.stored(conn) == bulk_sandbox.served()
    with harness.ctx.sessions() as session:
        stat = session.execute(select(SyncStatistic).where(SyncStatistic.job_id == job_id)).scalar_one()
        tombstones = {
            (r.resource_type, r.resource_id)
            for r in session.execute(select(Resource).where(Resource.deleted.is_(True))).scalars()
        }
    assert tombstones == deleted
    assert stat.queried < 100  # only what changed since the first export
    assert stat.created + stat.updated == len([c for c in changes if c.action != "delete"])
