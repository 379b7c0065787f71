"""Encryption of secrets at rest: AES-256-GCM with key ids and a rotatable keyring.

A stored secret looks like ``hv1:<kid>:<base64url(nonce || ciphertext+tag)>``. The key id names the
key that sealed it, so after ``holovitals keys rotate`` old ciphertext still opens until its key is
retired. The associated data binds a ciphertext to where it is stored (table, column, row), so a
token copied into another row does not decrypt there.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "hv1"
NONCE_BYTES = 12
KEY_BYTES = 32


class SecretBoxError(Exception):
    """Base for every secret-box failure. Messages never contain key material or plaintext."""


class KeyringMissingError(SecretBoxError):
    """No keyring configured or found."""


class KeyringInvalidError(SecretBoxError):
    """The keyring file or variable is not a valid keyring."""


class UnknownKeyError(SecretBoxError):
    """The ciphertext was sealed with a key id the keyring does not hold (wrong or retired key)."""


class DecryptionError(SecretBoxError):
    """The ciphertext does not open with its key: wrong key, tampering, or moved to another row."""


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key_id() -> str:
    return datetime.now(UTC).strftime("k%Y%m%d%H%M%S") + secrets.token_hex(2)


@dataclass
class Keyring:
    """Named 256-bit keys; ``active`` seals new secrets, all of them open old ones."""

    active: str
    keys: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def generate(cls) -> Keyring:
        kid = new_key_id()
        return cls(active=kid, keys={kid: AESGCM.generate_key(bit_length=256)})

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Keyring:
        try:
            data = json.loads(text)
            keys = {str(k): _b64d(v) for k, v in data["keys"].items()}
            active = str(data["active"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyringInvalidError(
                f"{source} is not a keyring: expected JSON {{'active': kid, 'keys': {{kid: base64}}}}"
            ) from None
        if active not in keys:
            raise KeyringInvalidError(f"{source}: active key id {active!r} is not among its keys")
        for kid, key in keys.items():
            if len(key) != KEY_BYTES:
                raise KeyringInvalidError(f"{source}: key {kid!r} is not 256 bits")
        return cls(active=active, keys=keys)

    def to_json(self) -> str:
        return json.dumps({"active": self.active, "keys": {k: _b64e(v) for k, v in self.keys.items()}}, indent=2)

    def add_key(self) -> str:
        """Add a fresh key and make it active; returns its id."""
        kid = new_key_id()
        while kid in self.keys:
            kid = new_key_id()
        self.keys[kid] = AESGCM.generate_key(bit_length=256)
        self.active = kid
        return kid

    def retire(self, kid: str) -> None:
        if kid == self.active:
            raise SecretBoxError("the active key cannot be retired; rotate first")
        if kid not in self.keys:
            raise UnknownKeyError(f"no key with id {kid!r} in the keyring")
        del self.keys[kid]

    def save(self, path: Path) -> None:
        """Write atomically with owner-only permissions."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.to_json())
        os.replace(tmp, path)


def load_keyring(env_value: str | None, path: Path) -> Keyring:
    """The keyring from the environment variable if set, else from the file."""
    if env_value:
        return Keyring.from_json(env_value, source="HOLOVITALS_KEYRING")
    if not path.exists():
        raise KeyringMissingError(f"no keyring at {path}: run `holovitals keys init` or set HOLOVITALS_KEYRING")
    return Keyring.from_json(path.read_text(), source=str(path))


class SecretBox:
    """Seals and opens secrets with the keyring."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}

    def encrypt(self, plaintext: str | bytes, *, aad: str = "") -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        kid = self.keyring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, data, aad.encode())
        return f"{PREFIX}:{kid}:{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, *, aad: str = "") -> bytes:
        kid, blob = self._split(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKeyError(f"secret was sealed with key {kid!r}, which the keyring does not hold")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad.encode())
        except InvalidTag:
            raise DecryptionError(f"secret does not open with key {kid!r} (wrong key or altered)") from None

    def decrypt_str(self, token: str, *, aad: str = "") -> str:
        return self.decrypt(token, aad=aad).decode()

    def key_id_of(self, token: str) -> str:
        return self._split(token)[0]

    def needs_reencryption(self, token: str) -> bool:
        return self.key_id_of(token) != self.keyring.active

    def reencrypt(self, token: str, *, aad: str = "") -> str:
        return self.encrypt(self.decrypt(token, aad=aad), aad=aad)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise DecryptionError("stored value is not a HoloVitals ciphertext")
        try:
            blob = _b64d(parts[2])
        except (ValueError, TypeError):
            raise DecryptionError("stored ciphertext is not valid base64") from None
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionError("stored ciphertext is truncated")
        return parts[1], blob
