"""Who is calling: API key authentication, permissions, and issuing keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.security.apikeys import generate_api_key, split_prefix, verify_api_key
from holovitals.security.redaction import register_sensitive
from holovitals.store.models import ApiKey, Role
from holovitals.store.types import utcnow


class AuthenticationError(Exception):
    """No usable credentials; the message is safe to show (it never echoes the key)."""


class UnknownRoleError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    org_id: str
    key_id: str
    role: str
    permissions: frozenset[str]
    user_id: str | None = None

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def authenticate(session: Session, presented: str | None, *, now: datetime | None = None) -> Principal:
    if not presented:
        raise AuthenticationError("missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
    register_sensitive(presented)
    prefix = split_prefix(presented)
    key = None
    if prefix is not None:
        key = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
    if key is None or not verify_api_key(presented, key.key_hash):
        raise AuthenticationError("invalid API key")
    now = now or utcnow()
    if key.revoked_at is not None:
        raise AuthenticationError("API key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthenticationError("API key has expired")
    return Principal(
        org_id=key.org_id,
        key_id=key.id,
        role=key.role.name,
        permissions=frozenset(p.name for p in key.role.permissions),
        user_id=key.user_id,
    )


def issue_api_key(
    session: Session,
    *,
    org_id: str,
    role: str,
    name: str,
    user_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    role_row = session.execute(select(Role).where(Role.name == role)).scalar_one_or_none()
    if role_row is None:
        raise UnknownRoleError(f"unknown role {role!r}")
    new = generate_api_key()
    key = ApiKey(
        org_id=org_id,
        role_id=role_row.id,
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        user_id=user_id,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, new.plaintext


def revoke_api_key(session: Session, org_id: str, key_id: str) -> bool:
    key = session.execute(select(ApiKey).where(ApiKey.id == key_id, ApiKey.org_id == org_id)).scalar_one_or_none()
    if key is None:
        return False
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return True
