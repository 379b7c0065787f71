"""athenahealth: one base for every practice; the practice travels as the `ah-practice` search param."""

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

REF = "ehr-vendors.md, athenahealth column"
BASES = "https://docs.athenahealth.com/api/base-fhir-urls"

PRACTICE = frozenset({"ah-practice"})
PRACTICE_DEFAULT = {"ah-practice": "Organization/a-1.Practice-{tenant}"}

PROFILE = VendorProfile(
    key="athena",
    name="athenahealth",
    base_url="https://api.platform.athenahealth.com/fhir/r4",
    patient_base_url=None,
    vendor_sandbox_url="https://api.preview.platform.athenahealth.com/fhir/r4",
    directory_url=BASES,
    sandbox_path="/athena/fhir/r4",
    sandbox_tenant="195900",
    auth=Auth(
        styles=("public", "confidential-asymmetric", "backend"),
        token_auth_methods=("none", "private_key_jwt"),
        notes="Okta is the issuer; PKCE S256",
    ),
    resource_types=US_CORE_TYPES | {"QuestionnaireResponse"},
    search=frozen_map(
        {
            "*": SearchRule(
                one_of=(PRACTICE,),
                defaults=frozen_map(PRACTICE_DEFAULT),
                note="the practice is a search parameter, not part of the base URL (preview practice 195900)",
            ),
            "MedicationRequest": SearchRule(
                one_of=(PRACTICE, frozenset({"intent"})),
                allowed_values=frozen_map({"intent": frozenset({"order", "plan"})}),
                defaults=frozen_map({**PRACTICE_DEFAULT, "intent": "order,plan"}),
            ),
        }
    ),
    search_exempt=frozenset({"Binary"}),
    incremental=frozen_map({}),
    incremental_default=LAST_UPDATED,
    paging=Paging(style="cursor"),
    rate_limit=RateLimit(None, note="unverified reports of 100 requests/s and 500,000/day; nothing published"),
    versioning=Versioning(mode="etag", conflict_status=412),
    writes=Writes(create=frozenset({"QuestionnaireResponse"}), note="other writes via the proprietary API"),
    bulk=Bulk(levels=("group",), versions=("1.0.1", "2.0.0")),
    subscriptions="Subscriptions Backport IG (alpha)",
    notes="_lastUpdated is supported on 21 types; confirm a type in /metadata before relying on it",
    sources=frozen_map(
        {
            "base_url": f"{REF}, R4 base; {BASES}",
            "patient_base_url": f"{REF}: one base for every app",
            "vendor_sandbox_url": f"{REF}, preview base",
            "directory_url": f"{REF}, endpoint directory",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, ATHENA.prefix",
            "sandbox_tenant": f"{REF}, preview practice 195900; src/holovitals/sandbox/flavours.py, "
            "ATHENA.practice_values",
            "auth": f"{REF}, auth",
            "resource_types": f"ONC (g)(10) requires US Core 3.1.1; plus the types named in the writes row of {REF}",
            "search": f"{REF}, R4 base (ah-practice) and search quirks (MedicationRequest intent=order,plan)",
            "incremental": f"{REF}, search quirks (_lastUpdated on 21 types)",
            "paging": f"{REF}, search quirks (cursor paging)",
            "rate_limit": f"{REF}, rate limit (marked unverified)",
            "versioning": f"{REF} lists nothing; FHIR R4 default (https://hl7.org/fhir/R4/http.html#concurrency)",
            "writes": f"{REF}, writes",
            "bulk": f"{REF}, bulk",
            "unauthorized_records": "FHIR R4 search (https://hl7.org/fhir/R4/search.html): unauthorized "
            f"records are left out; {REF} names no redaction",
            "error_format": f"{REF}: OperationOutcome (no exception listed)",
            "error_codes": f"{REF}: no vendor codes listed",
            "json_only": f"{REF}: no format restriction noted",
            "subscriptions": "ehr-vendors.md: athenahealth alone offers a Subscriptions Backport alpha",
        }
    ),
)
