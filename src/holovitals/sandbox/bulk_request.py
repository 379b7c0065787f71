"""Bulk Data kick-off parameters: read from the query string or a POSTed Parameters resource.

Everything a client can get wrong is checked here, before a job exists, so a bad request costs
the client one 400 with a precise OperationOutcome instead of an hour of polling for a failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from holovitals.sandbox.r4_types import R4_RESOURCE_TYPES
from holovitals.sandbox.resource_filter import FilterError, ResourceFilter
from holovitals.sandbox.store import parse_instant

OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
KNOWN_PARAMS = frozenset({"_outputFormat", "_since", "_type", "_typeFilter", "_elements", "patient"})
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


class KickoffError(ValueError):
    """A kick-off the server refuses; ``status`` and ``code`` go into the OperationOutcome."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ExportRequest:
    """A validated kick-off. ``types`` None means every type the level covers."""

    level: str  # "system" | "patient" | "group"
    group_id: str | None = None
    since: datetime | None = None
    types: tuple[str, ...] | None = None
    type_filters: tuple[ResourceFilter, ...] = ()
    patients: tuple[str, ...] | None = None
    elements: tuple[str, ...] | None = None
    output_format: str = "application/fhir+ndjson"
    warnings: tuple[str, ...] = ()  # ignored under `Prefer: handling=lenient`; reported in `error`

    def signature(self) -> tuple[Any, ...]:
        """What makes two kick-offs "identical" (eClinicalWorks refuses a duplicate in flight)."""
        return (
            self.level,
            self.group_id,
            self.since,
            tuple(sorted(self.types or ())),
            tuple(sorted(f.text for f in self.type_filters)),
            tuple(sorted(self.patients or ())),
            tuple(sorted(self.elements or ())),
        )

    def filters_for(self, resource_type: str) -> list[ResourceFilter]:
        return [f for f in self.type_filters if f.resource_type == resource_type]


def prefer_tokens(prefer: str | None) -> set[str]:
    return {part.strip().lower() for part in (prefer or "").split(",") if part.strip()}


def check_headers(accept: str | None, prefer: str | None) -> None:
    if "respond-async" not in prefer_tokens(prefer):
        raise KickoffError("bulk export is asynchronous: send the header 'Prefer: respond-async'")
    if not accept or "application/fhir+json" not in accept.lower():
        raise KickoffError("send the header 'Accept: application/fhir+json' (the format of an OperationOutcome)")


def parameters_from_body(body: bytes) -> list[tuple[str, str]]:
    """(name, value) pairs of a POSTed Parameters resource; an empty body gives none."""
    if not body.strip():
        return []
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise KickoffError("the request body is not JSON; POST a FHIR Parameters resource") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
        raise KickoffError("the request body must be a FHIR Parameters resource")
    pairs: list[tuple[str, str]] = []
    for param in resource.get("parameter") or []:
        name = param.get("name") if isinstance(param, dict) else None
        if not isinstance(name, str):
            raise KickoffError("every Parameters.parameter needs a name")
        value = _parameter_value(param)
        if value is None:
            raise KickoffError(f"parameter '{name}' has no value")
        pairs.append((name, value))
    return pairs


def _parameter_value(param: dict[str, Any]) -> str | None:
    for key, value in param.items():
        if key == "valueReference" and isinstance(value, dict):
            return value.get("reference")
        if key.startswith("value") and isinstance(value, str | int | bool):
            return str(value)
    return None


def parse_kickoff(
    level: str, pairs: Iterable[tuple[str, str]], *, group_id: str | None = None, lenient: bool = False
) -> ExportRequest:
    """Validate kick-off parameters (query and body pairs together). Raises KickoffError."""
    warnings: list[str] = []
    since: datetime | None = None
    output_format = "application/fhir+ndjson"
    types: list[str] | None = None
    filters: list[ResourceFilter] = []
    patients: list[str] | None = None
    elements: list[str] | None = None
    for name, value in pairs:
        if name not in KNOWN_PARAMS:
            if not lenient:
                raise KickoffError(f"unknown export parameter '{name}'", code="not-supported")
            warnings.append(f"ignored unknown export parameter '{name}'")
        elif name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise KickoffError(f"_outputFormat '{value}' is not supported; use application/fhir+ndjson")
            output_format = value
        elif name == "_since":
            since = _instant(value)
        elif name == "_type":
            types = (types or []) + _type_list(value)
        elif name == "_typeFilter":
            filters.extend(_type_filter(value, lenient, warnings))
        elif name == "_elements":
            elements = (elements or []) + _element_list(value)
        elif name == "patient":
            if level == "system":
                raise KickoffError("the 'patient' parameter applies to Patient and Group level export only")
            patients = (patients or []) + [ref.strip().removeprefix("Patient/") for ref in value.split(",")]
    if types is not None:
        types = list(dict.fromkeys(types))
        filters = [f for f in filters if f.resource_type in types]
    return ExportRequest(
        level=level,
        group_id=group_id,
        since=since,
        types=tuple(types) if types is not None else None,
        type_filters=tuple(filters),
        patients=tuple(dict.fromkeys(patients)) if patients is not None else None,
        elements=tuple(elements) if elements is not None else None,
        output_format=output_format,
        warnings=tuple(warnings),
    )


def _instant(value: str) -> datetime:
    try:
        moment = parse_instant(value.replace(" ", "+"))  # a '+' offset that arrived unencoded
    except ValueError:
        raise KickoffError(f"_since '{value}' is not a FHIR instant (e.g. 2026-01-31T12:00:00Z)") from None
    if "T" not in value:
        raise KickoffError(f"_since '{value}' must be an instant with a time and zone, not a date")
    return moment


def _type_list(value: str) -> list[str]:
    names = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [t for t in names if t not in R4_RESOURCE_TYPES]
    if unknown:
        raise KickoffError(f"_type lists unknown resource type(s): {', '.join(unknown)}")
    return names


def _type_filter(value: str, lenient: bool, warnings: list[str]) -> list[ResourceFilter]:
    try:
        parsed = ResourceFilter.parse(value)
    except FilterError as exc:
        if lenient:
            warnings.append(f"ignored _typeFilter '{value}': {exc}")
            return []
        raise KickoffError(f"_typeFilter '{value}': {exc}", code="not-supported") from None
    if parsed.resource_type is None:
        raise KickoffError(f"_typeFilter '{value}' must start with a resource type, e.g. Observation?status=final")
    return [parsed]


def _element_list(value: str) -> list[str]:
    names = [e.strip() for e in value.split(",") if e.strip()]
    for name in names:
        rtype, dot, element = name.rpartition(".")
        if (dot and rtype not in R4_RESOURCE_TYPES) or not element.isidentifier():
            raise KickoffError(f"_elements entry '{name}' is not an element name or Type.element")
    return names


def subset_elements(raw: bytes, resource_type: str, elements: tuple[str, ...]) -> bytes:
    """Keep the mandatory elements plus those asked for, tagged SUBSETTED as the spec requires."""
    keep = {"resourceType", "id", "meta"}
    for name in elements:
        rtype, dot, element = name.rpartition(".")
        if not dot or rtype == resource_type:
            keep.add(element)
    body = orjson.loads(raw)
    out = {k: v for k, v in body.items() if k in keep}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return orjson.dumps(out)
