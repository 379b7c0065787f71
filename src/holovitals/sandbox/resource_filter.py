"""Search-style filters on single records: bulk `_typeFilter` and Subscription `_criteria`.

Both are a FHIR query string (`Observation?category=laboratory&status=final`) applied to one
resource at a time rather than to an index, so they share one small matcher. Only the parameters
listed in ``TOKEN_PATHS`` plus `_id`, `_lastUpdated` and `patient`/`subject` are understood; any
other parameter is an error, because silently ignoring a filter would export (or notify about)
data the client explicitly did not ask for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from holovitals.sandbox.r4_types import R4_RESOURCE_TYPES
from holovitals.sandbox.store import Record, parse_instant

# search parameter -> the element(s) it reads; first match per type wins (code differs by type)
TOKEN_PATHS: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "clinical-status": ("clinicalStatus",),
    "verification-status": ("verificationStatus",),
    "category": ("category",),
    "code": ("code", "medicationCodeableConcept", "vaccineCode"),
    "vaccine-code": ("vaccineCode",),
    "intent": ("intent",),
    "class": ("class",),
    "type": ("type",),
}
REFERENCE_PARAMS = ("patient", "subject")
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


class FilterError(ValueError):
    """The filter text is malformed or uses a parameter the sandbox does not support."""


@dataclass(frozen=True, slots=True)
class ResourceFilter:
    """`Type?param=value&...`: parameters AND, comma-separated values OR (FHIR search rules)."""

    resource_type: str | None
    params: tuple[tuple[str, tuple[str, ...]], ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> ResourceFilter:
        text = text.strip()
        rtype, sep, query = text.partition("?")
        if not sep:
            rtype, query = ("", text) if "=" in text else (text, "")
        if rtype and rtype not in R4_RESOURCE_TYPES:
            raise FilterError(f"'{rtype}' is not a FHIR R4 resource type")
        params: list[tuple[str, tuple[str, ...]]] = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if not value:
                raise FilterError(f"parameter '{name}' has no value")
            base = name.split(":", 1)[0]
            if base not in TOKEN_PATHS and base not in REFERENCE_PARAMS and base not in ("_id", "_lastUpdated"):
                raise FilterError(f"search parameter '{name}' is not supported in filters")
            if ":" in name:
                raise FilterError(f"search modifier in '{name}' is not supported in filters")
            if base == "_lastUpdated":
                for v in value.split(","):
                    _date_range(v)  # validate now, not at match time
            params.append((base, tuple(v for v in value.split(",") if v)))
        return cls(rtype or None, tuple(params), text)

    def needs_body(self) -> bool:
        return any(name in TOKEN_PATHS for name, _ in self.params)

    def matches(self, record: Record, body: dict[str, Any] | None = None) -> bool:
        """True when ``record`` passes; ``body`` is parsed from ``record.raw`` only when needed."""
        if self.resource_type and record.resource_type != self.resource_type:
            return False
        if body is None and self.needs_body():
            body = record.body
        return all(_CHECKS[name](record, body or {}, values) for name, values in self.params)


def _check_id(record: Record, _body: dict[str, Any], values: tuple[str, ...]) -> bool:
    return record.id in values


def _check_patient(record: Record, _body: dict[str, Any], values: tuple[str, ...]) -> bool:
    return record.patient_id is not None and record.patient_id in {v.removeprefix("Patient/") for v in values}


def _check_last_updated(record: Record, _body: dict[str, Any], values: tuple[str, ...]) -> bool:
    return any(_date_matches(record.last_updated, v) for v in values)


_CHECKS: dict[str, Callable[[Record, dict[str, Any], tuple[str, ...]], bool]] = {
    "_id": _check_id,
    "patient": _check_patient,
    "subject": _check_patient,
    "_lastUpdated": _check_last_updated,
}


def _token_check(name: str) -> Callable[[Record, dict[str, Any], tuple[str, ...]], bool]:
    def check(record: Record, body: dict[str, Any], values: tuple[str, ...]) -> bool:
        for path in TOKEN_PATHS[name]:
            if path in body:
                codes = list(_codings(body[path]))
                return any(_token_matches(codes, v) for v in values)
        return False

    return check


_CHECKS.update({name: _token_check(name) for name in TOKEN_PATHS})


def _codings(value: Any) -> Iterable[tuple[str | None, str | None]]:
    """(system, code) pairs of a code, Coding, CodeableConcept or a list of them."""
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, list):
        for item in value:
            yield from _codings(item)
    elif isinstance(value, dict):
        if "coding" in value:
            yield from _codings(value["coding"])
        elif "code" in value:
            yield value.get("system"), value.get("code")


def _token_matches(codes: list[tuple[str | None, str | None]], token: str) -> bool:
    if "|" not in token:
        return any(code == token for _, code in codes)
    system, code = token.split("|", 1)
    if not code:
        return any(s == system for s, _ in codes)
    if not system:  # `|code`: the code must have no system
        return any(s is None and c == code for s, c in codes)
    return any(s == system and c == code for s, c in codes)


_PRECISION = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _date_range(value: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end) of a date search value; end is exclusive, as the precision implies."""
    prefix = value[:2] if value[:2] in DATE_PREFIXES else "eq"
    text = value[2:] if value[:2] in DATE_PREFIXES else value
    try:
        if _PRECISION.match(text):
            parts = [int(p) for p in text.split("-")]
            start = datetime(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1, tzinfo=UTC)
            if len(parts) == 3:
                end = start + timedelta(days=1)
            elif len(parts) == 2:
                end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
            else:
                end = datetime(start.year + 1, 1, 1, tzinfo=UTC)
            return prefix, start, end
        start = parse_instant(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"'{value}' is not a date, dateTime or instant") from None
    return prefix, start, start + timedelta(milliseconds=1)


def _date_matches(moment: datetime, value: str) -> bool:
    prefix, start, end = _date_range(value)
    return {
        "eq": start <= moment < end,
        "ne": not start <= moment < end,
        "gt": moment >= end,
        "sa": moment >= end,
        "ge": moment >= start,
        "lt": moment < start,
        "eb": moment < start,
        "le": moment < end,
    }[prefix]
