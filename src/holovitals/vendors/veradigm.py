"""Veradigm (Allscripts) FHIRPoint: tenant in the path, no versioning, redacted rather than omitted records."""

from __future__ import annotations

from holovitals.vendors.profile import (
    LAST_UPDATED,
    US_CORE_TYPES,
    Auth,
    Bulk,
    Paging,
    RateLimit,
    SearchRule,
    VendorProfile,
    Versioning,
    Writes,
    frozen_map,
)

REF = "ehr-vendors.md, Veradigm (Allscripts) column"
ENDPOINTS = "https://open.platform.veradigm.com/fhirendpoints"
SANDBOX_TENANT = "CP00101"

WRITES = frozenset(
    {
        "Condition", "AllergyIntolerance", "MedicationRequest", "Observation", "Immunization", "DocumentReference",
        "MedicationStatement", "MedicationAdministration", "ServiceRequest", "Questionnaire",
        "QuestionnaireResponse", "MedicationDispense",
    }
)  # fmt: skip

PROFILE = VendorProfile(
    key="veradigm",
    name="Veradigm (Allscripts)",
    base_url="https://fhir.fhirpoint.open.allscripts.com/fhirroute/fhir/{tenant}",
    patient_base_url="https://fhir.fhirpoint.open.allscripts.com/fhirroute/open/{tenant}",
    vendor_sandbox_url=f"https://fhir.fhirpoint.open.allscripts.com/fhirroute/fhir/{SANDBOX_TENANT}",
    directory_url=ENDPOINTS,
    sandbox_path="/veradigm/fhirroute/fhir/{tenant}",
    sandbox_tenant=SANDBOX_TENANT,
    auth=Auth(
        styles=("public", "confidential-symmetric", "confidential-asymmetric", "backend"),
        token_auth_methods=("none", "client_secret_basic", "private_key_jwt"),
        scope_versions=("v1", "v2"),
        notes="v1 and v2 scopes including system/*; DSTU2 endpoints are gone since 2025-06",
    ),
    resource_types=US_CORE_TYPES | WRITES,
    search=frozen_map({"*": SearchRule(note="`id` is accepted as a search parameter besides `_id`")}),
    incremental=frozen_map({}),
    incremental_default=LAST_UPDATED,
    paging=Paging(style="opaque"),
    rate_limit=RateLimit(None, note="none published"),
    versioning=Versioning(mode="none", conflict_status=None, history=False),
    writes=Writes(create=WRITES, update=WRITES),
    bulk=Bulk(levels=("group",), note="for system apps authenticating with a JWKS"),
    unauthorized_records="redacted",
    sources=frozen_map(
        {
            "base_url": f"{REF}, R4 base (provider); {ENDPOINTS}",
            "patient_base_url": f"{REF}, R4 base (patient: /fhirroute/open/)",
            "vendor_sandbox_url": f"{REF}, sandbox tenant CP00101",
            "directory_url": f"{REF}, endpoint directory",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, VERADIGM.prefix",
            "sandbox_tenant": f"{REF}, sandbox tenant; src/holovitals/sandbox/flavours.py, VERADIGM.tenants",
            "auth": f"{REF}, auth",
            "resource_types": f"ONC (g)(10) requires US Core 3.1.1; plus the types named in the writes row of {REF}",
            "search": f"{REF}, search quirks (id search param)",
            "incremental": f"{REF} names no _lastUpdated restriction; confirm per type in /metadata",
            "paging": "standards.md, FHIR R4 REST: follow next links verbatim; no paging quirk listed",
            "rate_limit": f"{REF}, rate limit",
            "versioning": f"{REF}, versioning (no-version)",
            "writes": f"{REF}, writes (create+update on 12)",
            "bulk": f"{REF}, bulk",
            "unauthorized_records": f"{REF}, search quirks (unauthorized records may come back redacted)",
            "error_format": f"{REF}: OperationOutcome (no exception listed)",
            "error_codes": f"{REF}: no vendor codes listed",
            "json_only": f"{REF}: no format restriction noted",
            "subscriptions": "ehr-vendors.md: no CapabilityStatement of the seven lists Subscription",
        }
    ),
)
