"""Epic (on FHIR / Interconnect): one base per health system, patient-scoped searches, no _lastUpdated."""

from __future__ import annotations

from holovitals.vendors.profile import (
    CREATED_DATE_PARAMS,
    FULL,
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

REF = "ehr-vendors.md, Epic column"
OAUTH = "https://fhir.epic.com/Documentation?docId=oauth2"
SPECS = "https://fhir.epic.com/Specifications"
BULK = "https://fhir.epic.com/Documentation?docId=fhir_bulk_data"

PATIENT = frozenset({"patient", "subject", "_id"})

# Epic's Observation category codes (Observation.Search R4 specification); anything else is 4115.
OBSERVATION_CATEGORIES = frozenset(
    {
        "activity", "core-characteristics", "exam", "functional-mental-status", "genomics", "imaging",
        "laboratory", "labor-delivery", "lda", "newborn-delivery", "obstetrics-gynecology", "periodontal",
        "procedure", "sdoh", "smartdata", "social-history", "survey", "therapy", "vital-signs",
    }
)  # fmt: skip

CREATE = frozenset(
    {
        "AllergyIntolerance", "Communication", "Condition", "DocumentReference", "Observation", "Patient",
        "Procedure", "QuestionnaireResponse", "ServiceRequest",
    }
)  # fmt: skip
UPDATE = frozenset({"DiagnosticReport", "DocumentReference", "Observation", "Procedure", "ServiceRequest", "Task"})

PROFILE = VendorProfile(
    key="epic",
    name="Epic",
    base_url="https://{host}/{instance}/api/FHIR/R4",
    patient_base_url=None,
    vendor_sandbox_url="https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4",
    directory_url="https://open.epic.com/Endpoints/R4",
    sandbox_path="/epic/api/FHIR/R4",
    sandbox_tenant=None,
    auth=Auth(
        styles=("public", "confidential-symmetric", "confidential-asymmetric", "backend"),
        token_auth_methods=("none", "client_secret_basic", "private_key_jwt"),
        notes=(
            "PKCE S256 only. Backend apps are mapped to a user in each customer's Epic. Static PEM keys "
            "are being retired in favour of a registered JWKS URL (send jku)."
        ),
    ),
    resource_types=US_CORE_TYPES | CREATE | UPDATE | {"MeasureReport"},
    search=frozen_map(
        {
            "*": SearchRule(one_of=(PATIENT,), note="clinical searches are patient-scoped"),
            "Observation": SearchRule(
                one_of=(PATIENT, frozenset({"category", "code", "_id"})),
                allowed_values=frozen_map({"category": OBSERVATION_CATEGORIES}),
                note="patient plus category (laboratory, vital-signs, social-history, ...) or code",
            ),
        }
    ),
    incremental=frozen_map({**CREATED_DATE_PARAMS, "DocumentReference": LAST_UPDATED, "MeasureReport": LAST_UPDATED}),
    incremental_default=FULL,  # Patient, Encounter, Procedure: no usable date, re-read in full
    paging=Paging(
        style="opaque",
        expired_session="OperationOutcome 4113 (paging session expired): re-issue the search from the start",
    ),
    rate_limit=RateLimit(
        None,
        note="none published; self-throttle to at most ~1% of the customer's operational database load at peak",
    ),
    versioning=Versioning(mode="etag", conflict_status=412, history=False, conditional_update=False),
    writes=Writes(create=CREATE, update=UPDATE, complete=False, note="the published create list is longer"),
    bulk=Bulk(
        levels=("group",),
        one_at_a_time=True,
        note="Group/[id]/$export only; one export per client and group at a time: DELETE the poll URL when done",
    ),
    error_codes=frozen_map(
        {
            "4113": VendorError("paging session expired", "reissue-search"),
            "4127": VendorError("Patient.Search matched more than 100 patients", "narrow-search"),
            "59133": VendorError("search exceeded the maximum number of results", "narrow-search"),
            "4130": VendorError("break-the-glass: access needs a reason (policy denial, never retry)", "policy-denial"),
            "4131": VendorError("break-the-glass: restricted record (policy denial, never retry)", "policy-denial"),
            "4134": VendorError("break-the-glass: access denied (policy denial, never retry)", "policy-denial"),
        }
    ),
    sources=frozen_map(
        {
            "base_url": f"{REF}, R4 base (per health system); {SPECS}",
            "patient_base_url": f"{REF}: patient and provider apps share the health system's base",
            "vendor_sandbox_url": f"{REF}, R4 base (sandbox)",
            "directory_url": f"{REF}, endpoint directory (also /Endpoints/Brands; large: re-host, don't query live)",
            "sandbox_path": "src/holovitals/sandbox/flavours.py, EPIC.prefix",
            "sandbox_tenant": "src/holovitals/sandbox/flavours.py: the Epic flavour has no tenant segment",
            "auth": f"{REF}, auth; {OAUTH}; algorithms: SMART Backend Services (standards.md)",
            "resource_types": "ONC (g)(10) requires US Core 3.1.1; plus the types named in the writes and "
            f"_lastUpdated rows of {REF}",
            "search": f"{REF}, search quirks; Observation.Search (R4) in {SPECS}",
            "incremental": f"{REF}: _lastUpdated only on DocumentReference and MeasureReport; ehr-vendors.md, "
            "incremental strategy; date params: https://hl7.org/fhir/R4/searchparameter-registry.html",
            "paging": f"{REF}, search quirks (expired paging session 4113); standards.md, FHIR R4 REST",
            "rate_limit": f"{REF}, rate limit",
            "versioning": f"{REF}, versioning (no history, no conditional ops); 412: "
            "https://hl7.org/fhir/R4/http.html#concurrency",
            "writes": f"{REF}, writes",
            "bulk": f"{REF}, bulk; {BULK}",
            "unauthorized_records": "FHIR R4 search (https://hl7.org/fhir/R4/search.html): unauthorized "
            f"records are left out; {REF} names no redaction",
            "error_format": f"{REF}: OperationOutcome with Epic's numbered codes; {SPECS}",
            "error_codes": f"{REF}, search quirks (4113, 4127, 59133, 4130/4131/4134)",
            "json_only": f"{REF}: no format restriction noted",
            "subscriptions": "ehr-vendors.md: no CapabilityStatement of the seven lists Subscription",
        }
    ),
)
