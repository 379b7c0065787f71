"""Migrations: up, down and up again on both databases, and in step with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from holovitals.store import migrate
from holovitals.store.db import make_engine
from holovitals.store.models import Base


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(db_url):
    engine = make_engine(db_url)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert "resources" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    assert {
        "resources",
        "resource_versions",
        "audit_log",
        "connections",
        "sync_jobs",
        "hl7_messages",
        "webhook_configs",
        "conflicts",
        "sync_checkpoints",
        "alerts",
        "integrations",
    } <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_audit_log_refuses_updates_and_deletes(db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (actor, action, outcome, at) VALUES ('t', 'read', 'success', CURRENT_TIMESTAMP)"
            )
        )
    for sql in ("UPDATE audit_log SET outcome = 'denied'", "DELETE FROM audit_log"):
        try:
            with engine.begin() as conn:
                conn.execute(text(sql))
        except Exception as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{sql} was allowed")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT outcome FROM audit_log")).scalar_one() == "success"
    engine.dispose()
