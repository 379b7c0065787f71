"""`holovitals serve` as a real process over loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from holovitals.store.db import transaction
from holovitals.store.seed import seed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_readiness_and_authenticated_requests(ctx, settings):
    with transaction(ctx.sessions) as session:
        key = seed(session).owner_key
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")} | {
        "HOLOVITALS_DATABASE_URL": settings.effective_database_url,
        "HOLOVITALS_HOME": str(settings.home),
        "HOLOVITALS_KEYRING_FILE": str(settings.effective_keyring_file),
        "HOLOVITALS_QUEUE_URL": settings.effective_queue_url,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "holovitals.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        assert httpx.get(f"{base}/api/ehr/resources").status_code == 401
        res = httpx.get(f"{base}/api/ehr/resources", headers={"X-API-Key": key})
        assert res.status_code == 200 and res.json()["total"] == 0
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert key not in output
