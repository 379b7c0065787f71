"""A connection opened for syncing: its base URL, its token, its vendor's pacing, one pooled client."""

from __future__ import annotations

from dataclasses import dataclass

from holovitals.context import AppContext
from holovitals.fhir.http import RetryPolicy, Transport
from holovitals.fhir.ratelimit import RateLimit
from holovitals.store.models import Connection
from holovitals.sync.tasks import FatalSyncError
from holovitals.vendors.profile import VendorProfile


@dataclass
class Source:
    transport: Transport

    async def aclose(self) -> None:
        await self.transport.aclose()


def token_provider(ctx: AppContext, conn: Connection):
    """The connection's access token, refreshed through SMART when it has a refresh token."""
    from holovitals.sync.tokens import StoredTokens

    if conn.access_token_enc is None and conn.refresh_token_enc is None:
        if conn.auth_style in (None, "none", "open"):
            return None  # an open server (the sandbox without auth, a test server)
        raise FatalSyncError("the connection holds no tokens; connect it again")
    return StoredTokens.load(ctx, conn)


def open_source(ctx: AppContext, connection_id: str, profile: VendorProfile) -> Source:
    with ctx.sessions() as session:
        conn = session.get(Connection, connection_id)
        auth = token_provider(ctx, conn)
    per_minute = profile.rate_limit.requests_per_minute
    rate = RateLimit(per_minute=per_minute) if per_minute else None
    statuses = (profile.versioning.conflict_status,) if profile.versioning.conflict_status else (409, 412)
    retry = RetryPolicy(max_attempts=ctx.settings.http_max_attempts, base=ctx.settings.http_backoff_seconds)
    transport = Transport(
        auth=auth, rate_limit=rate, retry=retry, version_conflict_statuses=tuple({*statuses, 409, 412})
    )
    return Source(transport=transport)
