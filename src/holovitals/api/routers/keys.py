"""API keys: issued once, listed without secrets, revoked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.api.deps import Access, get_session, require
from holovitals.api.problems import Problem
from holovitals.security.principals import issue_api_key, revoke_api_key
from holovitals.security.rbac import Permission, Role
from holovitals.store.models import ApiKey

router = APIRouter(prefix="/api/keys", tags=["security"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Role
    expires_at: datetime | None = None


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> KeyOut:
        return cls(
            id=k.id,
            name=k.name,
            role=k.role.name,
            prefix=k.prefix,
            created_at=k.created_at,
            expires_at=k.expires_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself. Shown this once; only its hash is kept.")


@router.post("", status_code=201)
def create_key(
    body: KeyIn,
    access: Annotated[Access, Depends(require(Permission.MANAGE_SECURITY))],
    session: Annotated[Session, Depends(get_session)],
) -> NewKeyOut:
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise Problem(422, "Unprocessable Content", "body.expires_at: needs a time zone")
    key, plaintext = issue_api_key(
        session, org_id=access.principal.org_id, role=body.role.value, name=body.name, expires_at=body.expires_at
    )
    session.refresh(key)
    access.audit("create", resource_type="ApiKey", resource_id=key.id, session=session)
    return NewKeyOut(**KeyOut.of(key).model_dump(), key=plaintext)


@router.get("")
def list_keys(
    access: Annotated[Access, Depends(require(Permission.MANAGE_SECURITY))],
    session: Annotated[Session, Depends(get_session)],
) -> list[KeyOut]:
    rows = session.execute(select(ApiKey).where(ApiKey.org_id == access.principal.org_id)).scalars()
    return [KeyOut.of(k) for k in rows]


@router.delete("/{key_id}", status_code=204)
def revoke_key(
    key_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_SECURITY))],
    session: Annotated[Session, Depends(get_session)],
) -> Response:
    if not revoke_api_key(session, access.principal.org_id, key_id):
        raise Problem(404, "Not Found", "no API key with that id")
    access.audit("revoke", resource_type="ApiKey", resource_id=key_id, session=session)
    return Response(status_code=204)
