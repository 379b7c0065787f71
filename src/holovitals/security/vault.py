"""Secrets in the database: sealing per row and column, and key rotation over every stored secret."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.config import Settings
from holovitals.security.redaction import register_sensitive
from holovitals.security.secretbox import Keyring, KeyringMissingError, SecretBox, load_keyring
from holovitals.store.models import ENCRYPTED_COLUMNS, Base


def aad_for(row: Base, column: str) -> str:
    """Binds a ciphertext to its table, column and row: copied elsewhere, it will not open."""
    return f"{row.__tablename__}.{column}:{row.id}"


def keyring_from_settings(settings: Settings) -> Keyring:
    env = settings.keyring.get_secret_value() if settings.keyring else None
    return load_keyring(env, settings.effective_keyring_file)


def init_keyring(settings: Settings) -> tuple[Keyring, bool]:
    """Load the keyring, creating the file when there is none; returns (keyring, created)."""
    try:
        return keyring_from_settings(settings), False
    except KeyringMissingError:
        keyring = Keyring.generate()
        keyring.save(settings.effective_keyring_file)
        return keyring, True


class Vault:
    """Seal and open a model's ``*_enc`` columns."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        return cls(SecretBox(keyring_from_settings(settings)))

    def seal(self, row: Base, column: str, plaintext: str | None) -> None:
        if row.id is None:
            raise ValueError("flush the row before sealing a secret into it (its id is part of the seal)")
        setattr(row, column, None if plaintext is None else self.box.encrypt(plaintext, aad=aad_for(row, column)))

    def open(self, row: Base, column: str) -> str | None:
        token = getattr(row, column)
        if token is None:
            return None
        plaintext = self.box.decrypt_str(token, aad=aad_for(row, column))
        register_sensitive(plaintext)
        return plaintext


@dataclass
class RotationReport:
    new_key_id: str
    reencrypted: int
    keys_in_use: dict[str, int]


def reencrypt_all(session: Session, box: SecretBox) -> int:
    """Re-seal every stored secret that is not under the active key."""
    count = 0
    for model, columns in ENCRYPTED_COLUMNS.items():
        for row in session.execute(select(model)).scalars():
            for column in columns:
                token = getattr(row, column)
                if token and box.needs_reencryption(token):
                    setattr(row, column, box.reencrypt(token, aad=aad_for(row, column)))
                    count += 1
    return count


def keys_in_use(session: Session, box: SecretBox) -> dict[str, int]:
    usage: dict[str, int] = {}
    for model, columns in ENCRYPTED_COLUMNS.items():
        for values in session.execute(select(*(getattr(model, c) for c in columns))):
            for token in values:
                if token:
                    kid = box.key_id_of(token)
                    usage[kid] = usage.get(kid, 0) + 1
    return usage


def rotate(session: Session, keyring: Keyring, keyring_path: Path | None) -> RotationReport:
    """Add a key, persist the keyring first (so a crash never strands data), then re-seal everything.

    The caller commits the session. Old keys stay in the keyring so older ciphertext (a backup, a row
    written by a worker that had not reloaded) still opens until ``keys retire``.
    """
    kid = keyring.add_key()
    if keyring_path is not None:
        keyring.save(keyring_path)
    box = SecretBox(keyring)
    count = reencrypt_all(session, box)
    session.flush()
    return RotationReport(new_key_id=kid, reencrypted=count, keys_in_use=keys_in_use(session, box))
