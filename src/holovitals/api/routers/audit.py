"""Reading the audit log (never writing it: that happens on every access)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.api.deps import Access, get_session, require
from holovitals.security.rbac import Permission
from holovitals.store.models import AuditEntry

router = APIRouter(prefix="/api/audit", tags=["security"])


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.pk,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "outcome": e.outcome,
        "resourceType": e.resource_type,
        "resourceId": e.resource_id,
        "patientId": e.patient_id,
        "clientAddr": e.client_addr,
        "requestId": e.request_id,
        "detail": e.detail,
    }


@router.get("")
def list_audit(
    access: Annotated[Access, Depends(require(Permission.VIEW_AUDIT_LOGS))],
    session: Annotated[Session, Depends(get_session)],
    patient: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="page backwards: entries with id < before")] = None,
) -> dict[str, Any]:
    stmt = select(AuditEntry).where(AuditEntry.org_id == access.principal.org_id)
    if patient:
        stmt = stmt.where(AuditEntry.patient_id == patient)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if before:
        stmt = stmt.where(AuditEntry.pk < before)
    rows = list(session.execute(stmt.order_by(AuditEntry.pk.desc()).limit(limit)).scalars())
    return {"items": [entry_dict(e) for e in rows], "next": rows[-1].pk if len(rows) == limit else None}
