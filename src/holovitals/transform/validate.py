"""Validation of incoming resources: a fast structural check for the hot path, a strict one on demand.

Strict mode builds a fhir.resources (R4B) model per resource, about 2,000 resources/s on this machine:
right for a single record or a small import, never the default for a bulk sync.
"""

from __future__ import annotations

import importlib
import re
from enum import StrEnum
from functools import lru_cache
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,255}$")
REFERENCE_PATTERN = re.compile(
    r"^([A-Za-z]+/[A-Za-z0-9\-.]{1,255}(/_history/[A-Za-z0-9\-.]+)?|#.*|urn:.+|https?://.+)$"
)

# Clinical types whose subject/patient reference must be present: a record without its patient
# cannot be placed in anyone's chart.
REQUIRED_REFERENCES: dict[str, tuple[str, ...]] = {
    "Observation": ("subject",),
    "Condition": ("subject",),
    "Encounter": ("subject",),
    "MedicationRequest": ("subject",),
    "Procedure": ("subject",),
    "DiagnosticReport": ("subject",),
    "AllergyIntolerance": ("patient",),
    "Immunization": ("patient",),
    "CarePlan": ("subject",),
}


class ValidationMode(StrEnum):
    STRUCTURAL = "structural"
    STRICT = "strict"


def _valid_id(rid: Any) -> bool:
    return (
        isinstance(rid, str)
        and 0 < len(rid) <= 255
        and rid.isascii()
        and (rid.isalnum() or bool(ID_PATTERN.match(rid)))
    )


def _valid_reference(ref: str) -> bool:
    # Most references are "Type/id": check those with string operations, the rest with the pattern.
    rtype, sep, rid = ref.partition("/")
    if sep and rtype.isalpha() and rtype[:1].isupper() and "/" not in rid:
        return _valid_id(rid)
    return bool(REFERENCE_PATTERN.match(ref))


def structural_issues(resource: Any) -> list[str]:
    """Cheap checks that catch what would corrupt the store or the patient index (the hot path)."""
    if not isinstance(resource, dict):
        return ["resource is not a JSON object"]
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype[:1].isupper():
        return ["resourceType is missing or not a FHIR type name"]
    issues: list[str] = []
    if not _valid_id(resource.get("id")):
        issues.append(f"{rtype}.id is missing or not a valid id")
    meta = resource.get("meta")
    if meta is not None:
        if not isinstance(meta, dict):
            issues.append(f"{rtype}.meta is not an object")
        else:
            last = meta.get("lastUpdated")
            if last is not None and (not isinstance(last, str) or "T" not in last):
                issues.append(f"{rtype}.meta.lastUpdated is not an instant")
    for name in REQUIRED_REFERENCES.get(rtype, ()):
        ref = resource.get(name)
        reference = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(reference, str):
            issues.append(f"{rtype}.{name} reference is missing")
        elif not _valid_reference(reference):
            issues.append(f"{rtype}.{name}.reference is malformed")
    return issues


@lru_cache(maxsize=256)
def _model_for(resource_type: str):
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def strict_issues(resource: dict[str, Any]) -> list[str]:
    """Structural checks plus a full R4B model validation; messages name paths, not values."""
    issues = structural_issues(resource)
    if issues:
        return issues
    try:
        model = _model_for(resource["resourceType"])
    except (ImportError, AttributeError):
        return [f"{resource['resourceType']} is not an R4 resource type"]
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic's ValidationError and fhir.resources' own
        errors = getattr(exc, "errors", None)
        if callable(errors):
            return [
                f"{resource['resourceType']}.{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type', 'invalid')}"
                for e in errors()[:5]
            ]
        return [f"{resource['resourceType']} does not validate as R4"]
    return []


def validate(resource: Any, mode: ValidationMode = ValidationMode.STRUCTURAL) -> list[str]:
    return strict_issues(resource) if mode == ValidationMode.STRICT else structural_issues(resource)
