"""Every setting HoloVitals reads, in one place.

Settings come from the environment (prefix ``HOLOVITALS_``) or a ``.env`` file. A bad value stops
start-up with one line that names the setting (see :func:`load_settings`), never a traceback.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".holovitals")
QUEUE_NAMES = ("sync-jobs", "webhook-processing", "conflict-resolution", "data-transformation")
DEFAULT_QUEUE_WORKERS = {"sync-jobs": 5, "webhook-processing": 10, "conflict-resolution": 3, "data-transformation": 10}


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class SettingsError(Exception):
    """A setting has a value HoloVitals cannot start with; the message names the setting."""


class Settings(BaseSettings):
    """Effective configuration. Secrets are ``SecretStr`` so they never print by accident."""

    model_config = SettingsConfigDict(
        env_prefix="HOLOVITALS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(DEFAULT_HOME, description="Folder for the embedded database, queue, keyring and files")
    database_url: str = Field("", description="SQLAlchemy URL; default is a SQLite file under home")
    queue_url: str = Field("", description="Huey storage: sqlite:///file or redis://host:port/db")
    keyring: SecretStr | None = Field(
        None, description="Keyring JSON in the environment (takes precedence over keyring_file)"
    )
    keyring_file: Path | None = Field(None, description="Keyring file; default home/keyring.json")
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.CONSOLE
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    mllp_host: str = "127.0.0.1"
    mllp_port: int = Field(2575, ge=1, le=65535)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(8100, ge=1, le=65535)
    queue_workers: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_QUEUE_WORKERS),
        description='Worker threads per queue, e.g. {"sync-jobs": 5}',
    )
    sync_max_attempts: int = Field(3, ge=1, le=20, description="Attempts per sync job before it fails")
    sync_retry_base_seconds: float = Field(2.0, ge=0, le=3600, description="First retry delay; doubles each time")
    sync_lease_seconds: int = Field(60, ge=5, le=3600, description="A running job silent this long is resumed")
    sync_concurrency: int = Field(4, ge=1, le=64, description="Concurrent requests per connection during a sync")
    sync_interval_hours: float = Field(24, ge=1, le=168, description="Default scheduled incremental sync interval")
    http_max_attempts: int = Field(5, ge=1, le=20, description="Tries per FHIR request before a page fails")
    http_backoff_seconds: float = Field(0.5, ge=0, le=60, description="First back-off between tries; grows to 30 s")
    documents_max_bytes: int = Field(20_000_000, ge=1, description="Largest attachment downloaded during a sync")
    hl7_retention_days: float = Field(
        90, ge=0, le=36500, description="`holovitals hl7 purge` deletes stored HL7 v2 messages older than this"
    )
    db_pool_size: int = Field(10, ge=1, le=500)
    upsert_batch_size: int = Field(1000, ge=1, le=10000)

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("queue_url")
    @classmethod
    def _queue_url_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite://", "redis://", "rediss://", "memory://")):
            raise ValueError("must start with sqlite://, redis:// or memory://")
        return value

    @field_validator("queue_workers")
    @classmethod
    def _known_queues(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(QUEUE_NAMES)
        if unknown:
            raise ValueError(f"unknown queue {sorted(unknown)[0]!r}; queues are {', '.join(QUEUE_NAMES)}")
        if any(n < 1 or n > 256 for n in value.values()):
            raise ValueError("worker counts must be between 1 and 256")
        return {**DEFAULT_QUEUE_WORKERS, **value}

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'holovitals.db').as_posix()}"

    @property
    def effective_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{(self.home / 'queue.db').as_posix()}"

    @property
    def effective_keyring_file(self) -> Path:
        return self.keyring_file or self.home / "keyring.json"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    def masked(self) -> dict[str, str]:
        """The effective settings for display: secrets and URL passwords masked."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown[name] = "********" if value.get_secret_value() else ""
            elif value is None:
                shown[name] = ""
            else:
                shown[name] = str(value)
        shown["database_url"] = mask_url_password(self.effective_database_url)
        shown["queue_url"] = mask_url_password(self.effective_queue_url)
        shown["keyring_file"] = str(self.effective_keyring_file)
        return shown


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def mask_url_password(url: str) -> str:
    """Hide the password part of ``scheme://user:password@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:********@{host}"
    return url


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad setting as the user would type it."""
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "?"
    return f"invalid setting HOLOVITALS_{name.upper()}: {err['msg']}"


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into a :class:`SettingsError` with one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests call ``get_settings.cache_clear()`` after changing the env."""
    return load_settings()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
