"""Connecting an EHR over SMART on FHIR: start (get the authorize URL), then authorize (redeem the code).

List, read and disconnect live in ``connections.py``. Answers never carry a token, code verifier or
client secret; failures are problem documents whose detail says what to do next.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from holovitals.api.deps import Access, require
from holovitals.api.problems import Problem
from holovitals.api.routers.connections import ConnectionOut, get_http
from holovitals.hub.connect import ConnectRequest, EhrConnector
from holovitals.hub.connect_errors import AuthorizationNotFound, ConnectError
from holovitals.security.rbac import Permission

router = APIRouter(prefix="/api/ehr", tags=["ehr-connect"])

# A tenant or practice code ends up in a URL path: no slashes, no dots-only, nothing to escape.
TENANT_PATTERN = r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,199}$"


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ConnectIn(_Camel):
    vendor: str = Field(min_length=1, max_length=50, description="epic, oracle_health (cerner), athena, ...")
    # Plain strings, checked by the service: HttpUrl would normalise them (a trailing slash, a host's
    # case), and the EHR compares redirect_uri byte for byte with the registered one.
    base_url: str | None = Field(None, max_length=500, description="The FHIR base; default: the vendor's")
    tenant: str | None = Field(None, pattern=TENANT_PATTERN, description="Tenant or practice code")
    client_id: str = Field(min_length=1, max_length=200)
    redirect_uri: str = Field(min_length=1, max_length=1000)
    scopes: list[str] | str | None = Field(None, description="Default: the vendor profile's scopes")
    client_secret: str | None = Field(None, max_length=20000, description="Confidential clients; stored encrypted")
    name: str | None = Field(None, min_length=1, max_length=200)


class ConnectOut(_Camel):
    authorization_url: str
    state: str
    expires_at: datetime


class AuthorizeIn(_Camel):
    code: str = Field(min_length=1, max_length=4000)
    state: str = Field(min_length=1, max_length=1000)


def connector(access: Access, http: httpx.AsyncClient) -> EhrConnector:
    return EhrConnector(access.ctx.sessions, access.ctx.vault, http, org_id=access.principal.org_id, audit=access.audit)


def problem(exc: ConnectError) -> Problem:
    if isinstance(exc, AuthorizationNotFound):
        return Problem(400, "Bad Request", "state mismatch or expired: start the connection again")
    return Problem(exc.status, exc.title, exc.message)


def _scopes(value: list[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split() if isinstance(value, str) else [s.strip() for s in value]
    return tuple(s for s in items if s) or None


@router.post("/connect")
async def start_connect(
    body: ConnectIn,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    http: Annotated[httpx.AsyncClient, Depends(get_http)],
) -> ConnectOut:
    """Discover the EHR's SMART endpoints and return the URL to send the user's browser to."""
    request = ConnectRequest(
        vendor=body.vendor,
        client_id=body.client_id,
        redirect_uri=body.redirect_uri,
        base_url=body.base_url,
        tenant=body.tenant,
        scopes=_scopes(body.scopes),
        client_secret=body.client_secret,
        name=body.name,
    )
    try:
        started = await connector(access, http).start(request)
    except ConnectError as exc:
        raise problem(exc) from None
    return ConnectOut(authorization_url=started.authorization_url, state=started.state, expires_at=started.expires_at)


@router.post("/authorize", status_code=201)
async def complete_connect(
    body: AuthorizeIn,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    http: Annotated[httpx.AsyncClient, Depends(get_http)],
) -> ConnectionOut:
    """Redeem the code the EHR sent back to the redirect URI; creates an ACTIVE connection."""
    try:
        conn = await connector(access, http).complete(code=body.code, state=body.state)
    except ConnectError as exc:
        raise problem(exc) from None
    return ConnectionOut.of(conn)
