"""Discovery documents per flavour: the CapabilityStatement and a fallback SMART configuration.

The CapabilityStatement says what the flavour really does (no `_lastUpdated` on MEDITECH, no
history on Epic, `no-version` on NextGen), so a client that reads it before syncing plans the
same way it would against the vendor.
"""

from __future__ import annotations

from collections.abc import Iterable

from .flavours import Flavour
from .search import DATE_PARAMS, NON_COMPARTMENT_TYPES, TOKEN_PARAMS

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SEARCH_PARAM_TYPES = {"_id": "token", "_lastUpdated": "date", "_since": "date", "patient": "reference"}
SEARCH_PARAM_TYPES |= {"subject": "reference"}
SEARCH_PARAM_TYPES |= dict.fromkeys(TOKEN_PARAMS, "token") | dict.fromkeys(DATE_PARAMS, "date")
SEARCH_PARAM_TYPES |= {"name": "string", "family": "string", "given": "string"}

# Which parameters a type advertises (search itself is generic: any field a resource has can match).
_BY_TYPE: dict[str, tuple[str, ...]] = {
    "Patient": ("identifier", "name", "family", "given", "gender", "birthdate"),
    "Practitioner": ("identifier", "name", "family", "given"),
    "Organization": ("identifier", "name", "type"),
    "Location": ("name", "type"),
    "Observation": ("category", "code", "date", "status"),
    "Condition": ("category", "code", "clinical-status", "onset-date", "recorded-date"),
    "DiagnosticReport": ("category", "code", "date", "status"),
    "DocumentReference": ("category", "type", "date", "status"),
    "Encounter": ("type", "date", "status"),
    "MedicationRequest": ("category", "code", "intent", "status", "authoredon"),
    "AllergyIntolerance": ("category", "code", "clinical-status"),
    "Immunization": ("vaccine-code", "date", "status"),
    "Procedure": ("code", "date", "status"),
    "CarePlan": ("category", "date", "intent", "status"),
}


def search_params(flavour: Flavour, resource_type: str) -> list[dict]:
    names = ["_id"]
    names += list(flavour.id_aliases)
    if flavour.supports_last_updated(resource_type):
        names.append("_lastUpdated")
    if flavour.since_param:
        names.append(flavour.since_param)
    if resource_type not in NON_COMPARTMENT_TYPES:
        names += ["patient", "subject"]
    names += _BY_TYPE.get(resource_type, ())
    if flavour.practice_param:
        names.append(flavour.practice_param)
    return [
        {"name": n, "type": SEARCH_PARAM_TYPES.get(n, "token" if n in flavour.id_aliases else "string")} for n in names
    ]


def _interactions(flavour: Flavour, resource_type: str, write_limits: bool) -> list[dict]:
    codes = ["read", "search-type"]
    if flavour.history:
        codes += ["vread", "history-instance"]
    if not write_limits or flavour.can_create(resource_type):
        codes.append("create")
    if not write_limits or flavour.can_update(resource_type):
        codes.append("update")
    if not write_limits or flavour.delete_supported:
        codes.append("delete")
    return [{"code": c} for c in codes]


def capability_statement(
    flavour: Flavour,
    base: str,
    types: Iterable[str],
    *,
    bulk: bool,
    write_limits: bool = True,
    security: dict | None = None,
) -> dict:
    """``security`` replaces the default SMART block (the auth server describes itself when attached)."""
    resources = []
    for rtype in sorted(types):
        entry: dict = {
            "type": rtype,
            "interaction": _interactions(flavour, rtype, write_limits),
            "versioning": "versioned-update" if flavour.versioning else "no-version",
            "readHistory": flavour.history,
            "updateCreate": True,
            "conditionalCreate": False,
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "searchParam": search_params(flavour, rtype),
        }
        if rtype == "Patient":
            entry["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        resources.append(entry)
    rest: dict = {
        "mode": "server",
        "security": {
            "cors": True,
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "extension": [
                {
                    "url": OAUTH_URIS,
                    "extension": [
                        {"url": "authorize", "valueUri": f"{base}/auth/authorize"},
                        {"url": "token", "valueUri": f"{base}/auth/token"},
                        {"url": "revoke", "valueUri": f"{base}/auth/revoke"},
                    ],
                }
            ],
        },
        "resource": resources,
    }
    if security is not None:
        rest["security"] = {"cors": True, **security}
    if bulk:
        rest["operation"] = [
            {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}
        ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "software": {"name": f"HoloVitals sandbox EHR ({flavour.vendor})", "version": "1"},
        "implementation": {"description": f"Sandbox imitation of {flavour.vendor}", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }


def minimal_smart_configuration(base: str) -> dict:
    """Served when no SMART auth server is attached (the FHIR API is then open)."""
    return {
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "patient/*.rs", "system/*.rs", "offline_access"],
        "capabilities": ["launch-standalone", "client-public", "context-standalone-patient", "permission-v2"],
    }
