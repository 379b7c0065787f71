"""Request dependencies: database session, caller authentication, permission checks, the audit hook."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.api.problems import Problem
from holovitals.context import AppContext
from holovitals.security.audit import AuditEvent, record
from holovitals.security.principals import AuthenticationError, Principal, authenticate
from holovitals.security.rbac import Permission
from holovitals.store.db import transaction
from holovitals.store.types import utcnow

T = TypeVar("T")

PHI_PERMISSIONS = {Permission.READ_PHI, Permission.WRITE_PHI, Permission.DELETE_PHI}


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def get_session(ctx: AppContext = Depends(get_ctx)) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with transaction(ctx.sessions) as session:
        yield session


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    return rid


def get_principal(request: Request, ctx: AppContext = Depends(get_ctx)) -> Principal:
    presented = _presented_key(request)
    try:
        with transaction(ctx.sessions) as session:
            principal = authenticate(session, presented)
            from holovitals.store.models import ApiKey

            session.get(ApiKey, principal.key_id).last_used_at = utcnow()
    except AuthenticationError as exc:
        raise Problem(401, "Unauthorized", str(exc)) from None
    request.state.principal = principal
    return principal


@dataclass
class Access:
    """The caller plus a way to write audit rows that survive a failed request."""

    principal: Principal
    ctx: AppContext
    request: Request
    pending: list[AuditEvent] = field(default_factory=list)

    def audit(
        self,
        action: str,
        outcome: str = "success",
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        patient_id: str | None = None,
        detail: str | None = None,
        session: Session | None = None,
    ) -> None:
        """Record one access. Pass the request's session for a successful access so the change and its
        audit row commit together. Without one (a denied or failed access) the row is written in its
        own transaction once the request's transaction has ended, so it survives the rollback, and it
        never waits on the write lock the request itself holds (SQLite).
        """
        event = AuditEvent(
            org_id=self.principal.org_id,
            actor=self.principal.actor,
            action=action,
            outcome=outcome,
            resource_type=resource_type,
            resource_id=resource_id,
            patient_id=patient_id,
            client_addr=client_addr(self.request),
            request_id=request_id(self.request),
            detail=detail,
        )
        if session is not None:
            record(session, event)
        else:
            self.pending.append(event)

    def flush(self) -> None:
        if not self.pending:
            return
        events, self.pending = self.pending, []
        with transaction(self.ctx.sessions) as own:
            for event in events:
                record(own, event)


def owned(session: Session, access: Access, model: type[T], object_id: str, noun: str) -> T:
    """The caller's tenant's row of ``model`` with that id, else 404.

    Another tenant's row is indistinguishable from none at all.
    """
    row = session.execute(
        select(model).where(model.id == object_id, model.org_id == access.principal.org_id)  # type: ignore[attr-defined]
    ).scalar_one_or_none()
    if row is None:
        raise Problem(404, "Not Found", f"no {noun} with that id")
    return row


def require(permission: Permission) -> Callable[..., Iterator[Access]]:
    """Dependency factory: the caller must hold ``permission``; PHI denials are audited.

    Routes declare this before their session, so FastAPI tears it down after the session: pending
    audit rows are written once the request's own transaction has committed or rolled back.
    """

    def dependency(
        request: Request, principal: Principal = Depends(get_principal), ctx: AppContext = Depends(get_ctx)
    ) -> Iterator[Access]:
        access = Access(principal=principal, ctx=ctx, request=request)
        if not principal.can(permission):
            if permission in PHI_PERMISSIONS:
                access.audit("access", "denied", detail=f"{request.method} {request.url.path} needs {permission}")
                access.flush()
            raise Problem(403, "Forbidden", f"this API key's role ({principal.role}) lacks {permission}")
        try:
            yield access
        finally:
            access.flush()

    return dependency
