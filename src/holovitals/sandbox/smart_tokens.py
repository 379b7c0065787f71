"""Authorization codes, grants, access and refresh tokens: their lifecycle, in memory.

Every token and code is opaque random and stored only as its SHA-256, so nothing here can print
one back. A *grant* is one approval (a consent, or one client_credentials call); codes and tokens
point at it, and revoking the grant kills them all at once. That is how a replayed code or a reused
rotated refresh token (OAuth 2.0 Security BCP) takes down everything issued from the same approval.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# Expired records are kept a while so they answer "expired" (and a replayed code is still caught),
# not "unknown"; after that they are dropped to bound memory.
ACCESS_TOKEN_PURGE_AFTER = 3600.0
CODE_PURGE_AFTER = 600.0


@dataclass(frozen=True)
class TokenContext:
    """What a valid access token lets the request do; handed to the REST layer."""

    client_id: str
    scopes: list[str]
    patient: str | None
    expires_at: float


@dataclass
class Grant:
    client_id: str
    scopes: list[str]
    patient: str | None
    aud: str
    nonce: str | None = None
    revoked: bool = False
    id: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass
class AuthCode:
    grant: Grant
    redirect_uri: str
    code_challenge: str
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    grant: Grant
    scopes: list[str]
    issued_at: float
    expires_at: float
    revoked: bool = False

    @property
    def active(self) -> bool:
        return not (self.revoked or self.grant.revoked)


@dataclass
class RefreshToken:
    grant: Grant
    issued_at: float
    rotated: bool = False
    revoked: bool = False

    @property
    def active(self) -> bool:
        return not (self.rotated or self.revoked or self.grant.revoked)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """256 bits, URL-safe: codes, tokens and consent tickets."""
    return secrets.token_urlsafe(32)


class TokenStore:
    """Thread-safe maps from token digests to records, with expiry bookkeeping."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.RLock()
        self._codes: dict[str, AuthCode] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def issue_code(self, grant: Grant, redirect_uri: str, code_challenge: str, lifetime: float) -> str:
        code = new_secret()
        with self._lock:
            self._purge()
            self._codes[digest(code)] = AuthCode(grant, redirect_uri, code_challenge, self._clock() + lifetime)
        return code

    def code(self, code: str) -> AuthCode | None:
        return self._codes.get(digest(code))

    def issue_access(self, grant: Grant, scopes: list[str], lifetime: float) -> tuple[str, AccessToken]:
        token = new_secret()
        now = self._clock()
        record = AccessToken(grant, list(scopes), now, now + lifetime)
        with self._lock:
            self._purge()
            self._access[digest(token)] = record
        return token, record

    def issue_refresh(self, grant: Grant) -> str:
        token = new_secret()
        with self._lock:
            self._refresh[digest(token)] = RefreshToken(grant, self._clock())
        return token

    def access(self, token: str) -> AccessToken | None:
        return self._access.get(digest(token))

    def refresh(self, token: str) -> RefreshToken | None:
        return self._refresh.get(digest(token))

    def expire_all_access(self) -> None:
        now = self._clock()
        with self._lock:
            for record in self._access.values():
                record.expires_at = min(record.expires_at, now)

    def _purge(self) -> None:
        now = self._clock()
        self._codes = {k: c for k, c in self._codes.items() if c.expires_at + CODE_PURGE_AFTER > now}
        self._access = {
            k: a for k, a in self._access.items() if a.expires_at + ACCESS_TOKEN_PURGE_AFTER > now and a.active
        }
        self._refresh = {k: r for k, r in self._refresh.items() if not r.revoked and not r.grant.revoked}
