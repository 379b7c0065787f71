"""Reference data every installation starts with: roles, permissions, retention, a first OWNER key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.security.principals import issue_api_key
from holovitals.security.rbac import PERMISSION_DESCRIPTIONS, ROLE_PERMISSIONS
from holovitals.store.models import ApiKey, Organization, Permission, RetentionPolicy, Role

# Days. Audit logs: HIPAA's six years for compliance documentation, rounded up to seven as is
# common practice; medical records and documents: ten years, longer than most US state minimums.
RETENTION_POLICIES = {
    "AUDIT_LOGS": (7 * 365, "Audit trail of access to patient data"),
    "MEDICAL_RECORDS": (10 * 365, "Synced FHIR resources and their history"),
    "PATIENT_DOCUMENTS": (10 * 365, "Downloaded documents and attachments"),
    "SESSION_DATA": (30, "OAuth state, sessions and short-lived tokens"),
    "TEMPORARY_FILES": (7, "Bulk export downloads and other scratch files"),
}

DEFAULT_ORG_SLUG = "default"


@dataclass
class SeedResult:
    org_id: str
    owner_key: str | None  # plaintext, present only when this run created it
    roles: int
    permissions: int
    retention_policies: int


def seed(session: Session, *, org_name: str = "Default organization", create_owner_key: bool = True) -> SeedResult:
    """Idempotent: re-running adds what is missing and never issues a second first key."""
    perms = {p.name: p for p in session.execute(select(Permission)).scalars()}
    for perm, text in PERMISSION_DESCRIPTIONS.items():
        if perm.value not in perms:
            perms[perm.value] = Permission(name=perm.value, description=text)
            session.add(perms[perm.value])
    roles = {r.name: r for r in session.execute(select(Role)).scalars()}
    for role, granted in ROLE_PERMISSIONS.items():
        if role.value not in roles:
            roles[role.value] = Role(name=role.value, description=f"{role.value.title()} role")
            roles[role.value].permissions = [perms[p.value] for p in sorted(granted)]
            session.add(roles[role.value])
    existing_policies = set(session.execute(select(RetentionPolicy.name)).scalars())
    for name, (days, text) in RETENTION_POLICIES.items():
        if name not in existing_policies:
            session.add(RetentionPolicy(name=name, retention_days=days, description=text))
    org = session.execute(select(Organization).where(Organization.slug == DEFAULT_ORG_SLUG)).scalar_one_or_none()
    if org is None:
        org = Organization(name=org_name, slug=DEFAULT_ORG_SLUG)
        session.add(org)
    session.flush()
    owner_key = None
    if create_owner_key:
        has_owner = session.execute(
            select(ApiKey.id).join(Role).where(ApiKey.org_id == org.id, Role.name == "OWNER")
        ).first()
        if not has_owner:
            _, owner_key = issue_api_key(session, org_id=org.id, role="OWNER", name="first owner key")
    return SeedResult(
        org_id=org.id,
        owner_key=owner_key,
        roles=len(roles),
        permissions=len(perms),
        retention_policies=len(RETENTION_POLICIES),
    )
