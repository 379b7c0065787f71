"""Any other SMART on FHIR R4 server: the standards' behaviour, and discovery decides the rest."""

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

SMART = "https://hl7.org/fhir/smart-app-launch/ (standards.md, SMART App Launch 2.x and Backend Services)"
HTTP = "https://hl7.org/fhir/R4/http.html"
SEARCH = "https://hl7.org/fhir/R4/search.html"

PROFILE = VendorProfile(
    key="generic",
    name="Generic SMART on FHIR R4",
    base_url=None,
    patient_base_url=None,
    vendor_sandbox_url=None,
    directory_url=None,
    sandbox_path="/fhir/r4",
    sandbox_tenant=None,
    auth=Auth(
        styles=("public", "confidential-symmetric", "confidential-asymmetric", "backend"),
        token_auth_methods=("none", "client_secret_basic", "private_key_jwt"),
        scope_versions=("v1", "v2"),
        notes="what the server supports is read from .well-known/smart-configuration at connect time",
    ),
    resource_types=US_CORE_TYPES,
    search=frozen_map({}),
    incremental=frozen_map({}),
    incremental_default=LAST_UPDATED,
    paging=Paging(style="opaque"),
    rate_limit=RateLimit(None, note="unknown; honour 429 and Retry-After when sent"),
    versioning=Versioning(mode="etag", conflict_status=412),
    writes=Writes(complete=False, note="no writes assumed; enable per connection after reading /metadata"),
    bulk=Bulk(note="$export support is read from the CapabilityStatement"),
    sources=frozen_map(
        {
            "base_url": "the user gives the server's FHIR base URL",
            "patient_base_url": "the user gives the server's FHIR base URL",
            "vendor_sandbox_url": "not applicable",
            "directory_url": "not applicable",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, PLAIN.prefix",
            "sandbox_tenant": "src/holovitals/sandbox/flavours.py: the plain flavour has no tenant segment",
            "auth": SMART,
            "resource_types": "US Core 3.1.1 (https://hl7.org/fhir/us/core/STU3.1.1/) as the expected minimum",
            "search": f"{SEARCH}: no parameter is required",
            "incremental": f"{SEARCH} (_lastUpdated); standards.md, FHIR R4 REST",
            "paging": f"{SEARCH} (follow Bundle.link next verbatim)",
            "rate_limit": "standards.md, FHIR R4 REST (429 + Retry-After, RFC 6585 / RFC 9110)",
            "versioning": f"{HTTP}#concurrency (If-Match, 412)",
            "writes": "HoloVitals default: read-only until the CapabilityStatement says otherwise",
            "bulk": "https://hl7.org/fhir/uv/bulkdata/ (standards.md, Bulk Data 2.0)",
            "unauthorized_records": f"{SEARCH}: unauthorized records are left out",
            "error_format": f"{HTTP} (OperationOutcome)",
            "error_codes": "not applicable",
            "json_only": f"{HTTP}: JSON and XML",
            "subscriptions": "assumed none; the Subscriptions Backport IG is read from /metadata",
        }
    ),
)
