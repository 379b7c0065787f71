"""Knobs of the sandbox EHR that tests and the demo turn; vendor behaviour itself lives in `flavours`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox app behaves beyond its flavours' defaults.

    ``clock`` (wall-clock seconds) drives rate-limit windows and paging-session expiry, so tests can
    cross a minute boundary or outlive a session without sleeping.
    ``flavour_overrides`` replaces fields of a flavour, e.g. ``{"epic": {"result_cap": 50}}``.
    """

    clock: Callable[[], float] = time.time
    paging_ttl_s: float = 900.0
    max_paging_sessions: int = 5000
    ecw_requests_per_minute: int = 250
    flavour_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    enforce_vendor_write_support: bool = True
