"""Real FHIR servers for the client tests.

sekmet-fhir (a FHIR R4 server nobody here wrote) pins its own dependencies, so it lives in its own
virtualenv under tests/.cache, created on first use. Two instances run for the session: an open
one (paging, writes, history, $export) and one that demands SMART Backend Services tokens, with
client keys registered the way a real server registers them (a JWKS per client), one of them made
by `sekmet keys generate`. Without network to install it, the tests skip locally and fail in CI.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from holovitals.config import in_ci
from holovitals.fhir.backend import generate_private_key, jwk_from_pem, public_jwks

SEKMET_VERSION = "0.1.1"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".cache"
SEKMET_VENV = CACHE / "sekmet-venv"
SEEDED_PATIENTS = 12


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _unavailable(why: str) -> None:
    if in_ci():
        pytest.fail(f"sekmet-fhir is not usable ({why}); under CI=true this is a failure", pytrace=False)
    pytest.skip(f"sekmet-fhir is not usable ({why}); these tests run in CI")


@pytest.fixture(scope="session")
def sekmet_bin() -> Path:
    """The `sekmet` executable, installing sekmet-fhir into its own virtualenv when missing."""
    exe = SEKMET_VENV / "bin" / "sekmet"
    marker = SEKMET_VENV / f".installed-{SEKMET_VERSION}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "sekmet.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two pytest runs must not build the venv at once
        if not marker.exists() or not exe.exists():
            try:
                if not (SEKMET_VENV / "bin" / "python").exists():
                    subprocess.run(
                        [sys.executable, "-m", "venv", str(SEKMET_VENV)], check=True, capture_output=True, timeout=180
                    )
                subprocess.run(
                    [
                        str(SEKMET_VENV / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "-q",
                        f"sekmet-fhir=={SEKMET_VERSION}",
                    ],
                    check=True,
                    capture_output=True,
                    timeout=900,
                )
            except subprocess.CalledProcessError as exc:
                tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
                _unavailable(f"pip install sekmet-fhir=={SEKMET_VERSION} failed: {' | '.join(tail)}")
            except (subprocess.TimeoutExpired, OSError) as exc:
                _unavailable(f"could not create its virtualenv: {exc}")
            marker.touch()
    return exe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    return free_port()


@dataclass
class SmartClientKey:
    client_id: str
    alg: str
    private_jwk: dict[str, Any] = field(repr=False)
    scopes: str


@dataclass
class SekmetServer:
    root: str
    workdir: Path
    process: subprocess.Popen[bytes]
    clients: dict[str, SmartClientKey]

    @property
    def base_url(self) -> str:
        return f"{self.root}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.root}/auth/token"


def _settings(port: int, workdir: Path, auth_types: list[str], clients: list[SmartClientKey]) -> Path:
    registered = [{"client_id": c.client_id, "jwks": public_jwks([c.private_jwk]), "scopes": c.scopes} for c in clients]
    settings = {
        "base_url": f"http://127.0.0.1:{port}/fhir",
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(workdir / "data"),
        "validation": {"inbound": "warn"},
        "simulator": {"enabled": False, "delay_seconds": 0.2},
        "log_inbound": False,
        "server_auth": {"types": auth_types, "smart_clients": registered, "token_lifetime": 300},
    }
    path = workdir / "settings.yaml"
    path.write_text(json.dumps(settings, indent=2))  # JSON is YAML
    return path


def _sekmet_keys(exe: Path, workdir: Path) -> SmartClientKey:
    """An RS384 client whose key pair comes from `sekmet keys generate` (its PEM and its JWKS)."""
    out = workdir / "keys" / "client.pem"
    subprocess.run(
        [str(exe), "keys", "generate", "--out", str(out), "--alg", "RS384"],
        check=True,
        capture_output=True,
        timeout=60,
        cwd=workdir,
    )
    registered = json.loads(out.with_suffix(".jwks.json").read_text())["keys"][0]
    private = jwk_from_pem(out.read_bytes(), alg="RS384", kid=registered["kid"])
    return SmartClientKey("sekmet-keys-client", "RS384", private, "system/*.read system/*.write")


def _start(exe: Path, workdir: Path, port: int, config: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(config)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SEKMET_CONFIG": str(config)},
    )


def _wait_ready(server: SekmetServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/metadata", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    log = (server.workdir / "serve.log").read_text(errors="replace")[-1500:]
    _unavailable(f"`sekmet serve` did not come up at {server.root}: {log}")


def _stop(server: SekmetServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def sekmet_servers(
    sekmet_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SekmetServer, SekmetServer]]:
    """(open, secured), started together; the open one seeded with patients by `sekmet seed`."""
    open_dir = tmp_path_factory.mktemp("sekmet-open")
    secured_dir = tmp_path_factory.mktemp("sekmet-secured")
    try:
        rs_client = _sekmet_keys(sekmet_bin, secured_dir)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as exc:
        _unavailable(f"`sekmet keys generate` failed: {exc}")
    es_client = SmartClientKey("holovitals-es384", "ES384", generate_private_key("ES384"), "system/*.*")
    narrow = SmartClientKey("patients-only", "ES384", generate_private_key("ES384"), "system/Patient.read")
    clients = [rs_client, es_client, narrow]
    servers = []
    for workdir, types in ((open_dir, ["none"]), (secured_dir, ["smart"])):
        port = free_port()
        config = _settings(port, workdir, types, clients)
        process = _start(sekmet_bin, workdir, port, config)
        servers.append(SekmetServer(f"http://127.0.0.1:{port}", workdir, process, {c.client_id: c for c in clients}))
    try:
        deadline = time.monotonic() + 60
        for server in servers:
            _wait_ready(server, deadline)
        seeded = subprocess.run(
            [str(sekmet_bin), "seed", "--count", str(SEEDED_PATIENTS), "--config", str(open_dir / "settings.yaml")],
            cwd=open_dir,
            capture_output=True,
            timeout=120,
        )
        if seeded.returncode != 0:
            _unavailable(f"`sekmet seed` failed: {seeded.stderr.decode(errors='replace')[-500:]}")
        yield servers[0], servers[1]
    finally:
        for server in servers:
            _stop(server)


@pytest.fixture(scope="session")
def sekmet(sekmet_servers: tuple[SekmetServer, SekmetServer]) -> SekmetServer:
    return sekmet_servers[0]


@pytest.fixture(scope="session")
def sekmet_secured(sekmet_servers: tuple[SekmetServer, SekmetServer]) -> SekmetServer:
    return sekmet_servers[1]
