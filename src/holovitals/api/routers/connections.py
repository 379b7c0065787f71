"""Connections: list, read, register by hand, disconnect. The SMART connect flow is in ``ehr_connect.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.api.deps import Access, get_session, owned, require
from holovitals.api.problems import Problem
from holovitals.hub.connect import EhrConnector, ehr_http_client
from holovitals.hub.connect_errors import ConnectionNotFound
from holovitals.security.rbac import Permission
from holovitals.store.models import Connection

router = APIRouter(prefix="/api/ehr/connections", tags=["connections"])


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["ehr", "hl7v2", "file", "webhook"] = "ehr"
    vendor: str | None = Field(None, max_length=50)
    base_url: HttpUrl | None = None
    client_id: str | None = Field(None, max_length=200)
    auth_style: Literal["public", "confidential", "backend"] | None = None
    scopes: str | None = Field(None, max_length=4000)
    client_secret: str | None = Field(None, max_length=20000, description="Stored encrypted; never returned")
    patient_id: str | None = Field(None, max_length=64)
    sync_settings: dict[str, Any] = Field(default_factory=dict)


class ConnectionOut(BaseModel):
    id: str
    name: str
    kind: str
    vendor: str | None
    base_url: str | None
    client_id: str | None
    auth_style: str | None
    scopes: str | None
    status: str
    patient_id: str | None
    has_credentials: bool
    has_tokens: bool
    token_expires_at: datetime | None
    last_sync_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, c: Connection) -> ConnectionOut:
        return cls(
            id=c.id,
            name=c.name,
            kind=c.kind,
            vendor=c.vendor,
            base_url=c.base_url,
            client_id=c.client_id,
            auth_style=c.auth_style,
            scopes=c.scopes,
            status=c.status,
            patient_id=c.patient_id,
            has_credentials=c.credentials_enc is not None,
            has_tokens=c.access_token_enc is not None or c.refresh_token_enc is not None,
            token_expires_at=c.token_expires_at,
            last_sync_at=c.last_sync_at,
            created_at=c.created_at,
        )


async def get_http() -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP client for calls to EHRs (a dependency, so a test can point it elsewhere)."""
    async with ehr_http_client() as http:
        yield http


@router.post("", status_code=201)
def create_connection(
    body: ConnectionIn,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> ConnectionOut:
    conn = Connection(
        org_id=access.principal.org_id,
        name=body.name,
        kind=body.kind,
        vendor=body.vendor,
        base_url=str(body.base_url) if body.base_url else None,
        client_id=body.client_id,
        auth_style=body.auth_style,
        scopes=body.scopes,
        patient_id=body.patient_id,
        sync_settings=body.sync_settings,
        status="PENDING",
    )
    session.add(conn)
    session.flush()
    if body.client_secret:
        access.ctx.vault.seal(conn, "credentials_enc", body.client_secret)
    return ConnectionOut.of(conn)


@router.get("")
def list_connections(
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> list[ConnectionOut]:
    rows = session.execute(
        select(Connection).where(Connection.org_id == access.principal.org_id).order_by(Connection.created_at)
    ).scalars()
    return [ConnectionOut.of(c) for c in rows]


@router.get("/{connection_id}")
def get_connection(
    connection_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> ConnectionOut:
    return ConnectionOut.of(owned(session, access, Connection, connection_id, "connection"))


@router.delete("/{connection_id}", status_code=204)
async def delete_connection(
    connection_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    http: Annotated[httpx.AsyncClient, Depends(get_http)],
) -> Response:
    """Revokes the tokens at the EHR when it has a revocation endpoint (best effort: a failure is written
    to the audit log, never blocks), then deletes the connection, its tokens and credentials, and the
    records synced through it."""
    connector = EhrConnector(
        access.ctx.sessions, access.ctx.vault, http, org_id=access.principal.org_id, audit=access.audit
    )
    try:
        await connector.disconnect(connection_id)
    except ConnectionNotFound as exc:
        raise Problem(404, "Not Found", exc.message) from None
    return Response(status_code=204)
