"""Stored secrets are ciphertext in the database, and rotation re-encrypts every one of them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from holovitals.security.secretbox import DecryptionError, SecretBox, UnknownKeyError
from holovitals.security.vault import Vault, keyring_from_settings, keys_in_use, rotate
from holovitals.store.db import transaction
from holovitals.store.models import Connection, Integration, WebhookConfig

SECRETS = {
    "credentials_enc": "client-secret-abcdef123456",
    "access_token_enc": "access-token-zyxwvu987654",
    "refresh_token_enc": "refresh-token-qwerty55555",
}


@pytest.fixture
def stored(ctx, tenant):
    """A connection, a webhook and an integration, each holding secrets."""
    with transaction(ctx.sessions) as session:
        conn = Connection(org_id=tenant.org_id, name="Epic", vendor="epic")
        hook = WebhookConfig(org_id=tenant.org_id, name="out", url="https://example.org/hook")
        integ = Integration(org_id=tenant.org_id, kind="lab", name="Lab")
        session.add_all([conn, hook, integ])
        session.flush()
        for column, value in SECRETS.items():
            ctx.vault.seal(conn, column, value)
        ctx.vault.seal(hook, "secret_enc", "webhook-secret-1234567")
        ctx.vault.seal(integ, "credentials_enc", "lab-password-7654321")
        return conn.id, hook.id, integ.id


def raw_values(ctx) -> list[str]:
    with ctx.engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT credentials_enc, access_token_enc, refresh_token_enc FROM connections "
                "UNION ALL SELECT secret_enc, NULL, NULL FROM webhook_configs "
                "UNION ALL SELECT credentials_enc, NULL, NULL FROM integrations"
            )
        ).all()
    return [v for row in rows for v in row if v]


def test_secrets_are_ciphertext_in_the_raw_database_column(ctx, stored):
    values = raw_values(ctx)
    assert len(values) == 5
    for value in values:
        assert value.startswith("hv1:")
        for secret in [*SECRETS.values(), "webhook-secret-1234567", "lab-password-7654321"]:
            assert secret not in value


def test_rotation_reencrypts_every_stored_secret(ctx, stored):
    conn_id, hook_id, integ_id = stored
    keyring = keyring_from_settings(ctx.settings)
    old_kid = keyring.active
    with transaction(ctx.sessions) as session:
        report = rotate(session, keyring, ctx.settings.effective_keyring_file)
    assert report.reencrypted == 5
    assert report.keys_in_use == {report.new_key_id: 5}
    assert all(f":{report.new_key_id}:" in v for v in raw_values(ctx))

    reloaded = Vault(SecretBox(keyring_from_settings(ctx.settings)))
    assert reloaded.box.keyring.active == report.new_key_id
    assert old_kid in reloaded.box.keyring.keys  # kept until retired
    with ctx.sessions() as session:
        conn = session.get(Connection, conn_id)
        assert {c: reloaded.open(conn, c) for c in SECRETS} == SECRETS
        assert reloaded.open(session.get(WebhookConfig, hook_id), "secret_enc") == "webhook-secret-1234567"
        assert reloaded.open(session.get(Integration, integ_id), "credentials_enc") == "lab-password-7654321"


def test_old_ciphertext_still_decrypts_after_rotation_until_the_key_is_retired(ctx, stored):
    conn_id, *_ = stored
    with ctx.engine.connect() as db:
        old_token = db.execute(text("SELECT access_token_enc FROM connections")).scalar_one()
    keyring = keyring_from_settings(ctx.settings)
    old_kid = keyring.active
    with transaction(ctx.sessions) as session:
        rotate(session, keyring, ctx.settings.effective_keyring_file)
    box = SecretBox(keyring)
    aad = f"connections.access_token_enc:{conn_id}"
    assert box.decrypt_str(old_token, aad=aad) == SECRETS["access_token_enc"]  # e.g. restored from a backup
    keyring.retire(old_kid)
    with pytest.raises(UnknownKeyError):
        SecretBox(keyring).decrypt(old_token, aad=aad)


def test_a_failed_rotation_leaves_every_secret_readable(ctx, stored, monkeypatch):
    conn_id, *_ = stored
    keyring = keyring_from_settings(ctx.settings)
    from holovitals.security import vault as vault_module

    def fail_midway(session, box):
        raise RuntimeError("disk full")

    monkeypatch.setattr(vault_module, "reencrypt_all", fail_midway)
    with pytest.raises(RuntimeError), transaction(ctx.sessions) as session:
        rotate(session, keyring, ctx.settings.effective_keyring_file)
    # The new keyring was saved first, and still holds the old key: nothing is stranded.
    reloaded = Vault(SecretBox(keyring_from_settings(ctx.settings)))
    with ctx.sessions() as session:
        assert reloaded.open(session.get(Connection, conn_id), "refresh_token_enc") == SECRETS["refresh_token_enc"]
        assert keys_in_use(session, reloaded.box) != {}


def test_a_secret_copied_into_another_row_does_not_open(ctx, stored, tenant):
    conn_id, *_ = stored
    with transaction(ctx.sessions) as session:
        src = session.get(Connection, conn_id)
        other = Connection(org_id=tenant.org_id, name="copy", vendor="epic")
        session.add(other)
        session.flush()
        other.access_token_enc = src.access_token_enc
    with ctx.sessions() as session, pytest.raises(DecryptionError):
        ctx.vault.open(session.get(Connection, other.id), "access_token_enc")
