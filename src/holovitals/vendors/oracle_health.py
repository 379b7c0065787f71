"""Oracle Health (Cerner Millennium): tenant in the path, 409 on version conflicts, pages that overlap."""

from __future__ import annotations

from holovitals.vendors.profile import (
    LAST_UPDATED,
    US_CORE_TYPES,
    Auth,
    Bulk,
    Paging,
    RateLimit,
    SearchRule,
    VendorError,
    VendorProfile,
    Versioning,
    Writes,
    frozen_map,
)

REF = "ehr-vendors.md, Oracle Health (Cerner) column"
R4 = "https://fhir.cerner.com/millennium/r4/"
AUTH = "https://fhir.cerner.com/authorization/"
ENDPOINTS = "https://github.com/oracle-samples/ignite-endpoints"
SANDBOX_TENANT = "ec2458f2-1e24-41c8-b71b-0e701af7583d"

CREATE_UPDATE = frozenset(
    {"AllergyIntolerance", "Condition", "DocumentReference", "FamilyMemberHistory", "Immunization", "Observation"}
)
CREATE_PATCH = frozenset({"Appointment", "Communication", "Encounter", "MedicationRequest", "Patient", "RelatedPerson"})

PROFILE = VendorProfile(
    key="oracle_health",
    name="Oracle Health (Cerner)",
    base_url="https://fhir-ehr.cerner.com/r4/{tenant}",
    patient_base_url="https://fhir-myrecord.cerner.com/r4/{tenant}",
    vendor_sandbox_url=f"https://fhir-ehr.cerner.com/r4/{SANDBOX_TENANT}",
    directory_url=ENDPOINTS,
    sandbox_path="/cerner/r4/{tenant}",
    sandbox_tenant=SANDBOX_TENANT,
    auth=Auth(
        styles=("public", "confidential-symmetric", "confidential-asymmetric", "backend"),
        token_auth_methods=("none", "client_secret_basic", "private_key_jwt"),
        assertion_algs=("RS384", "ES384"),
        notes=(
            "Authorize and token endpoints live under authorization.cerner.com/tenants/{tenant}/... (read them "
            "from discovery). Refresh works although grant_types_supported does not list refresh_token."
        ),
    ),
    resource_types=US_CORE_TYPES | CREATE_UPDATE | CREATE_PATCH,
    search=frozen_map({"*": SearchRule(one_of=(frozenset({"_id", "patient", "subject"}),), note="otherwise 400")}),
    incremental=frozen_map({}),
    incremental_default=LAST_UPDATED,
    paging=Paging(
        style="-pageContext",
        count_ignored_with_id=True,
        duplicates_across_pages=True,
    ),
    rate_limit=RateLimit(None, note="none published"),
    versioning=Versioning(mode="etag", conflict_status=409, patch_format="json-patch"),
    writes=Writes(
        create=CREATE_UPDATE | CREATE_PATCH,
        update=CREATE_UPDATE,
        patch=CREATE_PATCH,
        complete=False,
        note="21 resources take writes in all; a modifierExtension on a write is refused with 422",
    ),
    bulk=Bulk(
        levels=("group", "patient"),
        versions=("1.0.1",),
        note="groups of at most 20,000 patients; output files expire after 30 days; Retry-After can be hours",
    ),
    error_codes=frozen_map(
        {
            "406": VendorError("XML was requested: the API answers JSON only", "fix-request"),
            "409": VendorError("version conflict (where other servers answer 412)", "fix-request"),
            "422": VendorError("a write carried a modifierExtension", "fix-request"),
        }
    ),
    json_only=True,
    sources=frozen_map(
        {
            "base_url": f"{REF}, R4 base (provider); {R4}",
            "patient_base_url": f"{REF}, R4 base (patient)",
            "vendor_sandbox_url": f"{REF}, sandbox tenant",
            "directory_url": f"{REF}, endpoint directory",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, ORACLE_HEALTH.prefix",
            "sandbox_tenant": f"{REF}, sandbox tenant; src/holovitals/sandbox/flavours.py, ORACLE_HEALTH.tenants",
            "auth": f"{REF}, auth; {AUTH}",
            "resource_types": "ONC (g)(10) requires US Core 3.1.1; plus the types named in the writes row of "
            f"{REF}; {R4}",
            "search": f"{REF}, search quirks",
            "incremental": f"{REF} names no _lastUpdated restriction; confirm per type in /metadata",
            "paging": f"{REF}, search quirks (opaque -pageContext, _count ignored with _id, the same resource "
            "on two pages)",
            "rate_limit": f"{REF}, rate limit",
            "versioning": f"{REF}, versioning / conflict (409, JSON Patch)",
            "writes": f"{REF}, writes",
            "bulk": f"{REF}, bulk",
            "unauthorized_records": "FHIR R4 search (https://hl7.org/fhir/R4/search.html): unauthorized "
            f"records are left out; {REF} names no redaction",
            "error_format": f"{REF}: OperationOutcome",
            "error_codes": f"{REF}, search quirks (406) and versioning (409, 422)",
            "json_only": f"{REF}, search quirks (XML gives 406)",
            "subscriptions": "ehr-vendors.md: no CapabilityStatement of the seven lists Subscription",
        }
    ),
)
