"""Roles, permissions and the matrix between them (docs/security.md shows the same table)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    DOCTOR = "DOCTOR"
    NURSE = "NURSE"
    PATIENT = "PATIENT"
    SUPPORT = "SUPPORT"
    ANALYST = "ANALYST"


class Permission(StrEnum):
    READ_PHI = "READ_PHI"
    WRITE_PHI = "WRITE_PHI"
    DELETE_PHI = "DELETE_PHI"
    MANAGE_USERS = "MANAGE_USERS"
    MANAGE_ROLES = "MANAGE_ROLES"
    VIEW_AUDIT_LOGS = "VIEW_AUDIT_LOGS"
    MANAGE_SECURITY = "MANAGE_SECURITY"
    MANAGE_EHR = "MANAGE_EHR"


P = Permission

# Least privilege: SUPPORT runs connections and reads audit trails to help users, but sees no PHI;
# ANALYST reads PHI for reporting but changes nothing; a PATIENT reads and writes their own record
# (writes go back to the EHR as the patient), never deletes.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset({P.READ_PHI, P.WRITE_PHI, P.DELETE_PHI, P.MANAGE_USERS, P.VIEW_AUDIT_LOGS, P.MANAGE_EHR}),
    Role.DOCTOR: frozenset({P.READ_PHI, P.WRITE_PHI}),
    Role.NURSE: frozenset({P.READ_PHI, P.WRITE_PHI}),
    Role.PATIENT: frozenset({P.READ_PHI, P.WRITE_PHI}),
    Role.SUPPORT: frozenset({P.VIEW_AUDIT_LOGS, P.MANAGE_EHR}),
    Role.ANALYST: frozenset({P.READ_PHI}),
}

PERMISSION_DESCRIPTIONS: dict[Permission, str] = {
    P.READ_PHI: "Read patient records and documents",
    P.WRITE_PHI: "Create and change patient records",
    P.DELETE_PHI: "Delete patient records",
    P.MANAGE_USERS: "Create, change and deactivate users and their API keys",
    P.MANAGE_ROLES: "Change which permissions a role carries",
    P.VIEW_AUDIT_LOGS: "Read the audit log",
    P.MANAGE_SECURITY: "Create and revoke API keys of any role, rotate encryption keys",
    P.MANAGE_EHR: "Connect EHRs, run and cancel syncs, manage integrations",
}


def permissions_for(role: str) -> frozenset[Permission]:
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()
