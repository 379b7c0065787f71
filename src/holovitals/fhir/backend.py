"""SMART Backend Services: signed client assertions (RS384/ES384), the client_credentials token, JWKS.

We sign with joserfc rather than authlib's stock ``PrivateKeyJWT``, which sets ``exp = iat + 3600``:
SMART caps the assertion at five minutes and Epic, Oracle Health and eClinicalWorks refuse longer.
Private keys are JWK dicts held in memory; the caller stores them sealed in the secret box.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from holovitals.fhir.scopes import split_scopes
from holovitals.fhir.smart import SmartConfiguration, TokenManager, TokenSet, parse_token_response, token_request
from holovitals.security.redaction import register_sensitive

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_LIFETIME_S = 300
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_RSA_BITS = 2048


class UnusableKey(ValueError):
    """A JWK that cannot sign with the requested algorithm."""


def _protect(jwk: Mapping[str, Any]) -> None:
    for member in _PRIVATE_MEMBERS:
        value = jwk.get(member)
        if isinstance(value, str):
            register_sensitive(value)


def _import(private_jwk: Mapping[str, Any], alg: str) -> RSAKey | ECKey:
    if alg not in ALGORITHMS:
        raise UnusableKey(f"unsupported algorithm {alg!r}: SMART backend services use RS384 or ES384")
    kty = private_jwk.get("kty")
    if alg == "RS384" and kty != "RSA":
        raise UnusableKey(f"RS384 needs an RSA key, got kty={kty!r}")
    if alg == "ES384" and (kty != "EC" or private_jwk.get("crv") != "P-384"):
        raise UnusableKey(f"ES384 needs an EC P-384 key, got kty={kty!r} crv={private_jwk.get('crv')!r}")
    if "d" not in private_jwk:
        raise UnusableKey("the JWK has no private part (d): cannot sign")
    _protect(private_jwk)
    key_class = RSAKey if kty == "RSA" else ECKey
    return key_class.import_key(dict(private_jwk))


def make_client_assertion(
    private_jwk: Mapping[str, Any],
    *,
    client_id: str,
    token_url: str,
    alg: str = "RS384",
    kid: str | None = None,
    jku: str | None = None,
    lifetime: int = MAX_LIFETIME_S,
    now: float | None = None,
) -> str:
    """A signed JWT for ``client_assertion``: iss = sub = client_id, aud = token URL, exp <= 5 min, unique jti."""
    if not 0 < lifetime <= MAX_LIFETIME_S:
        raise ValueError(f"assertion lifetime must be 1..{MAX_LIFETIME_S} s (SMART Backend Services)")
    key = _import(private_jwk, alg)
    key_id = kid or private_jwk.get("kid")
    if not key_id:
        raise UnusableKey("the key has no kid; the server needs it to pick the key from the registered JWKS")
    issued = int(time.time() if now is None else now)
    header: dict[str, Any] = {"alg": alg, "kid": key_id, "typ": "JWT"}
    if jku:
        header["jku"] = jku  # must match the JWKS URL registered with the server (Epic checks)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    # Not registered with the redaction: one is made every few minutes per connection (eClinicalWorks
    # tokens live 300 s), the known-value list would only grow, and the JWT shape is redacted anyway.
    return jwt.encode(header, claims, key, algorithms=[alg])


async def backend_token(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    *,
    client_id: str,
    private_jwk: Mapping[str, Any],
    alg: str = "RS384",
    kid: str | None = None,
    scopes: str | Iterable[str],
    jku: str | None = None,
) -> TokenSet:
    """``client_credentials`` with a fresh assertion (a jti is single use, so one assertion per call)."""
    assertion = make_client_assertion(
        private_jwk, client_id=client_id, token_url=config.token_endpoint, alg=alg, kid=kid, jku=jku
    )
    scope_list = split_scopes(scopes)
    form = {
        "grant_type": "client_credentials",
        "scope": " ".join(scope_list),
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }
    body = await token_request(http, config, form, grant="client credentials")
    return parse_token_response(body, scope_list)


def backend_token_manager(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    *,
    client_id: str,
    private_jwk: Mapping[str, Any],
    alg: str = "RS384",
    kid: str | None = None,
    scopes: str | Iterable[str],
    jku: str | None = None,
    skew: float = 60.0,
) -> TokenManager:
    """A :class:`TokenManager` that gets a new backend token whenever the old one is near expiry
    (backend services have no refresh token: eClinicalWorks' live 300 s, so this happens often)."""

    async def fetch(_current: TokenSet | None) -> TokenSet:
        return await backend_token(
            http, config, client_id=client_id, private_jwk=private_jwk, alg=alg, kid=kid, scopes=scopes, jku=jku
        )

    return TokenManager(None, fetch, skew=skew)


def generate_private_key(alg: str = "RS384", *, kid: str | None = None) -> dict[str, Any]:
    """A new private JWK for ``alg`` (RSA 2048 or EC P-384) with ``kid`` = its RFC 7638 thumbprint."""
    if alg == "RS384":
        key: RSAKey | ECKey = RSAKey.generate_key(_RSA_BITS, private=True)
    elif alg == "ES384":
        key = ECKey.generate_key("P-384", private=True)
    else:
        raise UnusableKey(f"unsupported algorithm {alg!r}: SMART backend services use RS384 or ES384")
    jwk = dict(key.as_dict(private=True))
    jwk.update({"alg": alg, "use": "sig", "kid": kid or key.thumbprint()})
    _protect(jwk)
    return jwk


def jwk_from_pem(pem: bytes | str, *, alg: str = "RS384", kid: str | None = None) -> dict[str, Any]:
    """A private JWK from a PEM key (Epic's older static keys, ``openssl genrsa``), kid = thumbprint."""
    data = pem.encode() if isinstance(pem, str) else pem
    key: RSAKey | ECKey = RSAKey.import_key(data) if alg == "RS384" else ECKey.import_key(data)
    jwk = dict(key.as_dict(private=True))
    if "d" not in jwk:
        raise UnusableKey("the PEM holds no private key")
    jwk.update({"alg": alg, "use": "sig", "kid": kid or key.thumbprint()})
    _protect(jwk)
    return jwk


def public_jwk(private_jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The public half of a JWK (private members removed), keeping kid/alg/use."""
    public = {k: v for k, v in private_jwk.items() if k not in _PRIVATE_MEMBERS}
    public.setdefault("use", "sig")
    public["key_ops"] = ["verify"]
    return public


def jwks_document(keys: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"keys": [...]}`` of public keys, one per kid, to publish at the registered JWKS URL."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in keys:
        public = public_jwk(key)
        kid = str(public.get("kid", ""))
        if kid and kid in seen:
            continue
        seen.add(kid)
        out.append(public)
    return {"keys": out}


def public_jwks(private_jwks: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The public JWKS for a private JWKS (``{"keys": [...]}``) or a list of private JWKs."""
    if isinstance(private_jwks, Mapping):
        keys = private_jwks.get("keys", [private_jwks] if "kty" in private_jwks else [])
    else:
        keys = list(private_jwks)
    return jwks_document(keys)
