"""Reference data: roles, permissions and the matrix between them, retention policies."""

from __future__ import annotations

from sqlalchemy import select

from holovitals.security.principals import authenticate
from holovitals.store.db import transaction
from holovitals.store.models import Permission, RetentionPolicy, Role
from holovitals.store.seed import seed


def test_seed_creates_roles_permissions_and_retention(ctx, tenant):
    with ctx.sessions() as session:
        roles = {r.name: {p.name for p in r.permissions} for r in session.execute(select(Role)).scalars()}
        perms = set(session.execute(select(Permission.name)).scalars())
        retention = dict(session.execute(select(RetentionPolicy.name, RetentionPolicy.retention_days)).all())
    assert set(roles) == {"OWNER", "ADMIN", "DOCTOR", "NURSE", "PATIENT", "SUPPORT", "ANALYST"}
    assert perms == {"READ_PHI", "WRITE_PHI", "DELETE_PHI", "MANAGE_USERS", "MANAGE_ROLES", "VIEW_AUDIT_LOGS",
                     "MANAGE_SECURITY", "MANAGE_EHR"}
    assert roles["OWNER"] == perms
    assert "READ_PHI" not in roles["SUPPORT"]
    assert roles["ANALYST"] == {"READ_PHI"}
    assert "DELETE_PHI" not in roles["PATIENT"]
    assert set(retention) == {"AUDIT_LOGS", "MEDICAL_RECORDS", "PATIENT_DOCUMENTS", "SESSION_DATA", "TEMPORARY_FILES"}
    assert retention["AUDIT_LOGS"] == 7 * 365


def test_first_owner_key_authenticates_as_owner(ctx, tenant):
    with ctx.sessions() as session:
        principal = authenticate(session, tenant.owner_key)
    assert principal.role == "OWNER"
    assert principal.org_id == tenant.org_id
    assert principal.can("MANAGE_SECURITY")


def test_seeding_twice_adds_nothing(ctx, tenant):
    with transaction(ctx.sessions) as session:
        again = seed(session)
    assert again.owner_key is None
    assert again.org_id == tenant.org_id
    with ctx.sessions() as session:
        assert len(session.execute(select(Role)).scalars().all()) == 7
