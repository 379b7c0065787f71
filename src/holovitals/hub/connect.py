"""Connecting an EHR: SMART standalone launch (start, then complete), backend services, disconnect.

Network first, database last: discovery and the token exchange happen before any Connection row is
written, and the row is written in one transaction with its sealed tokens and its audit entry. So a
failure at any step (unreachable EHR, incomplete discovery, refused code, a token answer without
``access_token``) leaves no half-made connection behind.

A pending authorization is keyed by sha256(state) and consumed (deleted, committed) before the code
is redeemed: a state works once, whether the exchange then succeeds or not, which is also what the
EHR does with the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from holovitals.fhir.backend import JWT_BEARER, UnusableKey, backend_token, make_client_assertion
from holovitals.fhir.errors import FhirError, TokenError, host_of
from holovitals.fhir.smart import SmartConfiguration, TokenSet, build_authorize_request, discover, exchange_code
from holovitals.hub.connect_errors import (
    AuthorizationNotFound,
    CodeRejected,
    ConnectError,
    ConnectionNotFound,
    EhrUnavailable,
    InvalidConnectRequest,
)
from holovitals.hub.connect_inputs import (
    BackendRequest,
    ConnectRequest,
    StartedAuthorization,
    as_utc,
    check_http_url,
    choose_scopes,
    default_name,
    granted_scope_text,
    hash_state,
    load_private_jwk,
    profile_for,
    resolve_base_url,
)
from holovitals.hub.revocation import RevocationReport, revoke_tokens
from holovitals.security.secretbox import SecretBoxError
from holovitals.security.vault import Vault
from holovitals.store.db import transaction
from holovitals.store.models import Connection, OAuthAuthorization
from holovitals.store.types import utcnow
from holovitals.vendors.profile import VendorProfile

__all__ = [
    "BackendRequest",
    "ConnectRequest",
    "EhrConnector",
    "StartedAuthorization",
    "choose_scopes",
    "ehr_http_client",
    "hash_state",
    "resolve_base_url",
]

PENDING_TTL = timedelta(minutes=10)
# OAuth errors that mean "this client or request is wrong" rather than "this code is spent".
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request"})


class AuditHook(Protocol):
    """``Access.audit`` in the API; a function writing actor "cli" on the command line."""

    def __call__(
        self,
        action: str,
        outcome: str = "success",
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        patient_id: str | None = None,
        detail: str | None = None,
        session: Session | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class _Held:
    """What a connection holds, opened, for revocation after its row has been read."""

    base_url: str | None
    client_id: str | None
    auth_style: str | None
    tokens: dict[str, str]
    credentials: str | None
    backend: dict[str, Any]
    unreadable: bool = False


@dataclass(frozen=True)
class _Pending:
    """A consumed pending authorization, secrets opened."""

    vendor: str
    base_url: str
    tenant: str | None
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    name: str | None
    code_verifier: str
    client_secret: str | None


def ehr_http_client() -> httpx.AsyncClient:
    """Talks to EHRs: bounded timeouts, no redirects followed for us (an authorize URL is the browser's)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=False)


class EhrConnector:
    """The connect flow for one organization, used by the API and the CLI alike."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: Vault,
        http: httpx.AsyncClient,
        *,
        org_id: str,
        audit: AuditHook,
        clock: Callable[[], datetime] = utcnow,
        pending_ttl: timedelta = PENDING_TTL,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.http = http
        self.org_id = org_id
        self.audit = audit
        self.clock = clock
        self.pending_ttl = pending_ttl

    # -- SMART standalone launch ---------------------------------------------------------------------

    async def start(self, request: ConnectRequest) -> StartedAuthorization:
        """Discover, build the authorize URL, and remember the attempt (state hashed, verifier sealed)."""
        try:
            return await self._start(request)
        except ConnectError as exc:
            self.audit("connect", "error", resource_type="Connection", detail=exc.message)
            raise

    async def _start(self, request: ConnectRequest) -> StartedAuthorization:
        profile = profile_for(request.vendor)
        if not request.client_id.strip():
            raise InvalidConnectRequest("client_id is required")
        redirect_uri = check_http_url(request.redirect_uri, "the redirect URI")
        base_url = resolve_base_url(profile, request.base_url, request.tenant)
        scopes = choose_scopes(profile, request.scopes)
        config = await self._discover(base_url)
        try:  # refuses a server without an authorization endpoint or PKCE S256
            authorize = build_authorize_request(
                config, client_id=request.client_id, redirect_uri=redirect_uri, scopes=scopes, aud=base_url
            )
        except FhirError as exc:
            raise EhrUnavailable(f"cannot launch at {host_of(base_url)}: {exc.message}") from None
        now = self.clock()
        with transaction(self.sessions) as session:
            # Housekeeping: attempts nobody finished are useless after expiry; drop this org's.
            session.execute(
                delete(OAuthAuthorization).where(
                    OAuthAuthorization.org_id == self.org_id, OAuthAuthorization.expires_at <= now
                )
            )
            row = OAuthAuthorization(
                org_id=self.org_id,
                state_hash=hash_state(authorize.state),
                vendor=profile.key,
                base_url=base_url,
                tenant=request.tenant,
                client_id=request.client_id,
                redirect_uri=redirect_uri,
                scopes=" ".join(scopes),
                name=request.name,
                expires_at=now + self.pending_ttl,
                created_at=now,
            )
            session.add(row)
            session.flush()
            self.vault.seal(row, "code_verifier_enc", authorize.code_verifier)
            self.vault.seal(row, "client_secret_enc", request.client_secret or None)
            self.audit(
                "connect",
                resource_type="Connection",
                detail=f"authorization started: {profile.key} at {host_of(base_url)}",
                session=session,
            )
        return StartedAuthorization(authorize.url, authorize.state, row.expires_at)

    async def complete(self, *, code: str, state: str) -> Connection:
        """Redeem the code for the pending authorization named by ``state``; returns the new connection."""
        try:
            pending = self._take_pending(state)
            profile = profile_for(pending.vendor)
            config = await self._discover(pending.base_url)
            token = await self._exchange(config, pending, code)
            return self._create_connection(profile, pending, token)
        except ConnectError as exc:
            self.audit("create", "error", resource_type="Connection", detail=exc.message)
            raise

    def _take_pending(self, state: str) -> _Pending:
        now = self.clock()
        with transaction(self.sessions) as session:
            row = session.execute(
                select(OAuthAuthorization).where(
                    OAuthAuthorization.state_hash == hash_state(state), OAuthAuthorization.org_id == self.org_id
                )
            ).scalar_one_or_none()
            if row is None:
                pending = None
            else:
                taken = session.execute(delete(OAuthAuthorization).where(OAuthAuthorization.id == row.id)).rowcount
                live = taken == 1 and row.expires_at > now
                pending = self._open_pending(row) if live else None
        if pending is None:  # raised outside the transaction so a consumed or expired row stays deleted
            raise AuthorizationNotFound()
        return pending

    def _open_pending(self, row: OAuthAuthorization) -> _Pending | None:
        verifier = self.vault.open(row, "code_verifier_enc")
        if not verifier:  # a row without its verifier cannot complete
            return None
        return _Pending(
            vendor=row.vendor,
            base_url=row.base_url,
            tenant=row.tenant,
            client_id=row.client_id,
            redirect_uri=row.redirect_uri,
            scopes=tuple(row.scopes.split()),
            name=row.name,
            code_verifier=verifier,
            client_secret=self.vault.open(row, "client_secret_enc"),
        )

    async def _exchange(self, config: SmartConfiguration, pending: _Pending, code: str) -> TokenSet:
        host = host_of(config.token_endpoint)
        try:
            token = await exchange_code(
                self.http,
                config,
                code=code,
                code_verifier=pending.code_verifier,
                redirect_uri=pending.redirect_uri,
                client_id=pending.client_id,
                client_secret=pending.client_secret,
                requested_scopes=pending.scopes,
            )
        except TokenError as exc:
            raise self._token_failure(exc, host) from None
        except FhirError as exc:
            raise EhrUnavailable(f"token request to {host} failed: {exc.message}") from None
        except httpx.HTTPError as exc:
            raise EhrUnavailable(f"token request to {host} failed ({type(exc).__name__})") from None
        if not token.access_token:  # the SMART client refuses this already; a connection must never lack it
            raise EhrUnavailable(f"the token response from {host} has no access_token")
        return token

    @staticmethod
    def _token_failure(exc: TokenError, host: str) -> ConnectError:
        if exc.error == "invalid_grant":
            return CodeRejected(
                f"{host} refused the authorization code (expired, already used, or not issued for this "
                f"request): start the connection again. {exc.message}"
            )
        if exc.error in CLIENT_ERRORS:
            return InvalidConnectRequest(f"{host} refused the client: {exc.error}. {exc.message}")
        return EhrUnavailable(f"token request to {host} failed: {exc.message}")

    def _create_connection(self, profile: VendorProfile, pending: _Pending, token: TokenSet) -> Connection:
        patient = token.patient
        with transaction(self.sessions) as session:
            conn = Connection(
                org_id=self.org_id,
                kind="ehr",
                name=pending.name or default_name(profile, pending.base_url),
                vendor=profile.key,
                base_url=pending.base_url,
                client_id=pending.client_id,
                auth_style="confidential" if pending.client_secret else "public",
                scopes=granted_scope_text(token.scope, pending.scopes),
                status="ACTIVE",
                patient_id=patient,
                token_expires_at=as_utc(token.expires_at),
                sync_settings={"tenant": pending.tenant} if pending.tenant else {},
            )
            session.add(conn)
            session.flush()
            self.vault.seal(conn, "access_token_enc", token.access_token)
            self.vault.seal(conn, "refresh_token_enc", token.refresh_token or None)
            self.vault.seal(conn, "credentials_enc", pending.client_secret)
            self.audit(
                "create",
                resource_type="Connection",
                resource_id=conn.id,
                patient_id=patient,
                detail=f"connected {profile.key} at {host_of(pending.base_url)} ({conn.auth_style} client)",
                session=session,
            )
        return conn

    # -- SMART backend services ----------------------------------------------------------------------

    async def connect_backend(self, request: BackendRequest) -> Connection:
        """client_credentials with a signed assertion; the private key is stored sealed for later tokens."""
        try:
            return await self._connect_backend(request)
        except ConnectError as exc:
            self.audit("create", "error", resource_type="Connection", detail=exc.message)
            raise

    async def _connect_backend(self, request: BackendRequest) -> Connection:
        profile = profile_for(request.vendor)
        if not profile.auth.backend_supported:
            raise InvalidConnectRequest(f"{profile.name} does not offer SMART backend services")
        if request.alg not in profile.auth.assertion_algs:
            raise InvalidConnectRequest(
                f"{profile.name} accepts {', '.join(profile.auth.assertion_algs)} assertions, not {request.alg}"
            )
        if not request.client_id.strip():
            raise InvalidConnectRequest("client_id is required")
        jwk = load_private_jwk(request.private_key, alg=request.alg, kid=request.kid)
        base_url = resolve_base_url(profile, request.base_url, request.tenant)
        scopes = choose_scopes(profile, request.scopes, backend=True)
        config = await self._discover(base_url)
        host = host_of(config.token_endpoint)
        try:
            token = await backend_token(
                self.http,
                config,
                client_id=request.client_id,
                private_jwk=jwk,
                alg=request.alg,
                kid=jwk.get("kid"),
                scopes=scopes,
                jku=request.jku,
            )
        except UnusableKey as exc:
            raise InvalidConnectRequest(f"unusable private key: {exc}") from None
        except TokenError as exc:
            raise self._token_failure(exc, host) from None
        except FhirError as exc:
            raise EhrUnavailable(f"token request to {host} failed: {exc.message}") from None
        if not token.access_token:
            raise EhrUnavailable(f"the token response from {host} has no access_token")
        backend = {"kid": jwk.get("kid"), "alg": request.alg, "jku": request.jku}
        settings: dict[str, Any] = {"backend": backend}
        if request.tenant:
            settings["tenant"] = request.tenant
        with transaction(self.sessions) as session:
            conn = Connection(
                org_id=self.org_id,
                kind="ehr",
                name=request.name or default_name(profile, base_url),
                vendor=profile.key,
                base_url=base_url,
                client_id=request.client_id,
                auth_style="backend",
                scopes=granted_scope_text(token.scope, scopes),
                status="ACTIVE",
                token_expires_at=as_utc(token.expires_at),
                sync_settings=settings,
            )
            session.add(conn)
            session.flush()
            self.vault.seal(conn, "access_token_enc", token.access_token)
            self.vault.seal(conn, "credentials_enc", json.dumps(jwk))
            self.audit(
                "create",
                resource_type="Connection",
                resource_id=conn.id,
                detail=f"connected {profile.key} at {host_of(base_url)} (backend services)",
                session=session,
            )
        return conn

    # -- disconnect ----------------------------------------------------------------------------------

    async def disconnect(self, connection_id: str) -> RevocationReport:
        """Revoke at the EHR when it can (best effort), then delete the connection, its tokens and records."""
        with transaction(self.sessions) as session:
            held = self._held_credentials(self._get(session, connection_id))
        report = await self._revoke(held)
        with transaction(self.sessions) as session:
            session.delete(self._get(session, connection_id))
            self.audit(
                "delete",
                resource_type="Connection",
                resource_id=connection_id,
                detail=report.summary(),
                session=session,
            )
        return report

    def _held_credentials(self, conn: Connection) -> _Held:
        try:
            tokens = {
                hint: value
                for hint, value in (
                    ("refresh_token", self.vault.open(conn, "refresh_token_enc")),
                    ("access_token", self.vault.open(conn, "access_token_enc")),
                )
                if value
            }
            credentials = self.vault.open(conn, "credentials_enc")
        except SecretBoxError:  # a retired key must not make a connection undeletable
            return _Held(conn.base_url, conn.client_id, conn.auth_style, {}, None, {}, unreadable=True)
        backend = (conn.sync_settings or {}).get("backend") or {}
        return _Held(conn.base_url, conn.client_id, conn.auth_style, tokens, credentials, backend)

    async def _revoke(self, held: _Held) -> RevocationReport:
        if held.unreadable:
            return RevocationReport(failures=["the stored tokens could not be decrypted"])
        if not held.tokens or not held.base_url:
            return RevocationReport()
        try:
            config = await self._discover(held.base_url)
        except EhrUnavailable as exc:
            return RevocationReport(failures=[exc.message])
        endpoint = config.revocation_endpoint
        if not endpoint:
            return RevocationReport(failures=[f"{host_of(held.base_url)} has no revocation endpoint"])
        secret, extra = None, None
        if held.auth_style == "confidential":
            secret = held.credentials
        elif held.auth_style == "backend" and held.credentials:
            # The revocation endpoint authenticates clients as the token endpoint does: a fresh assertion.
            try:
                assertion = make_client_assertion(
                    json.loads(held.credentials),
                    client_id=held.client_id or "",
                    token_url=config.token_endpoint,
                    alg=held.backend.get("alg") or "RS384",
                    kid=held.backend.get("kid"),
                    jku=held.backend.get("jku"),
                )
            except (ValueError, UnusableKey):
                return RevocationReport(failures=["the stored private key cannot sign"])
            extra = {"client_assertion_type": JWT_BEARER, "client_assertion": assertion}
        return await revoke_tokens(
            self.http, endpoint, held.tokens, client_id=held.client_id, client_secret=secret, extra_form=extra
        )

    def _get(self, session: Session, connection_id: str) -> Connection:
        conn = session.execute(
            select(Connection).where(Connection.id == connection_id, Connection.org_id == self.org_id)
        ).scalar_one_or_none()
        if conn is None:  # another tenant's connection is indistinguishable from none at all
            raise ConnectionNotFound()
        return conn

    # -- shared --------------------------------------------------------------------------------------

    async def _discover(self, base_url: str) -> SmartConfiguration:
        host = host_of(base_url)
        try:
            return await discover(self.http, base_url)
        except FhirError as exc:
            raise EhrUnavailable(f"SMART discovery at {host} failed: {exc.message}") from None
        except httpx.HTTPError as exc:  # the SMART client types these; belt and braces for the odd one
            raise EhrUnavailable(f"SMART discovery at {host} failed: unreachable ({type(exc).__name__})") from None
