"""MEDITECH Expanse: one base per hospital, `continue` paging, no _lastUpdated anywhere."""

from __future__ import annotations

from holovitals.vendors.profile import (
    CREATED_DATE_PARAMS,
    FULL,
    US_CORE_TYPES,
    Auth,
    Bulk,
    Paging,
    RateLimit,
    VendorProfile,
    Versioning,
    Writes,
    frozen_map,
)

REF = "ehr-vendors.md, MEDITECH Expanse column"
ENDPOINTS = "https://fhir.meditech.com/explorer/endpoints"

PROFILE = VendorProfile(
    key="meditech",
    name="MEDITECH Expanse",
    base_url="https://{host}/v1/uscore/R4",
    patient_base_url=None,
    vendor_sandbox_url="https://greenfield-prod-apis.meditech.com/v2/uscore/STU6",
    directory_url=ENDPOINTS,
    sandbox_path="/meditech/v1/uscore/R4",
    sandbox_tenant=None,
    auth=Auth(
        styles=("public", "confidential-symmetric", "backend"),
        token_auth_methods=("none", "client_secret_basic"),
        default_scopes=("launch/patient", "openid", "fhirUser", "offline_access", "patient/*.read"),
        notes="Greenfield sandbox clients default to patient/*.read and are refused client_credentials",
    ),
    resource_types=US_CORE_TYPES | {"Communication", "QuestionnaireResponse"},
    search=frozen_map({}),
    incremental=CREATED_DATE_PARAMS,
    incremental_default=FULL,
    paging=Paging(style="continue"),
    rate_limit=RateLimit(None, note="at the vendor's discretion; nothing published"),
    versioning=Versioning(mode="etag", conflict_status=412),
    writes=Writes(
        create=frozenset({"Communication", "QuestionnaireResponse"}),
        update=frozenset({"QuestionnaireResponse"}),
    ),
    bulk=Bulk(levels=("group", "patient")),
    sources=frozen_map(
        {
            "base_url": f"{REF}, R4 base (per hospital)",
            "patient_base_url": f"{REF}: one base per hospital for every app",
            "vendor_sandbox_url": f"{REF}, Greenfield sandbox",
            "directory_url": f"{REF}, endpoint directory",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, MEDITECH.prefix",
            "sandbox_tenant": "src/holovitals/sandbox/flavours.py: the MEDITECH flavour has no tenant segment",
            "auth": f"{REF}, auth (sandbox default scope, client_credentials refused for sandbox clients)",
            "resource_types": f"ONC (g)(10) requires US Core 3.1.1; plus the types named in the writes row of {REF}",
            "search": f"{REF}: no required-parameter quirks listed",
            "incremental": f"{REF}, search quirks (no _lastUpdated); ehr-vendors.md, incremental strategy; "
            "date params: https://hl7.org/fhir/R4/searchparameter-registry.html",
            "paging": f"{REF}, search quirks (continue paging param)",
            "rate_limit": f"{REF}, rate limit",
            "versioning": f"{REF} lists nothing; FHIR R4 default (https://hl7.org/fhir/R4/http.html#concurrency)",
            "writes": f"{REF}, writes",
            "bulk": f"{REF}, bulk",
            "unauthorized_records": "FHIR R4 search (https://hl7.org/fhir/R4/search.html): unauthorized "
            f"records are left out; {REF} names no redaction",
            "error_format": f"{REF}: OperationOutcome (no exception listed)",
            "error_codes": f"{REF}: no vendor codes listed",
            "json_only": f"{REF}: no format restriction noted",
            "subscriptions": "ehr-vendors.md: no CapabilityStatement of the seven lists Subscription",
        }
    ),
)
