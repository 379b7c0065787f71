"""The audit log: one append-only row per read or write of patient data."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.store.models import AuditEntry


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str  # read search create update delete export
    outcome: str  # success denied not_found error
    org_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    patient_id: str | None = None
    client_addr: str | None = None
    request_id: str | None = None
    detail: str | None = None


def record(session: Session, event: AuditEvent) -> AuditEntry:
    entry = AuditEntry(
        org_id=event.org_id,
        actor=event.actor,
        action=event.action,
        outcome=event.outcome,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        patient_id=event.patient_id,
        client_addr=event.client_addr,
        request_id=event.request_id,
        detail=(event.detail or None) and event.detail[:500],
    )
    session.add(entry)
    return entry


def tail(session: Session, *, org_id: str | None = None, limit: int = 20) -> list[AuditEntry]:
    """Newest entries last, as `tail` shows them."""
    stmt = select(AuditEntry).order_by(AuditEntry.pk.desc()).limit(limit)
    if org_id:
        stmt = stmt.where(AuditEntry.org_id == org_id)
    return list(reversed(session.execute(stmt).scalars().all()))
