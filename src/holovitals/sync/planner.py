"""Plan a sync: which searches (streams) to run and how each asks only for what changed.

Everything vendor-specific comes from the profile: which types to read, the parameters a search must
carry (Epic's Observation categories, athena's practice and intent), whether a search must name a
patient, and each type's incremental strategy (_lastUpdated window, eClinicalWorks' ``_since``, a
clinical-date fallback, or a full re-read).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from holovitals.vendors.profile import VendorProfile

# What a patient's chart is made of, in the order a sync reads it: the Patient first (so later
# streams can name it), directory data last (fetched by reference instead, see the runner).
DEFAULT_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "Procedure",
    "DiagnosticReport",
    "DocumentReference",
    "CarePlan",
)
PATIENT_PARAMS = frozenset({"patient", "subject"})
OVERLAP = timedelta(minutes=5)  # re-read a little: clocks differ and commits land late on busy servers


class Strategy:
    FULL = "full"
    LAST_UPDATED = "last_updated"
    SINCE = "since"
    CREATED_DATE = "created_date"


@dataclass(frozen=True)
class Stream:
    """One search to page through. ``key`` names its checkpoint; it ignores the incremental filter."""

    resource_type: str
    params: tuple[tuple[str, str], ...]
    strategy: str = Strategy.FULL
    incremental_param: str | None = None
    patient: str | None = None
    key: str = field(default="")

    def __post_init__(self) -> None:
        if not self.key:
            suffix = urlencode(sorted(self.params))
            object.__setattr__(self, "key", f"{self.resource_type}?{suffix}"[:200] if suffix else self.resource_type)

    def search_params(self, bookmark: datetime | None, page_size: int | None, page_size_param: str | None) -> dict:
        """The query for this run: base params, the incremental filter from the bookmark, the page size."""
        query = dict(self.params)
        if bookmark is not None and self.strategy != Strategy.FULL and self.incremental_param:
            since = (bookmark - OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.strategy == Strategy.SINCE:
                query[self.incremental_param] = since
            else:
                query[self.incremental_param] = f"ge{since}"
        if page_size and page_size_param:
            query[page_size_param] = str(page_size)
        return query


def needs_patient(profile: VendorProfile, resource_type: str) -> bool:
    rule = profile.search_rule(resource_type)
    return any(group <= PATIENT_PARAMS | {"_id"} and group & PATIENT_PARAMS for group in rule.one_of)


def _value_groups(profile: VendorProfile, resource_type: str) -> list[list[tuple[str, str]]]:
    """Params a search must carry besides the patient, one option list per required group."""
    rule = profile.search_rule(resource_type)
    groups: list[list[tuple[str, str]]] = []
    for group in rule.one_of:
        if group & PATIENT_PARAMS or group & set(rule.defaults):
            continue
        options: list[tuple[str, str]] = []
        for param in sorted(group):
            values = rule.allowed_values.get(param)
            if values:
                options = [(param, v) for v in sorted(values)]
                break
        if options:
            groups.append(options)
    return groups


def plan_streams(
    profile: VendorProfile,
    *,
    incremental: bool,
    resource_types: Sequence[str] | None = None,
    patients: Iterable[str] = (),
    tenant: str | None = None,
    patient_scoped: bool = False,
) -> list[Stream]:
    """Streams for the given types; a search that must name a patient gets one stream per patient.

    ``patient_scoped``: the token is confined to ``patients`` (a SMART patient launch), so every
    search names its patient, whether or not the vendor insists.
    """
    types = [t for t in (resource_types or DEFAULT_TYPES) if t in profile.resource_types]
    patients = list(patients)
    streams: list[Stream] = []
    for rtype in types:
        rule = profile.search_rule(rtype)
        base = [
            (k, v.replace("{tenant}", tenant or "").replace("{practice}", tenant or ""))
            for k, v in rule.defaults.items()
        ]
        inc = profile.incremental_for(rtype)
        strategy = inc.kind if incremental else Strategy.FULL
        param = inc.param if incremental else None
        if strategy == Strategy.FULL:
            param = None
        combos = [list(c) for c in itertools.product(*_value_groups(profile, rtype))] or [[]]
        if rtype == "Patient":
            if patient_scoped:
                streams.append(Stream(rtype, tuple([*base, ("_id", ",".join(patients))]), strategy, param))
            else:
                streams.append(Stream(rtype, tuple(base), strategy, param))
            continue
        per_patient = patient_scoped or needs_patient(profile, rtype)
        for combo in combos:
            if per_patient:
                for pid in patients:
                    params = tuple(base + combo + [("patient", pid)])
                    streams.append(Stream(rtype, params, strategy, param, patient=pid))
            else:
                streams.append(Stream(rtype, tuple(base + combo), strategy, param))
    return streams
