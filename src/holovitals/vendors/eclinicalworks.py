"""eClinicalWorks: practice code in the path, `_since` instead of _lastUpdated, 250 requests a minute."""

from __future__ import annotations

from holovitals.vendors.profile import (
    US_CORE_TYPES,
    Auth,
    Bulk,
    Incremental,
    Paging,
    RateLimit,
    VendorProfile,
    Versioning,
    Writes,
    frozen_map,
)

REF = "ehr-vendors.md, eClinicalWorks column"
DEV = "https://fhir.eclinicalworks.com/ecwopendev/"
PRACTICES = "https://fhir.eclinicalworks.com/ecwopendev/external/practiceList"

PROFILE = VendorProfile(
    key="eclinicalworks",
    name="eClinicalWorks",
    base_url="https://fhir4.eclinicalworks.com/fhir/r4/{practice}",
    patient_base_url="https://fhir4.healow.com/fhir/r4/{practice}",
    vendor_sandbox_url=None,
    directory_url=PRACTICES,
    sandbox_path="/ecw/fhir/r4/{practice}",
    sandbox_tenant="demo",
    auth=Auth(
        styles=("public", "backend"),
        token_auth_methods=("none", "private_key_jwt"),
        assertion_algs=("RS384",),
        backend_scopes=("system/*.read",),
        notes=(
            "Backend assertions are RS384 and tokens last 300 s. A bulk token needs system/Group.read; a "
            "single-patient backend token must not carry it."
        ),
    ),
    resource_types=US_CORE_TYPES | {"QuestionnaireResponse"},
    search=frozen_map({}),
    incremental=frozen_map({}),
    incremental_default=Incremental("since", "_since"),
    paging=Paging(style="page"),
    rate_limit=RateLimit(
        250,
        applies_to="each base URL (practice), token calls included",
        retry_after_sent=False,
        note="429 carries no Retry-After; a blocked client stays blocked until the next minute boundary",
    ),
    versioning=Versioning(mode="etag", conflict_status=412),
    writes=Writes(
        create=frozenset({"QuestionnaireResponse"}),
        complete=False,
        note="more per practice, depending on the scopes the practice grants",
    ),
    bulk=Bulk(
        levels=("group",),
        required_scopes=("system/Group.read",),
        note="an identical request already in flight is refused",
    ),
    error_format="numeric codes on writes (not OperationOutcome)",
    notes="features vary with each practice's build",
    sources=frozen_map(
        {
            "base_url": f"{REF}, R4 base (provider); {DEV}",
            "patient_base_url": f"{REF}, R4 base (patient, healow)",
            "vendor_sandbox_url": f"{REF}: no public sandbox base listed",
            "directory_url": f"{REF}, endpoint directory",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, ECLINICALWORKS.prefix",
            "sandbox_tenant": "src/holovitals/sandbox/flavours.py, ECLINICALWORKS.tenants",
            "auth": f"{REF}, auth",
            "resource_types": f"ONC (g)(10) requires US Core 3.1.1; plus the types named in the writes row of {REF}",
            "search": f"{REF}: no required-parameter quirks listed",
            "incremental": f"{REF}, search quirks (no _lastUpdated, non-standard _since)",
            "paging": f"{REF}, search quirks (page param)",
            "rate_limit": f"{REF}, rate limit",
            "versioning": f"{REF} lists nothing; FHIR R4 default (https://hl7.org/fhir/R4/http.html#concurrency)",
            "writes": f"{REF}, writes",
            "bulk": f"{REF}, bulk and auth (system/Group.read)",
            "unauthorized_records": "FHIR R4 search (https://hl7.org/fhir/R4/search.html): unauthorized "
            f"records are left out; {REF} names no redaction",
            "error_format": f"{REF}, search quirks (write errors are numeric codes)",
            "error_codes": f"{REF}: the numeric write codes are not listed",
            "json_only": f"{REF}: no format restriction noted",
            "subscriptions": "ehr-vendors.md: no CapabilityStatement of the seven lists Subscription",
        }
    ),
)
