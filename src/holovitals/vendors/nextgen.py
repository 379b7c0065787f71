"""NextGen: two products with two APIs. Enterprise (NGE) and Office (MediTouch, a HAPI server)."""

from __future__ import annotations

from holovitals.vendors.profile import (
    LAST_UPDATED,
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

REF = "ehr-vendors.md, NextGen column"
API = "https://www.nextgen.com/api"
PRACTICES = "https://www.nextgen.com/api/practice-search"

_COMMON_SOURCES = {
    "directory_url": f"{REF}, endpoint directory",
    "patient_base_url": f"{REF}: one base per product",
    "vendor_sandbox_url": f"{REF}: no separate sandbox base listed",
    "resource_types": f"ONC (g)(10) requires US Core 3.1.1; {REF} lists no extra types",
    "search": f"{REF}: no required-parameter quirks listed",
    "rate_limit": f"{REF}, rate limit",
    "versioning": f"{REF}, versioning (no-version)",
    "writes": f"{REF}, writes (none in R4)",
    "unauthorized_records": "FHIR R4 search (https://hl7.org/fhir/R4/search.html): unauthorized records are "
    f"left out; {REF} names no redaction",
    "error_format": f"{REF}: OperationOutcome (no exception listed)",
    "error_codes": f"{REF}: no vendor codes listed",
    "json_only": f"{REF}: no format restriction noted",
    "subscriptions": "ehr-vendors.md: no CapabilityStatement of the seven lists Subscription",
}

ENTERPRISE = VendorProfile(
    key="nextgen_enterprise",
    name="NextGen Enterprise",
    base_url="https://fhir.nextgen.com/nge/prod/fhir-api-r4/fhir/r4",
    patient_base_url=None,
    vendor_sandbox_url=None,
    directory_url=PRACTICES,
    sandbox_path="/nextgen/fhir/r4",
    sandbox_tenant=None,
    auth=Auth(
        styles=("public", "confidential-symmetric"),
        token_auth_methods=("none", "client_secret_basic"),
        allowed_resource_scopes=("patient/*.*", "user/*.*"),
        default_scopes=("launch/patient", "offline_access", "patient/*.*"),
        backend_supported=False,
        notes="only the wildcard scopes patient/*.* and user/*.* are accepted",
    ),
    resource_types=US_CORE_TYPES,
    search=frozen_map({}),
    incremental=frozen_map({}),
    incremental_default=LAST_UPDATED,
    paging=Paging(style="opaque", page_size_param="_maxresults"),
    rate_limit=RateLimit(None, note="none published"),
    versioning=Versioning(mode="none", conflict_status=None, history=False),
    writes=Writes(),
    bulk=Bulk(note="no bulk export listed for Enterprise"),
    notes="_lastUpdated is supported on 25 types; confirm a type in /metadata before relying on it",
    sources=frozen_map(
        {
            **_COMMON_SOURCES,
            "base_url": f"{REF}, R4 base (Enterprise); {API}",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, NEXTGEN.prefix",
            "sandbox_tenant": "src/holovitals/sandbox/flavours.py: the NextGen flavour has no tenant segment",
            "auth": f"{REF}, auth (Enterprise scopes only patient/*.*, user/*.*)",
            "incremental": f"{REF}, search quirks (_lastUpdated on 25 types)",
            "paging": f"{REF}, search quirks (_maxresults page size)",
            "bulk": f"{REF}, bulk (Office only)",
        }
    ),
)

OFFICE = VendorProfile(
    key="nextgen_office",
    name="NextGen Office",
    base_url="https://fhir.meditouchehr.com/api/fhir/r4",
    patient_base_url=None,
    vendor_sandbox_url=None,
    directory_url=PRACTICES,
    # The sandbox has no Office flavour; its plain flavour is HAPI-like (next links on the base, _count).
    sandbox_path="/fhir/r4",
    sandbox_tenant=None,
    auth=Auth(
        styles=("public", "confidential-symmetric"),
        token_auth_methods=("none", "client_secret_basic"),
        backend_supported=False,
        notes="Keycloak; the authorize request carries ?aud=; a refresh token must be used within 48 h",
    ),
    resource_types=US_CORE_TYPES,
    search=frozen_map({}),
    incremental=frozen_map({}),
    incremental_default=LAST_UPDATED,
    paging=Paging(style="_getpages"),
    rate_limit=RateLimit(None, note="none published"),
    versioning=Versioning(mode="none", conflict_status=None, history=False),
    writes=Writes(),
    bulk=Bulk(
        levels=("group",),
        base_url="https://fhir.meditouchehr.com/api/bulkfhir/r4",
        note="bulk has its own base; POST the Group first, then export it",
    ),
    sources=frozen_map(
        {
            **_COMMON_SOURCES,
            "base_url": f"{REF}, R4 base (Office, HAPI)",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, PLAIN (HAPI-style paging); no Office flavour",
            "sandbox_tenant": "src/holovitals/sandbox/flavours.py: the plain flavour has no tenant segment",
            "auth": f"{REF}, auth (Office: Keycloak with ?aud=, refresh within 48 h)",
            "incremental": f"{REF}: HAPI server; _lastUpdated is standard HAPI search",
            "paging": f"{REF}: HAPI server (_getpages next links, _count)",
            "bulk": f"{REF}, bulk (Office: separate base /api/bulkfhir/r4, POST Group first)",
        }
    ),
)
