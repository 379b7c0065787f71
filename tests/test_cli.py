"""The `holovitals` command line, run as a user runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from holovitals.store import migrate
from holovitals.store.db import make_engine

CLI = [sys.executable, "-m", "holovitals.cli"]
HEAD = sorted(p.name.split("_")[0] for p in migrate.MIGRATIONS_DIR.glob("versions/0*.py"))[-1]
KEY = re.compile(r"hv_[0-9a-f]{12}_[A-Za-z0-9_\-]+")


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    engine = make_engine(db_url)
    migrate.downgrade(engine, "base")  # start from an empty database, as a new install does
    engine.dispose()
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")}
    return base | {"HOLOVITALS_DATABASE_URL": db_url, "HOLOVITALS_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def hv(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_every_command_has_help(env):
    for args in (
        ["--help"],
        ["db", "--help"],
        ["db", "upgrade", "--help"],
        ["keys", "rotate", "--help"],
        ["audit", "tail", "--help"],
        ["config", "show", "--help"],
        ["serve", "--help"],
        ["demo", "--help"],
    ):
        proc = hv(env, *args)
        assert proc.returncode == 0, args
        assert "Usage" in proc.stdout


def test_upgrade_seed_downgrade_on_a_fresh_database(env):
    up = hv(env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"database at revision {HEAD}" in up.stdout
    seeded = hv(env, "db", "seed")
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 7 roles, 8 permissions, 5 retention policies" in seeded.stdout
    assert len(KEY.findall(seeded.stdout)) == 1
    again = hv(env, "db", "seed")
    assert KEY.findall(again.stdout) == []  # the first key is printed once, never re-issued
    down = hv(env, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "database at revision base" in down.stdout


def test_commands_on_an_unmigrated_database_say_what_to_run(env):
    proc = hv(env, "audit", "tail")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: database schema is at base, expected {HEAD}: run `holovitals db upgrade`"


def test_an_unreachable_database_is_one_clear_line(env):
    env = env | {"HOLOVITALS_DATABASE_URL": "postgresql://nobody:secretpw@127.0.0.1:1/none"}
    proc = hv(env, "db", "upgrade")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: cannot reach the postgresql database")
    assert "secretpw" not in proc.stderr


def test_keys_rotate_and_retire(env):
    assert hv(env, "db", "upgrade").returncode == 0
    assert hv(env, "db", "seed").returncode == 0
    first = re.search(r"k\d{14}[0-9a-f]{4}", hv(env, "keys", "list").stdout).group(0)
    rotated = hv(env, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 0 secrets" in rotated.stdout
    retired = hv(env, "keys", "retire", first)
    assert retired.returncode == 0, retired.stderr
    assert first not in hv(env, "keys", "list").stdout


def test_a_missing_keyring_is_a_clear_error(env):
    assert hv(env, "db", "upgrade").returncode == 0
    proc = hv(env, "keys", "rotate")
    assert proc.returncode == 1
    assert "no keyring at" in proc.stderr and "holovitals keys init" in proc.stderr


def test_demo_once_connects_both_flavours_and_syncs_full_then_incremental(env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [*CLI, "demo", "--once", "--patients", "3"],
        capture_output=True,
        text=True,
        env=env | {"HOLOVITALS_SANDBOX_PORT": str(port)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(KEY.findall(proc.stdout)) == 1
    assert "connected Epic sandbox (demo): SMART PKCE launch complete" in proc.stdout
    assert "connected Oracle Health sandbox (demo): SMART PKCE launch complete" in proc.stdout
    table = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert [line.split("│")[2].strip() for line in table] == ["full", "full", "incremental", "incremental"]
    assert all("completed" in line for line in table)
    assert "Traceback" not in proc.stderr
