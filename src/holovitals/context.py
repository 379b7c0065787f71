"""The process's shared handles: settings, database engine, sessions, secret vault."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from holovitals.config import Settings, get_settings
from holovitals.security.vault import Vault
from holovitals.store.db import make_engine, session_factory


@dataclass
class AppContext:
    settings: Settings
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings.effective_database_url, pool_size=self.settings.db_pool_size)

    @classmethod
    def from_env(cls) -> AppContext:
        return cls(get_settings())

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def vault(self) -> Vault:
        """Loaded on first use, so commands that need no secret run without a keyring."""
        return Vault.from_settings(self.settings)

    def close(self) -> None:
        self.engine.dispose()
