"""Find a vendor profile by its key or a name people actually type (``cerner``, ``allscripts``, ``ecw``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from holovitals.vendors import athena, eclinicalworks, epic, generic, meditech, nextgen, oracle_health, veradigm
from holovitals.vendors.profile import VendorProfile

PROFILES: tuple[VendorProfile, ...] = (
    epic.PROFILE,
    oracle_health.PROFILE,
    meditech.PROFILE,
    athena.PROFILE,
    eclinicalworks.PROFILE,
    nextgen.ENTERPRISE,
    nextgen.OFFICE,
    veradigm.PROFILE,
    generic.PROFILE,
)

ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "cerner": "oracle_health",
        "oracle": "oracle_health",
        "oraclehealth": "oracle_health",
        "expanse": "meditech",
        "athenahealth": "athena",
        "ecw": "eclinicalworks",
        "healow": "eclinicalworks",
        "nextgen": "nextgen_enterprise",
        "nge": "nextgen_enterprise",
        "meditouch": "nextgen_office",
        "allscripts": "veradigm",
        "smart": "generic",
        "r4": "generic",
    }
)

_BY_KEY: Mapping[str, VendorProfile] = MappingProxyType({p.key: p for p in PROFILES})


class UnknownVendor(LookupError):
    """No profile by that name; the message lists the names that exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown vendor {name!r}; known: {', '.join(names())}")
        self.name = name


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get_profile(name: str) -> VendorProfile:
    """The profile for a key or alias, case and dash insensitive."""
    key = _normalise(name)
    key = ALIASES.get(key, ALIASES.get(key.replace("_", ""), key))
    try:
        return _BY_KEY[key]
    except KeyError:
        raise UnknownVendor(name) from None


def all_profiles() -> tuple[VendorProfile, ...]:
    return PROFILES


def names() -> list[str]:
    """Every key, then every alias."""
    return [p.key for p in PROFILES] + sorted(ALIASES)
