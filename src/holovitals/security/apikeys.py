"""API keys: shown once, stored as a hash.

A key is ``hv_<prefix>_<secret>``. The prefix is stored in clear so a lookup is one indexed query;
the secret has 256 bits of entropy, so a plain SHA-256 is enough (a slow password hash buys nothing
against a random 256-bit value and would cost every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "hv_"


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(plaintext=plaintext, prefix=prefix, key_hash=hash_api_key(plaintext))


def split_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a presented key, or None when it is not shaped like one of ours."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = plaintext[len(KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret or len(prefix) != 12:
        return None
    return prefix


def verify_api_key(plaintext: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(plaintext), key_hash)
