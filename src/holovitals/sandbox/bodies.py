"""Request bodies and version headers of writes, checked as a FHIR server must before storing.

Pure functions of bytes and headers, raising `FhirError`: an unparseable body is 400, a JSON
value that is not an acceptable resource 422 (the status FHIR gives a resource that breaks its
rules), an id or type that contradicts the URL 400, as the R4 http page says.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

from .outcomes import FhirError

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# R4 elements with a minimum cardinality of 1, for the types clients write most.
REQUIRED_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Observation": ("status", "code"),
    "Condition": ("subject",),
    "Encounter": ("status", "class"),
    "MedicationRequest": ("status", "intent", "subject", "medication[x]"),
    "AllergyIntolerance": ("patient",),
    "Immunization": ("status", "vaccineCode", "patient", "occurrence[x]"),
    "Procedure": ("status", "subject"),
    "DiagnosticReport": ("status", "code"),
    "DocumentReference": ("status", "content"),
    "Binary": ("contentType",),
    "CarePlan": ("status", "intent", "subject"),
    "ServiceRequest": ("status", "intent", "subject"),
    "QuestionnaireResponse": ("status",),
    "Communication": ("status",),
}


def parse_resource(
    raw: bytes, content_type: str, resource_type: str, *, vendor: str, reject_modifier_extension: bool = False
) -> dict[str, Any]:
    """The resource a create or update carries, or the FhirError a server answers with."""
    if resource_type == "Binary" and content_type and "json" not in content_type:
        # FHIR lets a client POST/PUT a Binary as its native bytes.
        return {"resourceType": "Binary", "contentType": content_type, "data": base64.b64encode(raw).decode()}
    if "xml" in content_type:
        raise FhirError(415, "this server takes JSON resources (application/fhir+json)")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, f"request body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise FhirError(422, "request body is not a FHIR resource (a JSON object with resourceType)")
    if body["resourceType"] != resource_type:
        raise FhirError(400, f"resourceType {body['resourceType']} does not match the URL ({resource_type})")
    rid = body.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_RE.match(rid)):
        raise FhirError(400, "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'", expression="id")
    missing = [name for name in REQUIRED_ELEMENTS.get(resource_type, ()) if not has_element(body, name)]
    if missing:
        message = f"{resource_type} requires {', '.join(missing)}"
        raise FhirError(422, message, expression=f"{resource_type}.{missing[0]}")
    if reject_modifier_extension and b"modifierExtension" in raw:
        raise FhirError(422, f"{vendor} does not accept modifierExtension on write")
    return body


def has_element(body: dict[str, Any], name: str) -> bool:
    """Present and not empty; `medication[x]` is any `medicationCodeableConcept`, `medicationReference`..."""
    if name.endswith("[x]"):
        stem = name[:-3]
        return any(key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper() for key in body)
    return body.get(name) not in (None, "", [], {})


def version_of(tag: str) -> int | None:
    """`W/"3"`, `"3"` or `3` -> 3; anything else None."""
    tag = tag.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() else None


def if_match_version(header: str | None) -> int | None:
    """The version an If-Match header guards, None without one (or with `*`); 400 when malformed."""
    if not header or header.strip() == "*":
        return None
    version = version_of(header)
    if version is None:
        raise FhirError(400, 'If-Match must be an ETag such as W/"3"')
    return version


def etag_matches(header: str | None, version: int) -> bool:
    """If-None-Match: does any listed ETag name this version?"""
    return bool(header) and any(version_of(tag) == version for tag in header.split(","))
