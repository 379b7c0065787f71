"""A connection's tokens during a sync: read from the vault, refreshed under a lock, rotated back.

Every refresh is written back sealed before the new token is used, so a rotating refresh token
(Oracle Health, NextGen Office) is never lost if the worker dies right after refreshing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import orjson

from holovitals.context import AppContext
from holovitals.fhir.smart import TokenManager, TokenSet, discover, refresh_tokens
from holovitals.store.db import transaction
from holovitals.store.models import Connection


class StoredTokens(TokenManager):
    """TokenManager whose refresher discovers the token endpoint and persists what comes back."""

    @classmethod
    def load(cls, ctx: AppContext, conn: Connection) -> StoredTokens:
        vault = ctx.vault
        access = vault.open(conn, "access_token_enc")
        refresh = vault.open(conn, "refresh_token_enc")
        secret = vault.open(conn, "credentials_enc")
        expires = conn.token_expires_at.timestamp() if conn.token_expires_at else None
        token_set = (
            TokenSet(
                access_token=access,
                expires_at=expires,
                refresh_token=refresh,
                scope=tuple((conn.scopes or "").split()),
                patient=conn.patient_id,
            )
            if access
            else None
        )
        connection_id, base_url, client_id, auth_style = conn.id, conn.base_url, conn.client_id, conn.auth_style

        async def refresher(current: TokenSet | None) -> TokenSet:
            async with httpx.AsyncClient(timeout=30) as http:
                config = await discover(http, base_url)
                if auth_style == "backend":
                    new = await _backend(http, config, client_id, secret, current)
                else:
                    if current is None and refresh:
                        current = TokenSet(access_token="", refresh_token=refresh)
                    new = await refresh_tokens(http, config, current, client_id=client_id, client_secret=secret)
            await asyncio.to_thread(_persist, ctx, connection_id, new)
            return new

        return cls(token_set, refresher)


async def _backend(http, config, client_id, secret, current):
    """Backend services: a fresh client-credentials token signed with the stored private key."""
    from holovitals.fhir.backend import backend_token

    key = orjson.loads(secret or "{}")
    jwk = key.get("jwk", key)
    return await backend_token(
        http,
        config,
        client_id=client_id,
        private_jwk=jwk,
        alg=key.get("alg", "RS384"),
        kid=jwk.get("kid"),
        scopes=key.get("scopes") or list(current.scope if current else ()),
        jku=key.get("jku"),
    )


def _persist(ctx: AppContext, connection_id: str, tokens: TokenSet) -> None:
    with transaction(ctx.sessions) as session:
        conn = session.get(Connection, connection_id)
        ctx.vault.seal(conn, "access_token_enc", tokens.access_token)
        if tokens.refresh_token:
            ctx.vault.seal(conn, "refresh_token_enc", tokens.refresh_token)
        conn.token_expires_at = datetime.fromtimestamp(tokens.expires_at, UTC) if tokens.expires_at else None
