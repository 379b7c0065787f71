"""The queue: priorities, retries with back-off, one sync per connection at a time, and a worker
killed with SIGKILL whose job resumes elsewhere and ends with the same store as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from holovitals.config import in_ci, load_settings
from holovitals.store.db import transaction
from holovitals.store.models import SyncCheckpoint, SyncJob, SyncJobEvent
from holovitals.sync import runner as runner_module
from holovitals.sync.jobs import JobState, claim
from holovitals.sync.queue import SYNC_JOBS, build_queues
from holovitals.sync.tasks import enqueue_job, execute_job

REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if in_ci():
            pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); under CI=true this is a failure")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}; these tests run in CI")


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def queue_url(request, tmp_path) -> str:
    if request.param == "redis":
        redis_or_skip()
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        return REDIS_URL
    return f"sqlite:///{tmp_path / 'queue.db'}"


def test_higher_priority_jobs_are_taken_first(queue_url, tmp_path):
    queues = build_queues(load_settings(home=tmp_path, queue_url=queue_url))
    for job_id, priority in (
        ("job-low", "LOW"),
        ("job-critical", "CRITICAL"),
        ("job-background", "BACKGROUND"),
        ("job-normal", "NORMAL"),
        ("job-high", "HIGH"),
    ):
        enqueue_job(queues, job_id, priority)
    huey = queues.hueys[SYNC_JOBS]
    order = [huey.dequeue().args[0] for _ in range(5)]
    assert order == ["job-critical", "job-high", "job-normal", "job-low", "job-background"]


def test_failed_attempts_retry_after_2_4_8_seconds_then_fail(harness, sandbox, monkeypatch):
    object.__setattr__(harness.ctx.settings, "sync_retry_base_seconds", 2.0)
    object.__setattr__(harness.ctx.settings, "sync_max_attempts", 4)

    def broken(ctx, job_id, listener=None):
        raise ConnectionError("EHR unreachable")

    monkeypatch.setattr(runner_module, "run_job", broken)
    conn = harness.connect(sandbox.url + "/fhir/r4")
    job_id = harness.job(conn)
    with transaction(harness.ctx.sessions) as session:
        session.get(SyncJob, job_id).max_attempts = 4
    started = time.time()
    states = [execute_job(harness.ctx, harness.queues, job_id) for _ in range(4)]
    assert states == ["RETRYING", "RETRYING", "RETRYING", "FAILED"]
    # Huey queues a delayed task with its eta; the consumer holds it back until then.
    etas = sorted(t.eta.timestamp() - started for t in harness.queues.hueys[SYNC_JOBS].pending())
    assert [round(e) for e in etas] == [2, 4, 8]
    with harness.ctx.sessions() as session:
        reasons = [
            e.reason
            for e in session.execute(
                select(SyncJobEvent)
                .where(SyncJobEvent.job_id == job_id, SyncJobEvent.to_status == "RETRYING")
                .order_by(SyncJobEvent.pk)
            ).scalars()
        ]
        job = session.get(SyncJob, job_id)
    assert [r.rsplit("retrying in ", 1)[1] for r in reasons] == ["2 s", "4 s", "8 s"]
    assert job.error == "ConnectionError: EHR unreachable (after 4 attempts)"


def test_a_second_sync_of_a_busy_connection_waits_behind_the_first(harness, sandbox):
    conn = harness.connect(sandbox.url + "/fhir/r4")
    first, second = harness.job(conn), harness.job(conn)
    with transaction(harness.ctx.sessions) as session:
        assert claim(session, first, "worker-a") is not None
    assert execute_job(harness.ctx, harness.queues, second) == "waiting"
    assert harness.job_row(second).status == JobState.QUEUED
    [waiting] = harness.queues.hueys[SYNC_JOBS].pending()
    assert waiting.args == (second,) and waiting.eta is not None


def test_a_cancelled_job_stops_at_the_next_page(harness, sandbox):
    import threading

    sandbox.faults.add(kind="slow", delay_s=0.2, count=None)
    conn = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"page_size": 20})
    job_id = harness.job(conn)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("state", harness.drive(job_id)))
    thread.start()
    deadline = time.monotonic() + 30
    while harness.job_row(job_id).status != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    from holovitals.sync.jobs import record_transition

    with transaction(harness.ctx.sessions) as session:
        record_transition(session, session.get(SyncJob, job_id), JobState.CANCELLED, "test")
    thread.join(timeout=30)
    assert result["state"] == "CANCELLED"
    assert harness.job_row(job_id).status == "CANCELLED"
    assert len(harness.stored(conn)) < len(sandbox.served())


def _worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "holovitals.cli", "worker", "--queues", SYNC_JOBS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkilled_worker_job_resumes_and_matches_an_uninterrupted_sync(harness, sandbox, settings, tmp_path):
    # The embedded default pairs SQLite with Huey-on-SQLite; the scaled set-up PostgreSQL with Huey-on-Redis.
    if settings.effective_database_url.startswith("postgresql"):
        redis_or_skip()
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        queue_url = REDIS_URL
    else:
        queue_url = f"sqlite:///{tmp_path / 'worker-queue.db'}"
    reference = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"page_size": 10})
    assert harness.run(reference)[1] == "COMPLETED"

    sandbox.faults.add(kind="slow", delay_s=0.08, count=None)
    conn = harness.connect(sandbox.url + "/fhir/r4", sync_settings={"page_size": 10})
    job_id = harness.job(conn)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")} | {
        "HOLOVITALS_DATABASE_URL": settings.effective_database_url,
        "HOLOVITALS_QUEUE_URL": queue_url,
        "HOLOVITALS_HOME": str(settings.home),
        "HOLOVITALS_KEYRING_FILE": str(settings.effective_keyring_file),
        "HOLOVITALS_SYNC_LEASE_SECONDS": "8",
    }
    queues = build_queues(load_settings(home=settings.home, queue_url=queue_url))
    enqueue_job(queues, job_id, "NORMAL")
    first = _worker(env)
    try:
        deadline = time.monotonic() + 60
        while True:
            with harness.ctx.sessions() as session:
                pages = session.execute(
                    select(func.coalesce(func.sum(SyncCheckpoint.pages_done), 0)).where(SyncCheckpoint.job_id == job_id)
                ).scalar_one()
            if pages >= 5:
                break
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert harness.job_row(job_id).status == "RUNNING"  # as a dead worker leaves it
    assert harness.stored(conn) != harness.stored(reference)

    second = _worker(env)
    try:
        deadline = time.monotonic() + 120
        while harness.job_row(job_id).status != "COMPLETED":
            assert second.poll() is None, second.stderr.read()
            assert time.monotonic() < deadline, f"job ended {harness.job_row(job_id).status}"
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=15)
        except subprocess.TimeoutExpired:
            second.kill()
    assert harness.stored(conn) == harness.stored(reference) == sandbox.served()
    with harness.ctx.sessions() as session:
        events = [
            (e.to_status, e.reason or "")
            for e in session.execute(
                select(SyncJobEvent).where(SyncJobEvent.job_id == job_id).order_by(SyncJobEvent.pk)
            ).scalars()
        ]
    assert [s for s, _ in events] == ["QUEUED", "RUNNING", "QUEUED", "RUNNING", "COMPLETED"]
    assert "worker stopped responding" in events[2][1]


def test_a_job_queued_twice_is_claimed_by_one_worker_only(harness, sandbox):
    import threading

    conn = harness.connect(sandbox.url + "/fhir/r4")
    job_id = harness.job(conn)
    barrier = threading.Barrier(4)
    results: list[object] = []

    def worker(name: str) -> None:
        barrier.wait()
        with transaction(harness.ctx.sessions) as session:
            job = claim(session, job_id, name)
            results.append(job.attempts if job is not None else None)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results, key=lambda r: r is None) == [1, None, None, None]
    with harness.ctx.sessions() as session:
        running = [
            e
            for e in session.execute(select(SyncJobEvent).where(SyncJobEvent.job_id == job_id)).scalars()
            if e.to_status == "RUNNING"
        ]
    assert len(running) == 1
