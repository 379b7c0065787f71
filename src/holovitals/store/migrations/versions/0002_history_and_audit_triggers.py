"""history and audit triggers

The database itself keeps resource history and refuses to change the audit log, so no code path
(a bulk upsert, a hand-written SQL fix, a future feature) can skip either.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_VERSION_COLUMNS = (
    "connection_id, resource_type, resource_id, version_id, last_updated, content_hash, body, "
    "deleted, source, fetched_at, local_version, superseded_at"
)
_OLD_VALUES = (
    "OLD.connection_id, OLD.resource_type, OLD.resource_id, OLD.version_id, OLD.last_updated, "
    "OLD.content_hash, OLD.body, OLD.deleted, OLD.source, OLD.fetched_at, OLD.local_version, NEW.fetched_at"
)

SQLITE_UP = [
    f"""
    CREATE TRIGGER trg_resources_history AFTER UPDATE ON resources
    WHEN OLD.content_hash IS NOT NEW.content_hash OR OLD.deleted IS NOT NEW.deleted
    BEGIN
        INSERT INTO resource_versions ({_VERSION_COLUMNS}) VALUES ({_OLD_VALUES});
    END
    """,
    """
    CREATE TRIGGER trg_audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
    """
    CREATE TRIGGER trg_audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS trg_resources_history",
    "DROP TRIGGER IF EXISTS trg_audit_log_no_update",
    "DROP TRIGGER IF EXISTS trg_audit_log_no_delete",
]

POSTGRES_UP = [
    f"""
    CREATE FUNCTION hv_resource_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.content_hash IS DISTINCT FROM NEW.content_hash OR OLD.deleted IS DISTINCT FROM NEW.deleted THEN
            INSERT INTO resource_versions ({_VERSION_COLUMNS}) VALUES ({_OLD_VALUES});
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER trg_resources_history AFTER UPDATE ON resources
    FOR EACH ROW EXECUTE FUNCTION hv_resource_history()
    """,
    """
    CREATE FUNCTION hv_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
    END $$
    """,
    """
    CREATE TRIGGER trg_audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION hv_audit_append_only()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS trg_audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS hv_audit_append_only()",
    "DROP TRIGGER IF EXISTS trg_resources_history ON resources",
    "DROP FUNCTION IF EXISTS hv_resource_history()",
]


def _run(statements: list[str]) -> None:
    for sql in statements:
        op.execute(sql)


def upgrade() -> None:
    _run(POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP)


def downgrade() -> None:
    _run(POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN)
