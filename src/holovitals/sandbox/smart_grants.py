"""The token endpoint (authorization_code, refresh_token, client_credentials), revocation, introspection.

Follows the OAuth 2.0 Security BCP where it matters to a client under test: a code is spent by the
first attempt to redeem it, and a second attempt revokes everything issued from it; refresh tokens
rotate, and presenting a rotated one revokes the whole grant. Every check holds the store's lock, so
two racing redemptions of one code or refresh token yield exactly one success.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from holovitals.logs import get_logger
from holovitals.sandbox.smart_authorize import normalise_base
from holovitals.sandbox.smart_clients import ClientAuthenticator, ClientRegistration
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.smart_scopes import covers_all, grant_scopes, parse_resource_scope, split_scope
from holovitals.sandbox.smart_tokens import Grant, TokenStore

log = get_logger(__name__)

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1


def s256(verifier: str) -> str:
    """PKCE S256: base64url(sha256(verifier)), unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class TokenEndpoint:
    """Issues, rotates, revokes and describes tokens; the signing key for id_tokens lives here."""

    def __init__(self, clients: ClientAuthenticator, tokens: TokenStore, clock: Callable[[], float], *, lifetime: int):
        self._clients = clients
        self._tokens = tokens
        self._clock = clock
        self.token_lifetime = lifetime
        self._lock = tokens.lock
        self._signing_key: RSAKey | None = None
        self._key_lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        """Public key that signs id_tokens."""
        return {"keys": [self._id_token_key().as_dict(private=False)]}

    def token(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> dict[str, Any]:
        """The token endpoint: authorization_code, refresh_token and client_credentials grants."""
        base = normalise_base(base_url)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise SmartError(400, "invalid_request", "grant_type is required")
        handlers = {
            "authorization_code": self._authorization_code,
            "refresh_token": self._refresh,
            "client_credentials": self._client_credentials,
        }
        if grant_type not in handlers:
            raise SmartError(400, "unsupported_grant_type", "grant_type is not supported")
        client, method = self._clients.authenticate(form, authorization, f"{base}/auth/token")
        try:
            body = handlers[grant_type](form, client, method, base)
        except SmartError as exc:
            log.info("smart.token_refused", client_id=client.client_id, grant_type=grant_type, error=exc.code)
            raise
        log.info("smart.token_issued", client_id=client.client_id, grant_type=grant_type, scope=body["scope"])
        return body

    def _authorization_code(
        self, form: Mapping[str, str], client: ClientRegistration, _method: str, base: str
    ) -> dict[str, Any]:
        value = form.get("code")
        if not value:
            raise SmartError(400, "invalid_request", "code is required")
        with self._lock:
            record = self._tokens.code(value)
            if record is None or record.grant.client_id != client.client_id:
                raise SmartError(400, "invalid_grant", "unknown authorization code")
            if record.used:
                record.grant.revoked = True
                raise SmartError(
                    400, "invalid_grant", "authorization code was already used; tokens issued from it are revoked"
                )
            record.used = True  # the first redemption attempt spends the code, successful or not
            if self._clock() >= record.expires_at:
                raise SmartError(400, "invalid_grant", "authorization code has expired")
            if form.get("redirect_uri") != record.redirect_uri:
                raise SmartError(400, "invalid_grant", "redirect_uri does not match the authorization request")
            if record.grant.aud != base:
                raise SmartError(400, "invalid_grant", "authorization code was issued for another FHIR base")
            verifier = form.get("code_verifier")
            if not verifier:
                raise SmartError(400, "invalid_request", "code_verifier is required (PKCE)")
            if not _VERIFIER_RE.match(verifier) or s256(verifier) != record.code_challenge:
                raise SmartError(400, "invalid_grant", "code_verifier does not match the code_challenge")
            return self._issue(record.grant, record.grant.scopes, refreshable=True)

    def _refresh(self, form: Mapping[str, str], client: ClientRegistration, _method: str, base: str) -> dict[str, Any]:
        value = form.get("refresh_token")
        if not value:
            raise SmartError(400, "invalid_request", "refresh_token is required")
        with self._lock:
            record = self._tokens.refresh(value)
            if record is None or record.grant.client_id != client.client_id:
                raise SmartError(400, "invalid_grant", "unknown refresh token")
            if record.rotated:
                record.grant.revoked = True
                raise SmartError(
                    400, "invalid_grant", "refresh token was already used; every token of this grant is revoked"
                )
            if not record.active:
                raise SmartError(400, "invalid_grant", "refresh token has been revoked")
            if record.grant.aud != base:
                raise SmartError(400, "invalid_grant", "refresh token was issued for another FHIR base")
            requested = split_scope(form.get("scope"))
            scopes = record.grant.scopes
            if requested:
                if not covers_all(requested, record.grant.scopes):
                    raise SmartError(400, "invalid_scope", "a refresh may narrow the granted scope, never widen it")
                scopes = grant_scopes(requested, record.grant.scopes)
            record.rotated = True
            return self._issue(record.grant, scopes, refreshable=True)

    def _client_credentials(
        self, form: Mapping[str, str], client: ClientRegistration, method: str, base: str
    ) -> dict[str, Any]:
        if client.kind != "backend" or method != "private_key_jwt":
            raise SmartError(
                400, "unauthorized_client", "client_credentials needs a backend client using private_key_jwt"
            )
        requested = split_scope(form.get("scope"))
        if not requested:
            raise SmartError(400, "invalid_scope", "scope is required")
        for text in requested:
            parsed = parse_resource_scope(text)
            if parsed is None or parsed.context != "system":
                raise SmartError(400, "invalid_scope", "backend services may request system/ scopes only")
        scopes = grant_scopes(requested, client.scopes)
        if not scopes:
            raise SmartError(400, "invalid_scope", "none of the requested scopes can be granted to this client")
        grant = Grant(client_id=client.client_id, scopes=scopes, patient=None, aud=base)
        with self._lock:
            return self._issue(grant, scopes, refreshable=False)

    def _issue(self, grant: Grant, scopes: list[str], *, refreshable: bool) -> dict[str, Any]:
        access, _record = self._tokens.issue_access(grant, scopes, self.token_lifetime)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.token_lifetime),
            "scope": " ".join(scopes),
        }
        if grant.patient:
            body["patient"] = grant.patient
            body["need_patient_banner"] = False
        if refreshable and ("offline_access" in grant.scopes or "online_access" in grant.scopes):
            body["refresh_token"] = self._tokens.issue_refresh(grant)
        if "openid" in scopes:
            body["id_token"] = self._id_token(grant, scopes)
        return body

    def _id_token_key(self) -> RSAKey:
        with self._key_lock:
            if self._signing_key is None:
                self._signing_key = RSAKey.generate_key(2048, auto_kid=True)
            return self._signing_key

    def _id_token(self, grant: Grant, scopes: list[str]) -> str:
        """A signed OIDC id_token; the sandbox's only user is the selected patient (or a generic clinician)."""
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": grant.aud,
            "sub": f"Patient/{grant.patient}" if grant.patient else "Practitioner/sandbox-user",
            "aud": grant.client_id,
            "iat": now,
            "exp": now + int(self.token_lifetime),
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if "fhirUser" in scopes:
            claims["fhirUser"] = f"{grant.aud}/{claims['sub']}"
        key = self._id_token_key()
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS256"])

    def revoke(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> None:
        """RFC 7009: always 200 for a token that is unknown or not the caller's, so nothing leaks.

        Revoking a refresh token revokes its whole grant (access tokens included); revoking an access
        token revokes only that token.
        """
        client, _method = self._clients.authenticate(form, authorization, f"{normalise_base(base_url)}/auth/token")
        value = form.get("token")
        if not value:
            raise SmartError(400, "invalid_request", "token is required")
        with self._lock:
            access = self._tokens.access(value)
            if access is not None and access.grant.client_id == client.client_id:
                access.revoked = True
            refresh = self._tokens.refresh(value)
            if refresh is not None and refresh.grant.client_id == client.client_id:
                refresh.revoked = True
                refresh.grant.revoked = True
        log.info("smart.token_revoked", client_id=client.client_id)

    def introspect(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> dict[str, Any]:
        """RFC 7662, answered to the client the token belongs to; anything else is ``active: false``."""
        client, _method = self._clients.authenticate(form, authorization, f"{normalise_base(base_url)}/auth/token")
        value = form.get("token")
        if not value:
            raise SmartError(400, "invalid_request", "token is required")
        now = self._clock()
        access = self._tokens.access(value)
        if (
            access is not None
            and access.active
            and access.expires_at > now
            and access.grant.client_id == client.client_id
        ):
            body: dict[str, Any] = {
                "active": True,
                "token_type": "Bearer",
                "scope": " ".join(access.scopes),
                "client_id": access.grant.client_id,
                "exp": int(access.expires_at),
                "iat": int(access.issued_at),
                "aud": access.grant.aud,
                "iss": access.grant.aud,
            }
            if access.grant.patient:
                body["patient"] = access.grant.patient
            return body
        refresh = self._tokens.refresh(value)
        if refresh is not None and refresh.active and refresh.grant.client_id == client.client_id:
            return {
                "active": True,
                "token_type": "refresh_token",
                "scope": " ".join(refresh.grant.scopes),
                "client_id": refresh.grant.client_id,
                "iat": int(refresh.issued_at),
                "aud": refresh.grant.aud,
            }
        return {"active": False}
