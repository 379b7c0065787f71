"""Vendor behaviour as data: one frozen `Flavour` per EHR the sandbox imitates.

Every quirk a real endpoint has (its paging parameter, the searches it refuses, 409 instead of
412, a rate limit with no Retry-After) is a field here, and the FHIR layer reads the fields; there
is no per-vendor code path. Facts come from /work/shared/reference/ehr-vendors.md and are cited per
flavour in ``source`` (docs/sandbox.md prints the table).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

EPIC_ERROR_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"

# Error kinds the FHIR layer raises; a flavour may map them to its own numbered codes.
ERROR_KINDS = (
    "invalid-param",  # a parameter value we cannot parse
    "invalid-value",  # a parameter value outside what the vendor accepts (category=foo)
    "missing-param",  # a required search parameter is absent
    "no-params",  # a search with no parameters at all
    "unsupported-param",  # a parameter this vendor refuses (_lastUpdated on MEDITECH)
    "page-expired",  # the paging session behind a next link is gone
    "too-many-patients",  # Epic's 100-patient cap on Patient searches
    "result-cap",  # a result cap on other searches
    "not-found",
    "no-results",  # some vendors add a warning when a search matches nothing
)


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


US_CORE_TYPES = _names(
    "AllergyIntolerance Binary CarePlan CareTeam Communication Condition Coverage Device "
    "DiagnosticReport DocumentReference Encounter FamilyMemberHistory Goal Group Immunization "
    "Location MeasureReport Medication MedicationAdministration MedicationDispense MedicationRequest "
    "MedicationStatement Observation Organization Patient Practitioner PractitionerRole Procedure "
    "Provenance Questionnaire QuestionnaireResponse RelatedPerson ServiceRequest Specimen Task "
    "Appointment"
)

DIRECTORY_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location", "Medication"})

_TENANT = re.compile(r"\{(\w+)\}")


def _frozen(mapping: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class Flavour:
    """One vendor's observable behaviour. Defaults are the plain, standards-following server."""

    key: str
    vendor: str
    prefix: str  # route prefix; ``{tenant}``/``{practice}`` marks the tenant segment
    source: str = ""
    tenants: frozenset[str] = frozenset()

    # paging
    page_param: str = "_getpages"
    next_on_base: bool = False  # HAPI-style next links point at the base, not the type
    count_param: str = "_count"
    default_page_size: int = 50
    max_page_size: int = 1000
    page_overlap: int = 0  # entries repeated at the top of the next page (Oracle Health)
    count_ignored_with_id: bool = False
    page_expired_status: int = 410

    # search
    last_updated_types: frozenset[str] | None = None  # None: every type
    since_param: str | None = None  # eClinicalWorks' non-standard `_since`
    id_aliases: tuple[str, ...] = ()
    required_params: Mapping[str, tuple[frozenset[str], ...]] = field(default_factory=_frozen)
    required_exempt: frozenset[str] = frozenset()
    requires_some_param: bool = False
    allowed_values: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=_frozen)
    practice_param: str | None = None
    practice_values: frozenset[str] = frozenset()
    patient_search_cap: int | None = None
    result_cap: int | None = None
    empty_search_outcome: bool = False

    # versioning and writes
    versioning: bool = True
    history: bool = True
    version_conflict_status: int = 412
    create_types: frozenset[str] | None = None  # None: every type
    update_types: frozenset[str] | None = None
    delete_supported: bool = True
    reject_modifier_extension: bool = False

    # formats, limits, data
    xml_not_acceptable: bool = False
    rate_limit_per_minute: int | None = None
    rate_limit_retry_after: bool = True
    redact_every: int | None = None
    # R4 Subscriptions Backport rest-hook notifications (athenahealth's alpha; nobody else lists it)
    subscriptions: bool = False

    # errors
    error_system: str | None = None
    error_codes: Mapping[str, tuple[str, str]] = field(default_factory=_frozen)

    @property
    def tenant_param(self) -> str | None:
        match = _TENANT.search(self.prefix)
        return match.group(1) if match else None

    def base_path(self, tenant: str | None) -> str:
        name = self.tenant_param
        return self.prefix.replace("{" + name + "}", tenant or "") if name else self.prefix

    def supports_last_updated(self, resource_type: str) -> bool:
        return self.last_updated_types is None or resource_type in self.last_updated_types

    def required_for(self, resource_type: str) -> tuple[frozenset[str], ...]:
        if resource_type in self.required_params:
            return self.required_params[resource_type]
        if resource_type in self.required_exempt:
            return ()
        return self.required_params.get("*", ())

    def can_create(self, resource_type: str) -> bool:
        return self.create_types is None or resource_type in self.create_types

    def can_update(self, resource_type: str) -> bool:
        return self.update_types is None or resource_type in self.update_types

    def is_redacted(self, resource_type: str, resource_id: str) -> bool:
        """Deterministic: the same record is redacted in every search and read, run after run."""
        if not self.redact_every or resource_type in ("Patient", "Binary"):
            return False
        return zlib.crc32(f"{resource_type}/{resource_id}".encode()) % self.redact_every == 0


_CLINICAL_PATIENT = (frozenset({"_id", "patient", "subject"}),)

EPIC = Flavour(
    key="epic",
    vendor="Epic",
    prefix="/epic/api/FHIR/R4",
    source="https://fhir.epic.com/Documentation ; https://open.epic.com/Endpoints/R4",
    required_params=_frozen(
        {
            "*": _CLINICAL_PATIENT,
            "Observation": (*_CLINICAL_PATIENT, frozenset({"_id", "category", "code"})),
        }
    ),
    required_exempt=DIRECTORY_TYPES | {"Patient", "Binary"},
    requires_some_param=True,
    allowed_values=_frozen(
        {
            ("Observation", "category"): _names(
                "activity core-characteristics exam functional-mental-status genomics imaging laboratory "
                "labor-delivery lda newborn-delivery obstetrics-gynecology periodontal procedure sdoh smartdata "
                "social-history survey therapy vital-signs"
            )
        }
    ),
    last_updated_types=frozenset({"DocumentReference", "MeasureReport"}),
    patient_search_cap=100,
    result_cap=1000,
    empty_search_outcome=True,
    page_expired_status=400,
    history=False,
    create_types=_names(
        "AllergyIntolerance Communication Condition DocumentReference Observation Patient Procedure "
        "QuestionnaireResponse ServiceRequest"
    ),
    update_types=frozenset(
        {"DiagnosticReport", "DocumentReference", "Observation", "Procedure", "ServiceRequest", "Task"}
    ),
    delete_supported=False,
    error_system=EPIC_ERROR_SYSTEM,
    error_codes=_frozen(
        {
            "invalid-param": ("4100", "The resource request contained an invalid parameter."),
            "unsupported-param": ("4100", "The resource request contained an invalid parameter."),
            "no-results": ("4101", "Resource request returns no results."),
            "not-found": ("4102", "The read resource request contained an invalid ID."),
            "no-params": ("4110", "No parameters are provided in the search request."),
            "missing-param": ("4111", "Required search parameter missing from request."),
            "page-expired": ("4113", "Session ID for cached search results has expired."),
            "invalid-value": ("4115", "Required search parameter has an invalid value."),
            "too-many-patients": ("4127", "The search returned more than the maximum number of patients."),
            "result-cap": ("59133", "The search exceeded the maximum number of results."),
        }
    ),
)

ORACLE_HEALTH = Flavour(
    key="cerner",
    vendor="Oracle Health (Cerner)",
    prefix="/cerner/r4/{tenant}",
    source="https://fhir.cerner.com/millennium/r4/ ; https://github.com/oracle-samples/ignite-endpoints",
    tenants=frozenset({"ec2458f2-1e24-41c8-b71b-0e701af7583d"}),
    page_param="-pageContext",
    page_overlap=1,
    count_ignored_with_id=True,
    required_params=_frozen({"*": _CLINICAL_PATIENT}),
    required_exempt=DIRECTORY_TYPES | {"Patient", "Binary"},
    requires_some_param=True,
    version_conflict_status=409,
    create_types=_names(
        "AllergyIntolerance Condition DocumentReference FamilyMemberHistory Immunization Observation "
        "Appointment Communication Encounter MedicationRequest Patient RelatedPerson"
    ),
    update_types=frozenset(
        {"AllergyIntolerance", "Condition", "DocumentReference", "FamilyMemberHistory", "Immunization", "Observation"}
    ),
    delete_supported=False,
    reject_modifier_extension=True,
    xml_not_acceptable=True,
)

MEDITECH = Flavour(
    key="meditech",
    vendor="MEDITECH Expanse",
    prefix="/meditech/v1/uscore/R4",
    source="https://fhir.meditech.com/explorer/endpoints",
    page_param="continue",
    last_updated_types=frozenset(),
    create_types=frozenset({"Communication", "QuestionnaireResponse"}),
    update_types=frozenset({"QuestionnaireResponse"}),
    delete_supported=False,
)

ATHENA = Flavour(
    key="athena",
    vendor="athenahealth",
    prefix="/athena/fhir/r4",
    subscriptions=True,
    source="https://docs.athenahealth.com/api/base-fhir-urls",
    page_param="cursor",
    practice_param="ah-practice",
    practice_values=frozenset({"Organization/a-1.Practice-195900", "195900"}),
    required_params=_frozen({"MedicationRequest": (frozenset({"intent"}),)}),
    allowed_values=_frozen({("MedicationRequest", "intent"): frozenset({"order", "plan"})}),
    create_types=frozenset({"QuestionnaireResponse"}),
    update_types=frozenset(),
    delete_supported=False,
)

ECLINICALWORKS = Flavour(
    key="ecw",
    vendor="eClinicalWorks",
    prefix="/ecw/fhir/r4/{practice}",
    source="https://fhir.eclinicalworks.com/ecwopendev/ ; https://fhir.eclinicalworks.com/ecwopendev/external/practiceList",
    tenants=frozenset({"demo"}),
    page_param="page",
    last_updated_types=frozenset(),
    since_param="_since",
    rate_limit_per_minute=250,
    rate_limit_retry_after=False,
    create_types=frozenset({"QuestionnaireResponse"}),
    update_types=frozenset(),
    delete_supported=False,
)

NEXTGEN = Flavour(
    key="nextgen",
    vendor="NextGen",
    prefix="/nextgen/fhir/r4",
    source="https://www.nextgen.com/api ; https://www.nextgen.com/api/practice-search",
    count_param="_maxresults",
    versioning=False,
    history=False,
    create_types=frozenset(),
    update_types=frozenset(),
    delete_supported=False,
)

VERADIGM = Flavour(
    key="veradigm",
    vendor="Veradigm (Allscripts)",
    prefix="/veradigm/fhirroute/fhir/{tenant}",
    source="https://open.platform.veradigm.com/fhirendpoints",
    tenants=frozenset({"CP00101"}),
    id_aliases=("id",),
    versioning=False,
    history=False,
    redact_every=10,
    create_types=_names(
        "Condition AllergyIntolerance MedicationRequest Observation Immunization DocumentReference "
        "MedicationStatement MedicationAdministration ServiceRequest Questionnaire QuestionnaireResponse "
        "MedicationDispense"
    ),
    delete_supported=False,
)
VERADIGM = replace(VERADIGM, update_types=VERADIGM.create_types)

PLAIN = Flavour(
    key="plain",
    vendor="Standards-following R4 server",
    prefix="/fhir/r4",
    source="https://hl7.org/fhir/R4/http.html ; https://hl7.org/fhir/R4/search.html",
    next_on_base=True,
)

FLAVOURS: tuple[Flavour, ...] = (EPIC, ORACLE_HEALTH, MEDITECH, ATHENA, ECLINICALWORKS, NEXTGEN, VERADIGM, PLAIN)
BY_KEY: Mapping[str, Flavour] = MappingProxyType({f.key: f for f in FLAVOURS})


def configured_flavours(
    overrides: Mapping[str, Mapping[str, Any]] | None = None, *, ecw_requests_per_minute: int | None = None
) -> tuple[Flavour, ...]:
    """The flavours with test/demo overrides applied (unknown keys or fields raise early)."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(BY_KEY)
    if unknown:
        raise ValueError(f"unknown flavour(s) in overrides: {sorted(unknown)}")
    out = []
    for flavour in FLAVOURS:
        changes = dict(overrides.get(flavour.key, {}))
        if flavour is ECLINICALWORKS and ecw_requests_per_minute is not None:
            changes.setdefault("rate_limit_per_minute", ecw_requests_per_minute)
        out.append(replace(flavour, **changes) if changes else flavour)
    return tuple(out)
