"""Registered clients and token-endpoint client authentication (secret, or private_key_jwt).

The assertion checks follow SMART Backend Services, because that is what real EHRs enforce and
what our FHIR client must get right: RS384/ES384 only, key chosen by ``kid``, ``jku`` pinned to
the registration, ``iss`` == ``sub`` == client_id, ``aud`` == the token URL, ``exp`` no more than
five minutes ahead, and every ``jti`` used once.
"""

from __future__ import annotations

import base64
import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from holovitals.sandbox.smart_errors import SmartError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300  # seconds; SMART Backend Services caps exp at five minutes ahead

ClientKind = Literal["public", "confidential", "backend"]
DEFAULT_ALLOWED_SCOPES: dict[str, tuple[str, ...]] = {
    "public": ("patient/*.cruds", "user/*.cruds", "launch/patient", "openid", "fhirUser", "offline_access",
               "online_access"),
    "confidential": ("patient/*.cruds", "user/*.cruds", "launch/patient", "openid", "fhirUser",
                     "offline_access", "online_access"),
    "backend": ("system/*.cruds",),
}  # fmt: skip


@dataclass(frozen=True)
class ClientRegistration:
    """A client the sandbox knows.

    ``kind``: ``public`` (client_id only, PKCE), ``confidential`` (``client_secret`` for
    client_secret_basic/post, and/or ``jwks`` for private_key_jwt), ``backend`` (``jwks``, the
    client_credentials grant). ``jku`` is not fetched: when set, an assertion header carrying
    ``jku`` must name exactly this URL, and the keys still come from ``jwks``.
    ``allowed_scopes`` None means everything the kind may hold (see ``DEFAULT_ALLOWED_SCOPES``).
    """

    client_id: str
    kind: ClientKind = "public"
    redirect_uris: tuple[str, ...] = ()
    client_secret: str | None = field(default=None, repr=False)
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)
    jku: str | None = None
    allowed_scopes: tuple[str, ...] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))
        if self.allowed_scopes is not None:
            object.__setattr__(self, "allowed_scopes", tuple(self.allowed_scopes))
        if not self.client_id:
            raise ValueError("client_id is required")
        if self.kind not in DEFAULT_ALLOWED_SCOPES:
            raise ValueError(f"unknown client kind {self.kind!r}")
        if self.kind == "public" and self.client_secret:
            raise ValueError("a public client has no secret")
        if self.kind == "confidential" and not (self.client_secret or self.jwks):
            raise ValueError("a confidential client needs client_secret or jwks")
        if self.kind == "backend" and not self.jwks:
            raise ValueError("a backend client needs jwks")
        if self.kind != "backend" and not self.redirect_uris:
            raise ValueError("a launching client needs at least one redirect_uri")
        if self.jwks is not None:
            KeySet.import_key_set(dict(self.jwks))  # fail at registration, not at the first token call

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.allowed_scopes if self.allowed_scopes is not None else DEFAULT_ALLOWED_SCOPES[self.kind]

    @property
    def key_set(self) -> KeySet:
        return KeySet.import_key_set(dict(self.jwks or {"keys": []}))


def invalid_client(message: str) -> SmartError:
    return SmartError(401, "invalid_client", message)


def _b64_json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """client_id and secret from ``Authorization: Basic``; both form-urlencoded per RFC 6749 2.3.1."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise invalid_client("malformed Basic authorization header") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic authorization header")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


class ClientAuthenticator:
    """Looks up clients and checks how they prove who they are at the token endpoint."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._clients: dict[str, ClientRegistration] = {}
        self._seen_jti: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def register(self, client: ClientRegistration) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def get(self, client_id: str | None) -> ClientRegistration | None:
        return self._clients.get(client_id or "")

    def authenticate(
        self, form: Mapping[str, str], authorization: str | None, token_url: str
    ) -> tuple[ClientRegistration, str]:
        """The authenticated client and the method used (none, client_secret_*, private_key_jwt)."""
        basic = parse_basic(authorization)
        body_id = form.get("client_id") or None
        if form.get("client_assertion") or form.get("client_assertion_type"):
            if basic is not None:
                raise invalid_client("use one client authentication method")
            return self._by_assertion(form, body_id, token_url), "private_key_jwt"
        if basic is not None:
            client_id, secret = basic
            if body_id is not None and body_id != client_id:
                raise invalid_client("client_id does not match the authorization header")
            return self._by_secret(client_id, secret), "client_secret_basic"
        secret = form.get("client_secret") or None
        if secret is not None:
            return self._by_secret(body_id, secret), "client_secret_post"
        client = self.get(body_id)
        if client is None:
            raise invalid_client("unknown client")
        if client.kind != "public":
            raise invalid_client("this client must authenticate")
        return client, "none"

    def _by_secret(self, client_id: str | None, secret: str) -> ClientRegistration:
        client = self.get(client_id)
        if client is None or not client.client_secret:
            raise invalid_client("unknown client or client without a secret")
        if not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            raise invalid_client("client authentication failed")
        return client

    def _by_assertion(self, form: Mapping[str, str], body_id: str | None, token_url: str) -> ClientRegistration:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise invalid_client(f"client_assertion_type must be {JWT_BEARER}")
        assertion = form.get("client_assertion") or ""
        try:
            header_part, claims_part, _signature = assertion.split(".")
            header = _b64_json(header_part)
            unverified = _b64_json(claims_part)
        except ValueError:
            raise invalid_client("client_assertion is not a compact JWS") from None
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise invalid_client(f"client_assertion alg must be one of {', '.join(ASSERTION_ALGORITHMS)}")
        client = self.get(str(unverified.get("iss", "")))
        if client is None or not client.jwks:
            raise invalid_client("unknown client or client without registered keys")
        if body_id is not None and body_id != client.client_id:
            raise invalid_client("client_id does not match the assertion issuer")
        if "jku" in header and header["jku"] != client.jku:
            raise invalid_client("jku does not match the registered JWKS URL")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_client("client_assertion header needs a kid")
        try:
            key = client.key_set.get_by_kid(kid)
        except (JoseError, ValueError):
            raise invalid_client("no registered key has this kid") from None
        try:
            claims = jwt.decode(assertion, key, algorithms=[alg]).claims
        except (JoseError, ValueError):
            raise invalid_client("client_assertion signature does not verify") from None
        self._check_claims(client, claims, token_url)
        return client

    def _check_claims(self, client: ClientRegistration, claims: Mapping[str, Any], token_url: str) -> None:
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise invalid_client("iss and sub must both be the client_id")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if token_url.rstrip("/") not in [str(a).rstrip("/") for a in audiences if a]:
            raise invalid_client("aud must be the token endpoint URL")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise invalid_client("exp is required")
        now = self._clock()
        if exp <= now:
            raise invalid_client("client_assertion has expired")
        if exp > now + MAX_ASSERTION_LIFETIME:
            raise invalid_client("exp may be at most five minutes in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise invalid_client("jti is required")
        with self._lock:
            self._seen_jti = {k: v for k, v in self._seen_jti.items() if v > now}
            if (client.client_id, jti) in self._seen_jti:
                raise invalid_client("jti has been used before")
            self._seen_jti[(client.client_id, jti)] = float(exp)
