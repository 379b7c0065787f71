"""Profiles flattened to (field, value, source) rows: what `holovitals vendors show` and docs/vendors.md print."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from holovitals.vendors.profile import SOURCED_FIELDS, Incremental, VendorProfile

NONE = "-"


def format_value(value: Any) -> str:
    """Compact, stable text for a profile value (sets sorted, so the docs do not churn)."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Incremental):
        return f"{value.kind} ({value.param})" if value.param else value.kind
    if isinstance(value, (frozenset, set)):
        return ", ".join(sorted(format_value(v) for v in value)) or NONE
    if isinstance(value, (tuple, list)):
        return ", ".join(format_value(v) for v in value) or NONE
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in value.items()) or NONE
    if dataclasses.is_dataclass(value):
        parts = []
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v in ((), "", None) or v == frozenset() or (isinstance(v, Mapping) and not v):
                continue
            if f.name == "one_of":
                parts.append("needs " + " and ".join("(" + " or ".join(sorted(g)) + ")" for g in v))
            else:
                parts.append(f"{f.name} {format_value(v)}")
        return ", ".join(parts) or NONE
    return str(value)


def rows(profile: VendorProfile) -> Iterator[tuple[str, str, str]]:
    """Every value, nested ones as ``auth.styles``; each with the citation of its top-level field."""
    for name in SOURCED_FIELDS:
        value = getattr(profile, name)
        source = profile.sources.get(name, "")
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                yield f"{name}.{f.name}", format_value(getattr(value, f.name)), source
        elif isinstance(value, Mapping) and value and name in ("search", "incremental", "error_codes"):
            for key, item in value.items():
                yield f"{name}[{key}]", format_value(item), source
            if name == "incremental":
                yield "incremental[other types]", format_value(profile.incremental_default), source
        elif name == "incremental":
            yield "incremental[every type]", format_value(profile.incremental_default), source
        else:
            yield name, format_value(value), source
    if profile.notes:
        yield "notes", profile.notes, "see the sources above"
