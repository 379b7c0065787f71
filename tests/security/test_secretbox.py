"""Secrets at rest: AES-256-GCM with key ids; wrong or missing keys are clear errors."""

from __future__ import annotations

import json

import pytest

from holovitals.security.secretbox import (
    DecryptionError,
    Keyring,
    KeyringInvalidError,
    KeyringMissingError,
    SecretBox,
    UnknownKeyError,
    load_keyring,
)


def test_secret_round_trips_and_the_ciphertext_hides_it():
    box = SecretBox(Keyring.generate())
    token = box.encrypt("client-secret-value", aad="connections.credentials_enc:1")
    assert "client-secret-value" not in token
    assert token.startswith(f"hv1:{box.keyring.active}:")
    assert box.decrypt_str(token, aad="connections.credentials_enc:1") == "client-secret-value"


def test_same_secret_encrypts_differently_each_time():
    box = SecretBox(Keyring.generate())
    assert box.encrypt("s") != box.encrypt("s")


def test_a_different_keyring_with_the_same_key_id_gives_a_clear_error_not_garbage():
    ring = Keyring.generate()
    token = SecretBox(ring).encrypt("top secret")
    impostor = Keyring(active=ring.active, keys={ring.active: b"\x01" * 32})
    with pytest.raises(DecryptionError, match="wrong key or altered"):
        SecretBox(impostor).decrypt(token)


def test_a_key_missing_from_the_keyring_is_named():
    token = SecretBox(Keyring.generate()).encrypt("top secret")
    with pytest.raises(UnknownKeyError, match="which the keyring does not hold"):
        SecretBox(Keyring.generate()).decrypt(token)


def test_ciphertext_moved_to_another_row_does_not_open():
    box = SecretBox(Keyring.generate())
    token = box.encrypt("token", aad="connections.access_token_enc:a")
    with pytest.raises(DecryptionError):
        box.decrypt(token, aad="connections.access_token_enc:b")


@pytest.mark.parametrize("token", ["plaintext", "hv1:k1", "hv1:k1:!!!", "hv1:k1:AAAA"])
def test_values_that_are_not_ciphertext_are_refused(token):
    with pytest.raises(DecryptionError):
        SecretBox(Keyring.generate()).decrypt(token)


def test_tampered_ciphertext_is_refused():
    box = SecretBox(Keyring.generate())
    token = box.encrypt("secret")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionError):
        box.decrypt(flipped)


def test_after_rotation_old_ciphertext_opens_until_its_key_is_retired():
    ring = Keyring.generate()
    old_kid = ring.active
    old_token = SecretBox(ring).encrypt("refresh-token")
    ring.add_key()
    box = SecretBox(ring)
    assert box.needs_reencryption(old_token)
    assert box.decrypt_str(old_token) == "refresh-token"
    new_token = box.reencrypt(old_token)
    assert box.key_id_of(new_token) == ring.active
    ring.retire(old_kid)
    with pytest.raises(UnknownKeyError):
        SecretBox(ring).decrypt(old_token)
    assert SecretBox(ring).decrypt_str(new_token) == "refresh-token"


def test_keyring_file_round_trip_and_owner_only_permissions(tmp_path):
    ring = Keyring.generate()
    path = tmp_path / "keyring.json"
    ring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keyring(None, path).keys == ring.keys


def test_keyring_from_the_environment_wins_over_the_file(tmp_path):
    env_ring, file_ring = Keyring.generate(), Keyring.generate()
    file_ring.save(tmp_path / "k.json")
    assert load_keyring(env_ring.to_json(), tmp_path / "k.json").active == env_ring.active


def test_missing_keyring_says_how_to_make_one(tmp_path):
    with pytest.raises(KeyringMissingError, match="holovitals keys init"):
        load_keyring(None, tmp_path / "absent.json")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"keys": {}}),
        json.dumps({"active": "k1", "keys": {"k2": "AAAA"}}),
        json.dumps({"active": "k1", "keys": {"k1": "AAAA"}}),
    ],
)
def test_malformed_keyrings_are_refused(text):
    with pytest.raises(KeyringInvalidError):
        Keyring.from_json(text, source="HOLOVITALS_KEYRING")
