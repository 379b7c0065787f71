"""`holovitals connect` run as a user runs it, against the live sandbox EHR, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from holovitals.store.models import Connection

CLI = [sys.executable, "-m", "holovitals.cli"]
BACKEND_CLIENT = "hv-backend"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(settings, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")}
    return base | {
        "HOLOVITALS_DATABASE_URL": settings.database_url,
        "HOLOVITALS_KEYRING_FILE": str(settings.keyring_file),
        "HOLOVITALS_HOME": str(tmp_path / "cli-home"),
        "COLUMNS": "400",
    }


def connections(ctx) -> list[Connection]:
    with ctx.sessions() as session:
        return list(session.execute(select(Connection)).scalars())


def test_connect_catches_the_redirect_on_a_loopback_port(settings, ctx, tenant, sandbox, tmp_path):
    port = free_port()
    client_id = f"hv-cli-{port}"
    sandbox.register_public(client_id, f"http://127.0.0.1:{port}/callback")
    args = ["connect", "--vendor", "epic", "--base-url", sandbox.epic, "--client-id", client_id]
    args += ["--port", str(port), "--no-browser", "--timeout", "30"]
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(settings, tmp_path)
    )
    try:
        url = ""
        for line in proc.stdout:  # be the user: copy the printed URL into a "browser"
            if line.startswith("http"):
                url = line.strip()
                break
        assert url, proc.stderr.read()
        at_ehr = httpx.get(url, follow_redirects=False, timeout=10)
        assert at_ehr.status_code == 302
        back_home = httpx.get(at_ehr.headers["location"], timeout=10)
        assert back_home.status_code == 200
        assert "return to the terminal" in back_home.text
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "connected Epic" in out and "patient pat-1" in out
    [conn] = connections(ctx)
    assert conn.status == "ACTIVE" and conn.client_id == client_id
    assert ctx.vault.open(conn, "access_token_enc")


def test_connect_backend_services_with_a_key_file(settings, ctx, tenant, sandbox, tmp_path):
    key_file = tmp_path / "backend.jwk.json"
    key_file.write_text(json.dumps(sandbox.backend_key))
    args = ["connect", "--vendor", "epic", "--base-url", sandbox.epic, "--client-id", BACKEND_CLIENT]
    args += ["--backend", "--private-key", str(key_file), "--alg", "RS384"]

    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(settings, tmp_path), timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert "connected Epic" in proc.stdout
    [conn] = connections(ctx)
    assert conn.auth_style == "backend"
    assert sandbox.backend_key["d"] not in proc.stdout + proc.stderr


def test_connect_to_an_unreachable_ehr_fails_with_one_line(settings, ctx, tenant, closed_port_url, tmp_path):
    args = ["connect", "--vendor", "generic", "--base-url", closed_port_url, "--client-id", "x", "--port", "0"]
    args += ["--no-browser", "--client-secret", "a-Secret-never-shown"]

    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(settings, tmp_path), timeout=60)

    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: SMART discovery at 127.0.0.1")
    assert "a-Secret-never-shown" not in proc.stdout + proc.stderr
    assert connections(ctx) == []


def test_backend_without_a_key_file_is_one_clear_line(settings, ctx, tenant, tmp_path):
    args = ["connect", "--vendor", "epic", "--base-url", "http://127.0.0.1:9/x", "--client-id", "x", "--backend"]

    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(settings, tmp_path), timeout=60)

    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: --backend needs --private-key FILE"
