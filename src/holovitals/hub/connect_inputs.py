"""What a connect attempt is made of, checked before anything goes over the network.

Pure functions and plain data: the vendor profile, the base URL, the scopes, the key; each refusal is
an :class:`InvalidConnectRequest` whose message says what to give instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import ECKey, RSAKey

from holovitals.fhir.backend import UnusableKey, jwk_from_pem
from holovitals.fhir.errors import host_of
from holovitals.hub.connect_errors import InvalidConnectRequest
from holovitals.vendors.profile import VendorProfile
from holovitals.vendors.registry import UnknownVendor, get_profile

RESOURCE_SCOPE_CONTEXTS = ("patient/", "user/", "system/")


@dataclass(frozen=True)
class ConnectRequest:
    vendor: str
    client_id: str
    redirect_uri: str
    base_url: str | None = None
    tenant: str | None = None
    scopes: tuple[str, ...] | None = None
    client_secret: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class StartedAuthorization:
    authorization_url: str
    state: str
    expires_at: datetime


@dataclass(frozen=True)
class BackendRequest:
    vendor: str
    client_id: str
    private_key: str  # PEM or JWK JSON text
    alg: str = "RS384"
    kid: str | None = None  # default: the key's RFC 7638 thumbprint
    base_url: str | None = None
    tenant: str | None = None
    scopes: tuple[str, ...] | None = None
    jku: str | None = None
    name: str | None = None


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def profile_for(vendor: str) -> VendorProfile:
    try:
        return get_profile(vendor)
    except UnknownVendor as exc:
        raise InvalidConnectRequest(str(exc)) from None


def check_http_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidConnectRequest(f"{what} must be an absolute http(s) URL")
    return url


def resolve_base_url(profile: VendorProfile, base_url: str | None, tenant: str | None) -> str:
    """The user's base URL when given, else the profile's template filled with the tenant."""
    if base_url:
        return check_http_url(base_url.strip(), "the base URL").rstrip("/")
    try:
        return profile.base_url_for(tenant).rstrip("/")
    except ValueError as exc:
        raise InvalidConnectRequest(str(exc)) from None


def choose_scopes(
    profile: VendorProfile, requested: tuple[str, ...] | None, *, backend: bool = False
) -> tuple[str, ...]:
    """The requested scopes, or the profile's defaults; refuses resource scopes the vendor never grants."""
    scopes = tuple(s for s in (requested or ()) if s) or (
        profile.auth.backend_scopes if backend else profile.auth.default_scopes
    )
    allowed = profile.auth.allowed_resource_scopes
    if allowed is not None:
        refused = [s for s in scopes if s.startswith(RESOURCE_SCOPE_CONTEXTS) and s not in allowed]
        if refused:
            raise InvalidConnectRequest(
                f"{profile.name} grants only {', '.join(allowed)} as resource scopes, not {', '.join(refused)}"
            )
    return scopes


def as_utc(value: datetime | float | int | None) -> datetime | None:
    """TokenSet.expires_at may be a datetime or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def granted_scope_text(scope: Any, fallback: tuple[str, ...]) -> str:
    """Granted scopes may differ from requested (SMART): keep what the token response says."""
    if isinstance(scope, str) and scope.strip():
        return scope.strip()
    if isinstance(scope, (list, tuple)) and scope:
        return " ".join(str(s) for s in scope)
    return " ".join(fallback)


def default_name(profile: VendorProfile, base_url: str) -> str:
    return f"{profile.name} ({host_of(base_url)})"


def load_private_jwk(text: str, *, alg: str, kid: str | None = None) -> dict[str, Any]:
    """A private key from JWK JSON or PEM (RSA for RS384, EC P-384 for ES384), as a JWK dict with a kid."""
    text = text.strip()
    try:
        if text.startswith("{"):
            jwk = json.loads(text)
            if not isinstance(jwk, dict) or "kty" not in jwk:
                raise ValueError("not a JWK")
            imported = (ECKey if jwk["kty"] == "EC" else RSAKey).import_key(jwk)
            jwk["kid"] = kid or jwk.get("kid") or imported.thumbprint()
        else:
            jwk = jwk_from_pem(text, alg=alg, kid=kid)
    except UnusableKey as exc:
        raise InvalidConnectRequest(f"unusable private key: {exc}") from None
    except Exception:  # joserfc and cryptography raise a zoo of types for a malformed key
        raise InvalidConnectRequest(f"the private key is not a {alg} private key in PEM or JWK form") from None
    if "d" not in jwk:
        raise InvalidConnectRequest("the key holds no private part; backend services sign with the private key")
    return jwk
