"""FHIR search on the sandbox store: parse and validate parameters per flavour, then filter a scan.

`parse_query` turns query pairs into a `SearchQuery` or raises `FhirError` (400, with the error
kind the flavour may number). `Searcher.run` narrows with the store's indexes first (patient,
_id, _lastUpdated), then filters the rest in Python on values extracted once per record version
and cached: a sync that re-issues the same search does not re-parse every resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .dates import Period, date_matches, parse_fhir_date, period_of, split_prefix
from .flavours import DIRECTORY_TYPES, Flavour
from .outcomes import FhirError
from .store import Record, SandboxStore

# Parameters that shape the result rather than select records; never "unknown".
RESULT_PARAMS = frozenset(
    {"_sort", "_format", "_pretty", "_summary", "_total", "_elements", "_include", "_revinclude", "_contained"}
)
NON_COMPARTMENT_TYPES = DIRECTORY_TYPES | {"Patient", "Binary", "Questionnaire", "Group", "MeasureReport"}

# Where each search parameter looks in a resource. Fields are tried in order; any match counts.
TOKEN_PARAMS: dict[str, tuple[str, ...]] = {
    "category": ("category",),
    "code": ("code", "medicationCodeableConcept", "vaccineCode"),
    "vaccine-code": ("vaccineCode",),
    "type": ("type",),
    "status": ("status",),
    "clinical-status": ("clinicalStatus",),
    "verification-status": ("verificationStatus",),
    "intent": ("intent",),
    "gender": ("gender",),
    "identifier": ("identifier",),
}
DATE_FIELDS = (
    "effectiveDateTime", "effectivePeriod", "effectiveInstant", "occurrenceDateTime", "performedDateTime",
    "performedPeriod", "onsetDateTime", "onsetPeriod", "recordedDate", "authoredOn", "authored", "date", "period",
)  # fmt: skip
DATE_PARAMS: dict[str, tuple[str, ...]] = {
    "date": DATE_FIELDS,
    "onset-date": ("onsetDateTime", "onsetPeriod"),
    "recorded-date": ("recordedDate",),
    "authoredon": ("authoredOn",),
    "authored": ("authored",),
    "birthdate": ("birthDate",),
}
STRING_PARAMS = ("name", "family", "given")
STRING_MODIFIERS = frozenset({"", "exact", "contains"})
SORTS = frozenset({"_lastUpdated", "-_lastUpdated", "_id", "-_id"})


class SearchError(FhirError):
    """A search the server refuses before running it (400)."""

    def __init__(self, message: str, *, kind: str = "invalid-param", expression: str | None = None) -> None:
        super().__init__(400, message, kind=kind, expression=expression)


def _tokens_of(value: Any, out: set[tuple[str, str]]) -> None:
    """(system, code) pairs of a code, Coding, CodeableConcept, Identifier or a list of them."""
    if isinstance(value, str):
        out.add(("", value))
    elif isinstance(value, list):
        for item in value:
            _tokens_of(item, out)
    elif isinstance(value, dict):
        if "coding" in value:
            _tokens_of(value["coding"], out)
        code = value.get("code", value.get("value"))
        if isinstance(code, str):
            out.add((value.get("system") or "", code))


def _strings_of(param: str, value: Any) -> list[str]:
    parts: list[str] = []
    for name in value if isinstance(value, list) else [value]:
        if isinstance(name, str):
            parts.append(name)
        elif isinstance(name, dict):
            if param in ("name", "family") and isinstance(name.get("family"), str):
                parts.append(name["family"])
            if param in ("name", "given"):
                parts.extend(g for g in name.get("given", []) if isinstance(g, str))
            if param == "name" and isinstance(name.get("text"), str):
                parts.append(name["text"])
    return [p.casefold() for p in parts]


# ---------------------------------------------------------------------------- query


@dataclass(frozen=True, slots=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str  # "": any code in the system

    def matches(self, pairs: set[tuple[str, str]]) -> bool:
        if self.system is None:
            return any(code == self.code for _, code in pairs)
        if not self.code:
            return any(system == self.system for system, _ in pairs)
        return (self.system, self.code) in pairs


def parse_token(value: str) -> Token:
    if "|" in value:
        system, code = value.split("|", 1)
        return Token(system, code)
    return Token(None, value)


@dataclass
class SearchQuery:
    """One validated search. ``applied`` is what the self link shows: the parameters actually used."""

    resource_type: str
    patients: set[str] | None = None
    ids: set[str] | None = None
    impossible: bool = False  # e.g. subject=Group/1: the store indexes Patient subjects only
    tokens: list[tuple[str, list[Token]]] = field(default_factory=list)
    dates: list[tuple[str, list[tuple[str, Period]]]] = field(default_factory=list)
    strings: list[tuple[str, str, list[str]]] = field(default_factory=list)
    updated_lo: datetime | None = None  # inclusive
    updated_hi: datetime | None = None  # exclusive
    count: int | None = None
    sort: str | None = None
    summary_count: bool = False
    applied: list[tuple[str, str]] = field(default_factory=list)
    present: set[str] = field(default_factory=set)

    def restrict_patient(self, patient: str) -> None:
        if self.resource_type == "Patient":
            self.ids = {patient} if self.ids is None else self.ids & {patient}
        else:
            self.patients = {patient} if self.patients is None else self.patients & {patient}


def _reference_id(value: str) -> tuple[str | None, str]:
    """`Patient/1`, `1` or `https://host/base/Patient/1` -> ("Patient", "1"); a bare id has no type."""
    value = value.rstrip("/")
    parts = value.split("/")
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return None, value


def parse_query(
    flavour: Flavour, resource_type: str, pairs: Sequence[tuple[str, str]], *, strict: bool = False
) -> SearchQuery:
    """Validate ``pairs`` for ``resource_type`` on ``flavour``; raise SearchError as that vendor would."""
    q = SearchQuery(resource_type)
    compartment = resource_type not in NON_COMPARTMENT_TYPES
    last_updated: list[tuple[str, Period]] = []
    for raw_name, value in pairs:
        name, _, modifier = raw_name.partition(":")
        if name in (flavour.page_param, flavour.practice_param) and name:
            continue
        if name == flavour.count_param:
            q.count = _parse_count(raw_name, value)
            q.applied.append((raw_name, value))
            continue
        if name in RESULT_PARAMS:
            _result_param(q, name, value)
            continue
        if modifier and not (name in STRING_PARAMS and modifier in STRING_MODIFIERS):
            raise SearchError(f"modifier :{modifier} is not supported on {name}", expression=raw_name)
        canonical = "_id" if name in flavour.id_aliases else name
        values = [v for v in value.split(",") if v != ""]
        if not values:
            raise SearchError(f"search parameter {raw_name} has no value", expression=raw_name)
        allowed = flavour.allowed_values.get((resource_type, canonical))
        if allowed is not None and any(v not in allowed for v in values):
            raise SearchError(
                f"{raw_name}={value} is not supported here; use one of {','.join(sorted(allowed))}",
                kind="invalid-value",
                expression=raw_name,
            )
        if canonical == "_id":
            q.ids = set(values) if q.ids is None else q.ids & set(values)
        elif canonical in ("patient", "subject") and compartment:
            _reference_param(q, values)
        elif canonical in TOKEN_PARAMS:
            q.tokens.append((canonical, [parse_token(v) for v in values]))
        elif canonical in DATE_PARAMS:
            q.dates.append((canonical, [_parse_prefixed_date(raw_name, v) for v in values]))
        elif canonical in STRING_PARAMS:
            q.strings.append((canonical, modifier, [v.casefold() for v in values]))
        elif canonical == "_lastUpdated":
            if not flavour.supports_last_updated(resource_type):
                hint = f"; use {flavour.since_param}" if flavour.since_param else ""
                raise SearchError(
                    f"_lastUpdated is not supported for {resource_type} on {flavour.vendor}{hint}",
                    kind="unsupported-param",
                    expression="_lastUpdated",
                )
            if len(values) > 1:
                raise SearchError("_lastUpdated takes one value per parameter; repeat it for a range")
            last_updated.append(_parse_prefixed_date(raw_name, values[0]))
        elif flavour.since_param and canonical == flavour.since_param:
            try:
                since = parse_fhir_date(value).lo
            except ValueError:
                raise SearchError(f"{name}={value} is not an instant", expression=name) from None
            q.updated_lo = since if q.updated_lo is None else max(q.updated_lo, since)
        else:
            if strict:
                raise SearchError(f"unknown search parameter {raw_name} for {resource_type}", expression=raw_name)
            continue
        q.present.add(canonical)
        q.applied.append((raw_name, value))
    for prefix, period in last_updated:
        _narrow_last_updated(q, prefix, period)
    _check_required(flavour, q)
    return q


def _parse_count(name: str, value: str) -> int:
    if not value.isdigit():
        raise SearchError(f"{name}={value} is not a non-negative integer", expression=name)
    return int(value)


def _result_param(q: SearchQuery, name: str, value: str) -> None:
    if name == "_sort":
        first = value.split(",")[0]
        if first not in SORTS:
            raise SearchError(f"_sort={value} is not supported; use _lastUpdated, -_lastUpdated, _id or -_id")
        q.sort = first
        q.applied.append((name, first))
    elif name == "_summary" and value == "count":
        q.summary_count = True
        q.applied.append((name, value))


def _reference_param(q: SearchQuery, values: list[str]) -> None:
    ids = set()
    for value in values:
        rtype, rid = _reference_id(value)
        if rtype not in (None, "Patient"):
            q.impossible = True
        ids.add(rid)
    q.patients = ids if q.patients is None else q.patients & ids


def _parse_prefixed_date(name: str, value: str) -> tuple[str, Period]:
    prefix, rest = split_prefix(value)
    try:
        return prefix, parse_fhir_date(rest)
    except ValueError:
        raise SearchError(f"{name}={value} is not a valid date (e.g. ge2024-01-01)", expression=name) from None


def _narrow_last_updated(q: SearchQuery, prefix: str, period: Period) -> None:
    lo: datetime | None
    hi: datetime | None
    if prefix in ("eq", "ap"):
        lo, hi = period.lo, period.hi
    elif prefix == "ge":
        lo, hi = period.lo, None
    elif prefix in ("gt", "sa"):
        lo, hi = period.hi, None
    elif prefix == "le":
        lo, hi = None, period.hi
    elif prefix in ("lt", "eb"):
        lo, hi = None, period.lo
    else:
        raise SearchError(f"_lastUpdated does not support the {prefix} prefix", expression="_lastUpdated")
    if lo is not None:
        q.updated_lo = lo if q.updated_lo is None else max(q.updated_lo, lo)
    if hi is not None:
        q.updated_hi = hi if q.updated_hi is None else min(q.updated_hi, hi)


def _check_required(flavour: Flavour, q: SearchQuery) -> None:
    if flavour.requires_some_param and not q.present:
        raise SearchError(f"a {q.resource_type} search needs at least one search parameter", kind="no-params")
    for group in flavour.required_for(q.resource_type):
        if not group & q.present:
            names = " or ".join(sorted(group - {"_id"})) + (" (or _id)" if "_id" in group else "")
            raise SearchError(
                f"{q.resource_type} search on {flavour.vendor} requires {names}",
                kind="missing-param",
                expression=sorted(group)[0],
            )


def check_practice(flavour: Flavour, pairs: Iterable[tuple[str, str]]) -> None:
    """athenahealth needs the practice on every search (`ah-practice`)."""
    if not flavour.practice_param:
        return
    values = [v for k, v in pairs if k == flavour.practice_param]
    if not values:
        raise SearchError(f"{flavour.practice_param} is required on every search", kind="missing-param")
    if values[0] not in flavour.practice_values:
        raise SearchError(f"{flavour.practice_param}={values[0]} is not a practice here", kind="invalid-value")


# ---------------------------------------------------------------------------- running


class Searcher:
    """Runs queries against a store, caching per-record extracted values by (type, id, version)."""

    MAX_CACHE = 1_000_000

    def __init__(self, store: SandboxStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str, int, str], Any] = {}

    def run(self, q: SearchQuery) -> list[Record]:
        if q.impossible or (q.patients is not None and not q.patients) or (q.ids is not None and not q.ids):
            return []
        by_updated = q.sort in ("_lastUpdated", "-_lastUpdated")
        descending = q.sort in ("-_lastUpdated", "-_id")
        scan = dict(
            ids=q.ids,
            updated_after=q.updated_lo,
            updated_before=q.updated_hi,
            sort_by_last_updated=by_updated,
            descending=descending,
        )
        if q.patients is None:
            records = self.store.scan(q.resource_type, **scan)
        elif len(q.patients) == 1:
            records = self.store.scan(q.resource_type, patient=next(iter(q.patients)), **scan)
        else:
            records = [r for p in sorted(q.patients) for r in self.store.scan(q.resource_type, patient=p, **scan)]
            key: Callable[[Record], Any] = (lambda r: (r.last_updated, r.id)) if by_updated else (lambda r: r.id)
            records.sort(key=key, reverse=descending)
        for predicate in self._predicates(q):
            records = [r for r in records if predicate(r)]
        return records

    def _predicates(self, q: SearchQuery) -> list[Callable[[Record], bool]]:
        preds: list[Callable[[Record], bool]] = []
        for name, alternatives in q.tokens:
            preds.append(lambda r, n=name, alts=alternatives: any(t.matches(self._pairs(r, n)) for t in alts))
        for name, clauses in q.dates:
            preds.append(
                lambda r, n=name, cs=clauses: (
                    (p := self._period(r, n)) is not None and any(date_matches(prefix, s, p) for prefix, s in cs)
                )
            )
        for name, modifier, wanted in q.strings:
            preds.append(lambda r, n=name, m=modifier, w=wanted: _string_match(self._strings(r, n), m, w))
        return preds

    def _cached(self, record: Record, param: str, compute: Callable[[dict], Any]) -> Any:
        key = (record.resource_type, record.id, record.version, param)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) >= self.MAX_CACHE:
            self._cache.clear()
        value = self._cache[key] = compute(record.body)
        return value

    def _pairs(self, record: Record, param: str) -> set[tuple[str, str]]:
        def compute(body: dict) -> set[tuple[str, str]]:
            out: set[tuple[str, str]] = set()
            for name in TOKEN_PARAMS[param]:
                if name in body:
                    _tokens_of(body[name], out)
            return out

        return self._cached(record, param, compute)

    def _period(self, record: Record, param: str) -> Period | None:
        def compute(body: dict) -> Period | None:
            for name in DATE_PARAMS[param]:
                if name in body:
                    return period_of(body[name])
            return None

        return self._cached(record, param, compute)

    def _strings(self, record: Record, param: str) -> list[str]:
        def compute(body: dict) -> list[str]:
            return _strings_of(param, body.get("name"))

        return self._cached(record, param, compute)


def _string_match(parts: list[str], modifier: str, wanted: list[str]) -> bool:
    if modifier == "exact":
        return any(w == p for w in wanted for p in parts)
    if modifier == "contains":
        return any(w in p for w in wanted for p in parts)
    return any(p.startswith(w) for w in wanted for p in parts)
