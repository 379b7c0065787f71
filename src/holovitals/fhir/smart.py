"""SMART App Launch 2.x for a standalone patient app: discovery, PKCE launch, code exchange, refresh.

Tokens live in memory only; callers persist them through the secret box (``TokenSet.to_dict``,
``on_rotate``). Every token, code and verifier is registered with the log redaction the moment we
see it, and no error message here ever contains one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import orjson

from holovitals.fhir.errors import (
    DiscoveryError,
    RateLimited,
    StateMismatch,
    TokenError,
    TransientError,
    host_of,
)
from holovitals.fhir.http import error_for_exception, parse_retry_after
from holovitals.fhir.scopes import missing_scopes, split_scopes
from holovitals.security.redaction import register_sensitive, scrub_text

WELL_KNOWN = ".well-known/smart-configuration"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_JSON_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True)
class SmartConfiguration:
    """What a FHIR server says about its authorization (from the well-known document, or the
    deprecated CapabilityStatement extension some older endpoints still rely on)."""

    base_url: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    capabilities: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] = ()
    issuer: str | None = None
    jwks_uri: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    registration_endpoint: str | None = None
    management_endpoint: str | None = None
    source: str = "smart-configuration"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def supports_s256(self) -> bool:
        return "S256" in self.code_challenge_methods_supported

    def require_launch(self) -> None:
        """Raise :class:`DiscoveryError` unless a user launch with PKCE S256 is possible here."""
        host = host_of(self.base_url)
        if not self.authorization_endpoint:
            raise DiscoveryError(
                f"SMART configuration of {host} has no authorization_endpoint: it cannot do a user launch"
            )
        if not self.supports_s256:
            offered = ", ".join(self.code_challenge_methods_supported) or "none"
            raise DiscoveryError(
                f"{host} does not offer PKCE S256 in code_challenge_methods_supported (offers: {offered}); "
                "refusing to launch without it"
            )


def _tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, (str, int)))
    return ()


def _endpoint(doc: Mapping[str, Any], name: str, host: str, *, required: bool) -> str | None:
    value = doc.get(name)
    if value in (None, ""):
        if required:
            raise DiscoveryError(f"SMART configuration of {host} is missing the required field {name}")
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise DiscoveryError(f"SMART configuration of {host} has an invalid {name} (not an absolute http(s) URL)")
    return value


def configuration_from_document(base_url: str, doc: Mapping[str, Any], *, source: str) -> SmartConfiguration:
    host = host_of(base_url)
    optional = {
        name: _endpoint(doc, name, host, required=False)
        for name in (
            "authorization_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
            "registration_endpoint",
            "management_endpoint",
        )
    }
    return SmartConfiguration(
        base_url=base_url,
        token_endpoint=_endpoint(doc, "token_endpoint", host, required=True) or "",
        capabilities=_tuple(doc.get("capabilities")),
        code_challenge_methods_supported=_tuple(doc.get("code_challenge_methods_supported")),
        grant_types_supported=_tuple(doc.get("grant_types_supported")),
        scopes_supported=_tuple(doc.get("scopes_supported")),
        token_endpoint_auth_methods_supported=_tuple(doc.get("token_endpoint_auth_methods_supported")),
        token_endpoint_auth_signing_alg_values_supported=_tuple(
            doc.get("token_endpoint_auth_signing_alg_values_supported")
        ),
        issuer=doc.get("issuer") if isinstance(doc.get("issuer"), str) else None,
        source=source,
        raw=dict(doc),
        **optional,
    )


def oauth_uris_from_capability(capability: Mapping[str, Any]) -> dict[str, str]:
    """The deprecated ``rest[0].security.extension`` oauth-uris, renamed to well-known field names."""
    names = {
        "token": "token_endpoint",
        "authorize": "authorization_endpoint",
        "register": "registration_endpoint",
        "manage": "management_endpoint",
        "introspect": "introspection_endpoint",
        "revoke": "revocation_endpoint",
    }
    rest = capability.get("rest") or []
    security = (rest[0] or {}).get("security") if rest and isinstance(rest[0], dict) else None
    out: dict[str, str] = {}
    for ext in (security or {}).get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != OAUTH_URIS:
            continue
        for sub in ext.get("extension") or []:
            if isinstance(sub, dict) and sub.get("url") in names and isinstance(sub.get("valueUri"), str):
                out[names[sub["url"]]] = sub["valueUri"]
    return out


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


async def _get(http: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> httpx.Response:
    try:
        return await http.get(url, headers=dict(headers))
    except httpx.HTTPError as exc:
        raise error_for_exception(exc, method="GET", url=url, idempotent=True) from None


async def discover(http: httpx.AsyncClient, base_url: str) -> SmartConfiguration:
    """Read ``{base}/.well-known/smart-configuration``; fall back to the CapabilityStatement.

    Raises :class:`ServerUnreachable` (naming only the host) when nothing answers, and
    :class:`DiscoveryError` naming the missing field when neither source has a token endpoint.
    """
    base = base_url.rstrip("/")
    host = host_of(base)
    response = await _get(http, f"{base}/{WELL_KNOWN}", _JSON_ACCEPT)
    problem: DiscoveryError | None = None
    if response.status_code == 200:
        doc = _json(response)
        if isinstance(doc, dict):
            try:
                return configuration_from_document(base, doc, source="smart-configuration")
            except DiscoveryError as exc:
                problem = exc  # try the CapabilityStatement before giving up
        else:
            problem = DiscoveryError(f"SMART configuration of {host} is not a JSON object")
    # Older endpoints publish only the CapabilityStatement extension (deprecated, still seen).
    response = await _get(http, f"{base}/metadata", {"Accept": "application/fhir+json"})
    capability = _json(response) if response.status_code == 200 else None
    if isinstance(capability, dict) and capability.get("resourceType") == "CapabilityStatement":
        uris = oauth_uris_from_capability(capability)
        if uris.get("token_endpoint"):
            doc = {**uris, "capabilities": [], "code_challenge_methods_supported": []}
            return configuration_from_document(base, doc, source="capability-statement")
    if problem is not None:
        raise problem
    raise DiscoveryError(
        f"{host} publishes no SMART configuration (no {WELL_KNOWN}, and no oauth-uris token in its "
        "CapabilityStatement): the required field token_endpoint is missing"
    )


# ---------------------------------------------------------------------------------------------
# Standalone launch with PKCE


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge). 64 random bytes -> an 86-character verifier (RFC 7636: 43-128)."""
    verifier = secrets.token_urlsafe(64)
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    return verifier, challenge


@dataclass(frozen=True)
class AuthorizeRequest:
    """Where to send the user, and what to remember until they come back (persist it sealed)."""

    url: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    code_challenge: str
    redirect_uri: str
    client_id: str
    scopes: tuple[str, ...]
    aud: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "state": self.state,
            "code_verifier": self.code_verifier,
            "code_challenge": self.code_challenge,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
            "aud": self.aud,
        }


def build_authorize_request(
    config: SmartConfiguration,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: str | Iterable[str],
    aud: str,
    launch: str | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> AuthorizeRequest:
    """The authorize URL for a standalone (or, with ``launch``, EHR) launch, with PKCE S256."""
    config.require_launch()
    scope_list = tuple(split_scopes(scopes))
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)  # 256 bits; SMART asks for at least 122
    register_sensitive(verifier)  # state is redacted by shape (state=...) and needs no entry of its own
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scope_list),
        "state": state,
        "aud": aud.rstrip("/"),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if launch:
        params["launch"] = launch
    params.update(extra_params or {})
    endpoint = config.authorization_endpoint or ""
    url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(params, quote_via=quote)
    return AuthorizeRequest(url, state, verifier, challenge, redirect_uri, client_id, scope_list, params["aud"])


def check_state(expected: str, got: str | None) -> None:
    """Constant-time comparison of the returned ``state``; :class:`StateMismatch` when it differs."""
    if not got or not expected or not hmac.compare_digest(expected.encode(), str(got).encode()):
        raise StateMismatch(
            "the authorization response's state does not match the request (a forged or stale login); "
            "start the connection again"
        )


def parse_callback(redirected_to: str | Mapping[str, str], *, expected_state: str) -> str:
    """The authorization code from the redirect back to us, after checking ``state`` and ``error``."""
    if isinstance(redirected_to, str):
        params = dict(parse_qsl(urlsplit(redirected_to).query, keep_blank_values=True))
    else:
        params = dict(redirected_to)
    if params.get("error"):
        error = scrub_text(params["error"])[:64]
        described = scrub_text(params.get("error_description", ""))[:200]
        raise TokenError(
            f"authorization was not granted: {error}" + (f" ({described})" if described else ""), error=error
        )
    check_state(expected_state, params.get("state"))
    code = params.get("code")
    if not code:
        raise TokenError("the authorization response has no code")
    register_sensitive(code)
    return code


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass
class TokenSet:
    """A token response, parsed. Secrets are hidden from ``repr``; persist with :meth:`to_dict` sealed."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()
    requested_scope: tuple[str, ...] = ()
    patient: str | None = None
    encounter: str | None = None
    id_token: str | None = field(default=None, repr=False)
    fhir_user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def missing_scopes(self) -> list[str]:
        """Requested scopes the server did not grant (compared by meaning, v1 and v2 alike)."""
        return missing_scopes(self.requested_scope, self.scope)

    def expires_in(self, *, now: float | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def expired(self, skew: float = 0.0, *, now: float | None = None) -> bool:
        left = self.expires_in(now=now)
        return left is not None and left <= skew

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": list(self.scope),
            "requested_scope": list(self.requested_scope),
            "patient": self.patient,
            "encounter": self.encounter,
            "id_token": self.id_token,
            "fhir_user": self.fhir_user,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        for secret in ("access_token", "refresh_token", "id_token"):
            register_sensitive(data.get(secret))
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=data.get("expires_at"),
            refresh_token=data.get("refresh_token"),
            scope=tuple(data.get("scope") or ()),
            requested_scope=tuple(data.get("requested_scope") or ()),
            patient=data.get("patient"),
            encounter=data.get("encounter"),
            id_token=data.get("id_token"),
            fhir_user=data.get("fhir_user"),
            extra=dict(data.get("extra") or {}),
        )


def _id_token_claims(id_token: str) -> dict[str, Any]:
    """The id_token's payload, unverified. Only used for ``fhirUser`` display: the token came straight
    from the token endpoint over TLS, which OIDC Core 3.1.3.7 accepts in place of the signature."""
    try:
        payload = id_token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def parse_token_response(
    body: Any,
    requested_scopes: str | Iterable[str] = (),
    *,
    previous: TokenSet | None = None,
    now: float | None = None,
) -> TokenSet:
    """Validate and parse a token response. ``previous`` carries over what a refresh may omit."""
    if not isinstance(body, dict):
        raise TokenError("token response is not a JSON object")
    if body.get("error"):
        raise _oauth_error(body, status=None, grant="token request")
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenError("token response has no access_token")
    register_sensitive(access)
    token_type = body.get("token_type") or "Bearer"
    if str(token_type).lower() != "bearer":
        raise TokenError(f"token response has token_type {str(token_type)[:20]!r}; only Bearer is supported")
    refresh = body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
    id_token = body.get("id_token") if isinstance(body.get("id_token"), str) else None
    register_sensitive(refresh)
    register_sensitive(id_token)
    expires_at = None
    try:
        if body.get("expires_in") is not None:
            expires_at = (time.time() if now is None else now) + float(body["expires_in"])
    except (TypeError, ValueError):
        expires_at = None
    requested = tuple(split_scopes(requested_scopes)) or (previous.requested_scope if previous else ())
    if isinstance(body.get("scope"), str):
        granted = tuple(split_scopes(body["scope"]))
    else:  # RFC 6749 5.1: an omitted scope means "as requested"
        granted = previous.scope if previous else requested
    claims = _id_token_claims(id_token) if id_token else {}
    fhir_user = body.get("fhirUser") or claims.get("fhirUser") or (previous.fhir_user if previous else None)
    known = {"access_token", "token_type", "expires_in", "refresh_token", "scope", "patient", "encounter", "id_token"}
    return TokenSet(
        access_token=access,
        token_type="Bearer",
        expires_at=expires_at,
        refresh_token=refresh or (previous.refresh_token if previous else None),
        scope=granted,
        requested_scope=requested,
        patient=body.get("patient") or (previous.patient if previous else None),
        encounter=body.get("encounter") or (previous.encounter if previous else None),
        id_token=id_token or (previous.id_token if previous else None),
        fhir_user=fhir_user if isinstance(fhir_user, str) else None,
        extra={k: v for k, v in body.items() if k not in known and k != "fhirUser"},
    )


def _oauth_error(body: Any, *, status: int | None, grant: str) -> TokenError:
    error = body.get("error") if isinstance(body, dict) else None
    described = body.get("error_description") if isinstance(body, dict) else None
    code = scrub_text(str(error))[:64] if error else None
    text = f"the token endpoint refused the {grant}"
    if code:
        text += f": {code}"
    if described:
        text += f" ({scrub_text(str(described))[:200]})"
    if code == "invalid_grant":
        text += "; the code or refresh token is expired, used already, or revoked: sign in again"
    return TokenError(text, error=code, status=status)


async def token_request(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    form: Mapping[str, str],
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    grant: str = "token request",
) -> dict[str, Any]:
    """POST to the token endpoint; typed errors for refusals (TokenError), throttling and outages."""
    data = dict(form)
    headers = dict(_JSON_ACCEPT)
    if client_secret:
        register_sensitive(client_secret)
        # RFC 6749 2.3.1: form-encode id and secret before Basic, or a ':' in the secret breaks it.
        pair = f"{quote(client_id or '', safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif client_id:
        data["client_id"] = client_id
    url = config.token_endpoint
    try:
        response = await http.post(url, data=data, headers=headers)
    except httpx.HTTPError as exc:
        raise error_for_exception(exc, method="POST", url=url, idempotent=False) from None
    body = _json(response)
    status = response.status_code
    if status == 429:
        raise RateLimited(
            "the token endpoint is rate limiting us",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status=status,
            url=url,
        )
    if status >= 500:
        raise TransientError(f"the token endpoint failed ({status})", status=status, url=url)
    if status >= 400 or (isinstance(body, dict) and body.get("error")):
        raise _oauth_error(body, status=status, grant=grant)
    if not isinstance(body, dict):
        raise TokenError("token response is not JSON", status=status, url=url)
    return body


async def exchange_code(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    *,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    client_id: str,
    client_secret: str | None = None,
    requested_scopes: str | Iterable[str] = (),
) -> TokenSet:
    """Trade the authorization code (single use) for tokens."""
    register_sensitive(code)
    register_sensitive(code_verifier)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    body = await token_request(
        http, config, form, client_id=client_id, client_secret=client_secret, grant="authorization code"
    )
    return parse_token_response(body, requested_scopes)


async def refresh_tokens(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    token_set: TokenSet,
    *,
    client_id: str,
    client_secret: str | None = None,
    scopes: str | Iterable[str] | None = None,
) -> TokenSet:
    """``grant_type=refresh_token``. A server that rotates sends a new refresh token: replace the stored one."""
    if not token_set.refresh_token:
        raise TokenError("no refresh token was granted (ask for offline_access): the user must sign in again")
    form = {"grant_type": "refresh_token", "refresh_token": token_set.refresh_token}
    if scopes:
        form["scope"] = " ".join(split_scopes(scopes))
    body = await token_request(
        http, config, form, client_id=client_id, client_secret=client_secret, grant="refresh token"
    )
    return parse_token_response(body, scopes or token_set.requested_scope, previous=token_set)


Refresher = Callable[[TokenSet | None], Awaitable[TokenSet]]
OnRotate = Callable[[TokenSet], Awaitable[None] | None]


def smart_refresher(
    http: httpx.AsyncClient, config: SmartConfiguration, *, client_id: str, client_secret: str | None = None
) -> Refresher:
    """A refresher for :class:`TokenManager` that uses the refresh-token grant."""

    async def refresh(current: TokenSet | None) -> TokenSet:
        if current is None:
            raise TokenError("no tokens yet: the user must sign in first")
        return await refresh_tokens(http, config, current, client_id=client_id, client_secret=client_secret)

    return refresh


class TokenManager:
    """Hands out a valid access token, refreshing ``skew`` seconds before expiry, once for everyone.

    Twenty concurrent requests that find the token stale wait on one lock and one refresh: with a
    rotating refresh token (Oracle Health, NextGen Office), a second refresh racing the first would
    present a refresh token the server has just invalidated, and lock the user out.
    """

    def __init__(
        self,
        token_set: TokenSet | None,
        refresher: Refresher,
        *,
        on_rotate: OnRotate | None = None,
        skew: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token_set = token_set
        self._refresher = refresher
        self._on_rotate = on_rotate
        self.skew = skew
        self._clock = clock
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def token_set(self) -> TokenSet | None:
        return self._token_set

    def _fresh(self) -> bool:
        ts = self._token_set
        return ts is not None and not ts.expired(self.skew, now=self._clock())

    async def get_token(self) -> str:
        if self._fresh():
            assert self._token_set is not None
            return self._token_set.access_token
        async with self._lock:
            if not self._fresh():
                await self._refresh()
            assert self._token_set is not None
            return self._token_set.access_token

    async def force_refresh(self, stale: str | None = None) -> str:
        """After a 401: refresh unless someone already replaced the token that was refused."""
        async with self._lock:
            current = self._token_set
            if stale is not None and current is not None and current.access_token != stale and self._fresh():
                return current.access_token
            await self._refresh()
            assert self._token_set is not None
            return self._token_set.access_token

    async def _refresh(self) -> None:
        old = self._token_set
        new = await self._refresher(old)
        self._token_set = new
        self.refreshes += 1
        if self._on_rotate and new.refresh_token and (old is None or new.refresh_token != old.refresh_token):
            result = self._on_rotate(new)
            if inspect.isawaitable(result):
                await result
