"""Settings: defaults, a bad value stops start-up with one line naming it, secrets masked when shown."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from holovitals.config import SettingsError, load_settings

CLI = [sys.executable, "-m", "holovitals.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")}
    full_env.update(env or {})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


def test_defaults_put_everything_under_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("HOLOVITALS_"):
            monkeypatch.delenv(name)
    s = load_settings()
    assert s.effective_database_url == "sqlite:///.holovitals/holovitals.db"
    assert s.effective_queue_url == "sqlite:///.holovitals/queue.db"
    assert str(s.effective_keyring_file) == ".holovitals/keyring.json"


def test_postgres_urls_use_psycopg3():
    s = load_settings(database_url="postgresql://root@127.0.0.1:5432/test")
    assert s.effective_database_url == "postgresql+psycopg://root@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"HOLOVITALS_LOG_LEVEL": "LOUD"}, "HOLOVITALS_LOG_LEVEL"),
        ({"HOLOVITALS_API_PORT": "99999"}, "HOLOVITALS_API_PORT"),
        ({"HOLOVITALS_DATABASE_URL": "mysql://x"}, "HOLOVITALS_DATABASE_URL"),
        ({"HOLOVITALS_QUEUE_URL": "amqp://x"}, "HOLOVITALS_QUEUE_URL"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_naming_it(env, names, tmp_path):
    proc = run_cli("config", "show", env=env, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: invalid setting {names}:")
    assert "Traceback" not in proc.stderr


def test_load_settings_raises_a_one_line_error():
    with pytest.raises(SettingsError, match="HOLOVITALS_LOG_FORMAT"):
        load_settings(log_format="xml")


def test_config_show_masks_secrets(tmp_path):
    proc = run_cli(
        "config",
        "show",
        env={
            "HOLOVITALS_KEYRING": '{"active":"k","keys":{"k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"}}',
            "HOLOVITALS_DATABASE_URL": "postgresql://hv:pa55word@db.internal:5432/hv",
            "COLUMNS": "200",
        },
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pa55word" not in proc.stdout and "c2VjcmV0" not in proc.stdout
    assert "postgresql+psycopg://hv:********@db.internal:5432/hv" in proc.stdout
    assert "HOLOVITALS_KEYRING" in proc.stdout and "********" in proc.stdout
