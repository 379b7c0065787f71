"""What one EHR vendor's FHIR R4 endpoint does differently, as plain data.

The FHIR client, the sync planner and the connect flow read these fields; nothing outside this
package branches on a vendor's name. Adding a vendor is adding a module with one ``VendorProfile``
and a test. Every value is cited in ``sources`` (field name -> where the fact comes from), and
``docs/vendors.md`` is rendered from the same data (``python -m holovitals.vendors.docs``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

AuthStyle = Literal["public", "confidential-symmetric", "confidential-asymmetric", "backend"]
IncrementalKind = Literal["last_updated", "since", "created_date", "full"]
BulkLevel = Literal["system", "group", "patient"]
ErrorAction = Literal["retry", "reissue-search", "narrow-search", "fix-request", "policy-denial"]

# US Core 3.1.1 is what ONC (g)(10) certification requires of every vendor here, plus Binary for
# document content; a vendor's CapabilityStatement may list more, never (certified) fewer.
US_CORE_TYPES = frozenset(
    {
        "AllergyIntolerance", "Binary", "CarePlan", "CareTeam", "Condition", "Device", "DiagnosticReport",
        "DocumentReference", "Encounter", "Goal", "Immunization", "Location", "Medication", "MedicationRequest",
        "Observation", "Organization", "Patient", "Practitioner", "PractitionerRole", "Procedure", "Provenance",
    }
)  # fmt: skip

# Types searched without a patient (directory data) or read by id (Binary): exempt from the
# "every clinical search names a patient" rules of Epic and Oracle Health.
NON_CLINICAL_TYPES = frozenset({"Binary", "Location", "Medication", "Organization", "Patient", "Practitioner",
                                "PractitionerRole"})  # fmt: skip

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def frozen_map(mapping: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    """A read-only copy, so a profile cannot be changed after import."""
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Auth:
    """How a client gets a token. ``styles`` are what the vendor registers; discovery is still checked."""

    styles: tuple[AuthStyle, ...]
    token_auth_methods: tuple[str, ...]
    assertion_algs: tuple[str, ...] = ("RS384", "ES384")
    pkce: str = "S256"
    scope_versions: tuple[str, ...] = ("v1",)
    # Resource scopes the vendor accepts at all (NextGen Enterprise takes only two); None: any.
    allowed_resource_scopes: tuple[str, ...] | None = None
    default_scopes: tuple[str, ...] = ("launch/patient", "openid", "fhirUser", "offline_access", "patient/*.read")
    backend_scopes: tuple[str, ...] = ("system/*.read",)
    backend_supported: bool = True
    notes: str = ""


@dataclass(frozen=True)
class SearchRule:
    """What a search of one type must carry. ``one_of``: each group needs at least one of its params."""

    one_of: tuple[frozenset[str], ...] = ()
    allowed_values: Mapping[str, frozenset[str]] = field(default_factory=frozen_map)
    # Params we add when the caller did not (``{tenant}`` is the connection's tenant or practice).
    defaults: Mapping[str, str] = field(default_factory=frozen_map)
    note: str = ""


@dataclass(frozen=True)
class Incremental:
    """How to ask for what changed since the last sync: which parameter, or re-read everything."""

    kind: IncrementalKind
    param: str | None = None


LAST_UPDATED = Incremental("last_updated", "_lastUpdated")
FULL = Incremental("full")

# Where ``_lastUpdated`` is missing, a clinical or record date is the next best filter; edits to old
# records are then only caught by a full or bulk refresh (ehr-vendors.md, incremental strategy).
CREATED_DATE_PARAMS: Mapping[str, Incremental] = frozen_map(
    {
        "Observation": Incremental("created_date", "date"),
        "Condition": Incremental("created_date", "recorded-date"),
        "DocumentReference": Incremental("created_date", "date"),
        "DiagnosticReport": Incremental("created_date", "date"),
        "MedicationRequest": Incremental("created_date", "authoredon"),
        "Immunization": Incremental("created_date", "date"),
    }
)


@dataclass(frozen=True)
class Paging:
    """``style`` names the parameter the server's next links carry; the client follows them verbatim."""

    style: str
    page_size_param: str | None = "_count"
    count_ignored_with_id: bool = False
    duplicates_across_pages: bool = False  # de-duplicate by (type, id, version) across pages
    expired_session: str | None = None  # what a stale next link answers, and what to do


@dataclass(frozen=True)
class RateLimit:
    """A published limit, or None: then we self-throttle and honour 429 + Retry-After when sent."""

    requests_per_minute: int | None
    applies_to: str | None = None
    retry_after_sent: bool | None = None  # None: unknown
    note: str = ""


@dataclass(frozen=True)
class Versioning:
    """``etag``: updates go with If-Match and a mismatch answers ``conflict_status``; ``none``: no guard."""

    mode: Literal["etag", "none"]
    conflict_status: int | None
    history: bool | None = None  # None: not documented
    conditional_update: bool = False
    patch_format: str | None = None


@dataclass(frozen=True)
class Writes:
    """Resource types the vendor lets a third-party app create, update or patch over FHIR R4."""

    create: frozenset[str] = frozenset()
    update: frozenset[str] = frozenset()
    patch: frozenset[str] = frozenset()
    complete: bool = True  # False: the published list is longer than what we record here
    note: str = ""


@dataclass(frozen=True)
class Bulk:
    levels: tuple[BulkLevel, ...] = ()
    versions: tuple[str, ...] = ()
    one_at_a_time: bool = False  # a second concurrent export is refused
    base_url: str | None = None  # when bulk lives apart from the R4 base
    required_scopes: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class VendorError:
    """A vendor-specific error code and what our client should do about it."""

    meaning: str
    action: ErrorAction


# Every field below must be cited in ``VendorProfile.sources`` (tests/vendors enforces it).
SOURCED_FIELDS = (
    "base_url", "patient_base_url", "vendor_sandbox_url", "directory_url", "sandbox_path", "sandbox_tenant",
    "auth", "resource_types", "search", "incremental", "paging", "rate_limit", "versioning", "writes", "bulk",
    "unauthorized_records", "error_format", "error_codes", "json_only", "subscriptions",
)  # fmt: skip


@dataclass(frozen=True)
class VendorProfile:
    """One vendor (or product line). Defaults describe a plain, standards-following SMART R4 server."""

    key: str
    name: str
    # Base URL template: ``{tenant}``/``{practice}`` is the connection's tenant; any other placeholder
    # (``{host}``, ``{instance}``) means each customer has its own base and the user must give it.
    base_url: str | None
    patient_base_url: str | None
    vendor_sandbox_url: str | None
    directory_url: str | None
    sandbox_path: str  # the same vendor's flavour in our local sandbox, below the sandbox's URL
    sandbox_tenant: str | None
    auth: Auth
    resource_types: frozenset[str]
    search: Mapping[str, SearchRule]  # "*" applies to every type without its own rule, except search_exempt
    incremental: Mapping[str, Incremental]
    incremental_default: Incremental
    paging: Paging
    rate_limit: RateLimit
    versioning: Versioning
    writes: Writes
    bulk: Bulk
    search_exempt: frozenset[str] = NON_CLINICAL_TYPES
    unauthorized_records: Literal["omitted", "redacted"] = "omitted"
    error_format: str = "OperationOutcome"
    error_codes: Mapping[str, VendorError] = field(default_factory=frozen_map)
    json_only: bool = False
    subscriptions: str = "none"
    sources: Mapping[str, str] = field(default_factory=frozen_map)
    notes: str = ""

    # -- lookups the client and the connect flow use (no vendor logic, only reading the data) -------

    @property
    def tenant_placeholder(self) -> str | None:
        """``tenant`` or ``practice`` when the base URL carries one."""
        for name in _PLACEHOLDER.findall(self.base_url or ""):
            if name in ("tenant", "practice"):
                return name
        return None

    def base_url_for(self, tenant: str | None = None) -> str:
        """The R4 base for a tenant; raises ValueError when the vendor has one base per customer."""
        if not self.base_url:
            raise ValueError(f"{self.name}: there is no common base URL; give the server's FHIR base URL")
        url = self.base_url
        placeholder = self.tenant_placeholder
        if placeholder:
            if not tenant:
                raise ValueError(f"{self.name}: the base URL needs a {placeholder} ({self.base_url})")
            url = url.replace("{" + placeholder + "}", tenant)
        if _PLACEHOLDER.search(url):
            where = f"; find it at {self.directory_url}" if self.directory_url else ""
            raise ValueError(f"{self.name}: each customer has its own base URL ({self.base_url}){where}")
        return url

    def sandbox_base_url(self, sandbox_url: str, tenant: str | None = None) -> str:
        """This vendor's base on our local sandbox (``sandbox_url`` is the server's root URL)."""
        path = self.sandbox_path
        for name in _PLACEHOLDER.findall(path):
            value = tenant or self.sandbox_tenant
            if not value:
                raise ValueError(f"{self.name}: the sandbox path needs a {name}")
            path = path.replace("{" + name + "}", value)
        return sandbox_url.rstrip("/") + path

    def search_rule(self, resource_type: str) -> SearchRule:
        if resource_type in self.search:
            return self.search[resource_type]
        if resource_type in self.search_exempt:
            return SearchRule()
        return self.search.get("*", SearchRule())

    def incremental_for(self, resource_type: str) -> Incremental:
        return self.incremental.get(resource_type, self.incremental_default)

    def can_create(self, resource_type: str) -> bool:
        return resource_type in self.writes.create

    def can_update(self, resource_type: str) -> bool:
        return resource_type in self.writes.update

    def error(self, code: str) -> VendorError | None:
        return self.error_codes.get(code)
