"""The sync API: jobs, queues, statistics, /api/ehr/sync, and their bad-input answers."""

from __future__ import annotations

import pytest

from holovitals.store.db import transaction
from holovitals.store.models import Connection, Organization
from holovitals.sync.tasks import execute_job


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def api(client, tenant, harness, sandbox):
    client.app.state.queues = harness.queues
    conn = harness.connect(sandbox.url + "/fhir/r4")
    return client, auth(tenant.owner_key), conn


def test_create_run_and_inspect_a_job(api, harness, sandbox):
    client, headers, conn = api
    res = client.post("/api/sync/jobs", headers=headers, json={"connectionId": conn, "type": "FULL_SYNC",
                                                              "priority": "HIGH"})  # fmt: skip
    assert res.status_code == 201
    job = res.json()
    assert (job["status"], job["type"], job["priority"]) == ("QUEUED", "FULL_SYNC", "HIGH")
    assert harness.queues.hueys["sync-jobs"].pending_count() == 1
    assert execute_job(harness.ctx, harness.queues, job["id"]) == "COMPLETED"
    detail = client.get(f"/api/sync/jobs/{job['id']}", headers=headers).json()
    assert [h["to"] for h in detail["history"]] == ["QUEUED", "RUNNING", "COMPLETED"]
    assert all(h["at"] for h in detail["history"])
    stored_rows = client.get(f"/api/ehr/resources?connectionId={conn}&limit=1", headers=headers).json()["total"]
    # Everything served, plus the Practitioners, Organizations and Locations those records reference.
    assert detail["statistics"]["created"] == stored_rows > len(sandbox.served())
    listed = client.get(f"/api/sync/jobs?status=COMPLETED&connectionId={conn}", headers=headers).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert client.get("/api/sync/jobs?status=FAILED", headers=headers).json()["total"] == 0
    stats = client.get("/api/sync/statistics", headers=headers).json()
    assert stats["totals"]["created"] == stored_rows
    resources = client.get("/api/ehr/resources?type=Patient", headers=headers).json()
    assert resources["total"] == len(sandbox.store.scan("Patient"))


def test_cancel_then_retry(api, harness):
    client, headers, conn = api
    job = client.post("/api/sync/jobs", headers=headers, json={"connectionId": conn}).json()
    cancelled = client.delete(f"/api/sync/jobs/{job['id']}", headers=headers)
    assert cancelled.json()["status"] == "CANCELLED"
    assert execute_job(harness.ctx, harness.queues, job["id"]) == "CANCELLED"  # the queued task does nothing
    assert client.delete(f"/api/sync/jobs/{job['id']}", headers=headers).status_code == 409
    retried = client.post(f"/api/sync/jobs/{job['id']}/retry", headers=headers).json()
    assert retried["status"] == "QUEUED"
    assert execute_job(harness.ctx, harness.queues, job["id"]) == "COMPLETED"
    assert client.post(f"/api/sync/jobs/{job['id']}/retry", headers=headers).status_code == 409


def test_ehr_sync_aliases(api, harness):
    client, headers, conn = api
    started = client.post("/api/ehr/sync", headers=headers, json={"connectionId": conn})
    assert started.status_code == 202
    sync_id = started.json()["syncId"]
    execute_job(harness.ctx, harness.queues, sync_id)
    assert client.get(f"/api/ehr/sync?syncId={sync_id}", headers=headers).json()["status"] == "COMPLETED"
    by_conn = client.get(f"/api/ehr/sync?connectionId={conn}", headers=headers).json()
    assert by_conn["lastSyncAt"] and [j["id"] for j in by_conn["jobs"]] == [sync_id]
    assert client.get("/api/ehr/sync", headers=headers).status_code == 422


def test_queue_depths(api):
    client, headers, conn = api
    client.post("/api/sync/jobs", headers=headers, json={"connectionId": conn})
    queues = client.get("/api/sync/queues", headers=headers).json()["queues"]
    assert set(queues) == {"sync-jobs", "webhook-processing", "conflict-resolution", "data-transformation"}
    assert queues["sync-jobs"]["waiting"] == 1
    assert set(queues["sync-jobs"]) == {"waiting", "active", "completed", "failed"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"connectionId": "x", "type": "SOMETIMES_SYNC"}, "body.type"),
        ({"connectionId": "x", "priority": "URGENT"}, "body.priority"),
        ({"type": "FULL_SYNC"}, "body.connectionId"),
    ],
)
def test_invalid_job_type_or_priority_is_422_with_the_path(api, body, path):
    client, headers, _ = api
    res = client.post("/api/sync/jobs", headers=headers, json=body)
    assert res.status_code == 422
    assert res.json()["errors"][0]["path"] == path


def test_unknown_connection_or_job_is_404(api, harness):
    client, headers, _ = api
    assert client.post("/api/sync/jobs", headers=headers, json={"connectionId": "nope"}).status_code == 404
    assert client.get("/api/sync/jobs/nope", headers=headers).status_code == 404
    assert client.delete("/api/sync/jobs/nope", headers=headers).status_code == 404
    assert client.post("/api/sync/jobs/nope/retry", headers=headers).status_code == 404
    assert harness.queues.hueys["sync-jobs"].pending_count() == 0


def test_another_tenants_connection_is_404(api, ctx, harness):
    client, headers, _ = api
    with transaction(ctx.sessions) as session:
        other = Organization(name="Other", slug="other-org")
        session.add(other)
        session.flush()
        conn = Connection(org_id=other.id, name="theirs", vendor="generic", base_url="http://x", status="ACTIVE")
        session.add(conn)
        session.flush()
        conn_id = conn.id
    assert client.post("/api/sync/jobs", headers=headers, json={"connectionId": conn_id}).status_code == 404


def test_a_job_for_a_revoked_connection_fails_at_once_with_the_reason(api, ctx, harness):
    client, headers, conn = api
    with transaction(ctx.sessions) as session:
        session.get(Connection, conn).status = "REVOKED"
    job = client.post("/api/sync/jobs", headers=headers, json={"connectionId": conn}).json()
    assert job["status"] == "FAILED"
    assert "revoked" in job["error"]
    assert harness.queues.hueys["sync-jobs"].pending_count() == 0
