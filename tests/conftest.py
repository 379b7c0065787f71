"""Shared fixtures: real SQLite and PostgreSQL databases, a seeded tenant, an API client.

PostgreSQL tests skip with a message when no server answers, except under CI=true, where a missing
server is a failure (CI must prove both databases).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from holovitals.config import in_ci, load_settings
from holovitals.context import AppContext
from holovitals.security.secretbox import Keyring
from holovitals.store import migrate
from holovitals.store.db import make_engine, transaction
from holovitals.store.models import Base
from holovitals.store.seed import seed

PG_ADMIN_URL = os.environ.get("HOLOVITALS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HOLOVITALS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent


def _unavailable(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why})"
    if in_ci():
        pytest.fail(f"{message}; under CI=true this is a failure, not a skip", pytrace=False)
    pytest.skip(f"{message}; these tests run in CI")


def postgres_available() -> str | None:
    """None when reachable, else the reason."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head; dropped at the end."""
    reason = postgres_available()
    if reason:
        _unavailable("PostgreSQL at 127.0.0.1:5432", reason)
    import psycopg

    name = f"hv_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _reset_postgres(url: str) -> None:
    """Back to an empty database at head (a test may have downgraded it)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # TRUNCATE skips row triggers, so the append-only audit log can be emptied between tests.
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: every store test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "holovitals.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, keyring: Keyring, monkeypatch: pytest.MonkeyPatch):
    keyring_path = tmp_path / "keyring.json"
    keyring.save(keyring_path)
    monkeypatch.delenv("HOLOVITALS_KEYRING", raising=False)
    return load_settings(
        home=tmp_path / "home",
        database_url=db_url,
        keyring_file=keyring_path,
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
    )


@pytest.fixture
def ctx(settings) -> Iterator[AppContext]:
    context = AppContext(settings)
    yield context
    context.close()


@dataclass
class Tenant:
    org_id: str
    owner_key: str


@pytest.fixture
def tenant(ctx: AppContext) -> Tenant:
    """The seeded default organization and its first OWNER key."""
    with transaction(ctx.sessions) as session:
        result = seed(session)
    assert result.owner_key
    return Tenant(org_id=result.org_id, owner_key=result.owner_key)


@pytest.fixture
def client(ctx: AppContext):
    from fastapi.testclient import TestClient

    from holovitals.api.app import create_app

    with TestClient(create_app(ctx), client=("203.0.113.7", 50000)) as test_client:
        yield test_client
