"""The sandbox EHR's data: an in-memory, versioned FHIR store that serves pre-serialized JSON.

The sandbox is the server our sync benchmarks run against, so it must never be what they measure:
every current version is kept as the bytes it will be served as (``Record.raw``), and searches walk
small per-type and per-patient indexes. Nothing here builds a model object per request.

All methods are thread-safe (one lock); the sandbox server runs them from worker threads.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

COMPARTMENT_FIELDS = ("subject", "patient", "beneficiary", "individual")


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_instant(value: datetime) -> str:
    """FHIR instant with milliseconds and Z, as most servers send it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class StoreError(Exception):
    """Base for store failures the FHIR layer turns into OperationOutcomes."""


class NotFound(StoreError):
    pass


class Gone(StoreError):
    """The resource existed and was deleted (FHIR answers 410)."""


class VersionConflict(StoreError):
    """If-Match did not match the current version."""

    def __init__(self, current: int) -> None:
        super().__init__(f"current version is {current}")
        self.current = current


class InvalidResource(StoreError):
    pass


@dataclass(slots=True)
class Record:
    """One version of one resource. ``raw`` is exactly what the server sends for it."""

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    raw: bytes
    deleted: bool = False
    patient_id: str | None = None
    created: datetime | None = None

    @property
    def body(self) -> dict[str, Any]:
        """Parsed on demand only (search filters on codes/categories, writes)."""
        return orjson.loads(self.raw) if self.raw else {}


@dataclass
class _TypeIndex:
    """Current records of one type, ordered by (last_updated, id) for _lastUpdated searches."""

    by_id: dict[str, Record] = field(default_factory=dict)
    order: list[tuple[datetime, str]] = field(default_factory=list)

    def put(self, record: Record) -> None:
        old = self.by_id.get(record.id)
        if old is not None:
            key = (old.last_updated, old.id)
            i = bisect.bisect_left(self.order, key)
            if i < len(self.order) and self.order[i] == key:
                del self.order[i]
        self.by_id[record.id] = record
        bisect.insort(self.order, (record.last_updated, record.id))


def patient_of(body: dict[str, Any]) -> str | None:
    if body.get("resourceType") == "Patient":
        return body.get("id")
    for name in COMPARTMENT_FIELDS:
        ref = body.get(name)
        if isinstance(ref, dict):
            reference = ref.get("reference")
            if isinstance(reference, str) and reference.startswith("Patient/"):
                return reference[8:]
    return None


class SandboxStore:
    """Current versions, full history, deletions, and a monotonically increasing clock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._types: dict[str, _TypeIndex] = {}
        self._history: dict[tuple[str, str], list[Record]] = {}
        self._by_patient: dict[str, dict[str, set[str]]] = {}
        self._deleted: list[Record] = []  # tombstones in deletion order, for bulk `deleted` and _since
        self._last_clock: datetime | None = None
        self.listeners: list[Any] = []  # callables(event: str, record: Record) for subscriptions

    # ------------------------------------------------------------------ clock

    def now(self) -> datetime:
        """Strictly increasing timestamps (ms precision), so every change has its own lastUpdated."""
        with self._lock:
            t = utcnow()
            t = t.replace(microsecond=t.microsecond // 1000 * 1000)
            if self._last_clock is not None and t <= self._last_clock:
                t = self._last_clock + timedelta(milliseconds=1)
            self._last_clock = t
            return t

    # ------------------------------------------------------------------ loading

    def load(self, resources: Iterable[dict[str, Any]]) -> int:
        """Add resources as they are (keeping their meta), e.g. from the generator or a folder.

        Missing meta.versionId / lastUpdated are filled in. Returns how many were loaded.
        """
        count = 0
        with self._lock:
            for body in resources:
                rtype, rid = body.get("resourceType"), body.get("id")
                if not isinstance(rtype, str) or not isinstance(rid, str):
                    raise InvalidResource("every loaded resource needs resourceType and id")
                meta = body.setdefault("meta", {})
                version = int(meta["versionId"]) if str(meta.get("versionId", "")).isdigit() else 1
                meta["versionId"] = str(version)
                if "lastUpdated" in meta:
                    last_updated = parse_instant(meta["lastUpdated"])
                else:
                    last_updated = self.now()
                    meta["lastUpdated"] = format_instant(last_updated)
                record = Record(
                    rtype,
                    rid,
                    version,
                    last_updated,
                    orjson.dumps(body),
                    patient_id=patient_of(body),
                    created=last_updated,
                )
                self._put(record)
                count += 1
        return count

    def _put(self, record: Record) -> None:
        self._types.setdefault(record.resource_type, _TypeIndex()).put(record)
        self._history.setdefault((record.resource_type, record.id), []).append(record)
        if record.patient_id:
            self._by_patient.setdefault(record.patient_id, {}).setdefault(record.resource_type, set()).add(record.id)

    # ------------------------------------------------------------------ reads

    def types(self) -> list[str]:
        with self._lock:
            return sorted(self._types)

    def count(self, resource_type: str | None = None) -> int:
        with self._lock:
            if resource_type:
                idx = self._types.get(resource_type)
                return sum(1 for r in idx.by_id.values() if not r.deleted) if idx else 0
            return sum(1 for idx in self._types.values() for r in idx.by_id.values() if not r.deleted)

    def get(self, resource_type: str, resource_id: str) -> Record:
        """The current version; raises NotFound or Gone."""
        with self._lock:
            idx = self._types.get(resource_type)
            record = idx.by_id.get(resource_id) if idx else None
            if record is None:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            if record.deleted:
                raise Gone(f"{resource_type}/{resource_id} was deleted")
            return record

    def get_version(self, resource_type: str, resource_id: str, version: int) -> Record:
        with self._lock:
            for record in self._history.get((resource_type, resource_id), []):
                if record.version == version:
                    return record
        raise NotFound(f"{resource_type}/{resource_id} has no version {version}")

    def history(self, resource_type: str, resource_id: str) -> list[Record]:
        """All versions, newest first (deletions included as deleted records)."""
        with self._lock:
            versions = self._history.get((resource_type, resource_id))
            if not versions:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            return list(reversed(versions))

    def scan(
        self,
        resource_type: str,
        *,
        patient: str | None = None,
        ids: set[str] | None = None,
        updated_after: datetime | None = None,
        updated_after_inclusive: bool = True,
        updated_before: datetime | None = None,
        updated_before_inclusive: bool = False,
        sort_by_last_updated: bool = False,
        descending: bool = False,
    ) -> list[Record]:
        """Current, non-deleted records of a type, optionally narrowed; in a stable order.

        Default order is by id within the type (stable across pages); with ``sort_by_last_updated``
        it is (lastUpdated, id). Further filters (code, category, date) are the FHIR layer's job.
        """
        with self._lock:
            idx = self._types.get(resource_type)
            if idx is None:
                return []
            if patient is not None:
                candidates = self._by_patient.get(patient, {}).get(resource_type, set())
                if ids is not None:
                    candidates = candidates & ids
                records = [idx.by_id[i] for i in candidates if i in idx.by_id]
            elif ids is not None:
                records = [idx.by_id[i] for i in ids if i in idx.by_id]
            elif sort_by_last_updated or updated_after or updated_before:
                lo = 0
                if updated_after is not None:
                    key = (updated_after, "" if updated_after_inclusive else "\U0010ffff")
                    lo = bisect.bisect_left(idx.order, key)
                hi = len(idx.order)
                if updated_before is not None:
                    key = (updated_before, "\U0010ffff" if updated_before_inclusive else "")
                    hi = bisect.bisect_left(idx.order, key)
                records = [idx.by_id[i] for _, i in idx.order[lo:hi]]
            else:
                records = list(idx.by_id.values())
            records = [r for r in records if not r.deleted]
        if updated_after is not None:
            records = [
                r for r in records
                if r.last_updated > updated_after or (updated_after_inclusive and r.last_updated == updated_after)
            ]  # fmt: skip
        if updated_before is not None:
            records = [
                r for r in records
                if r.last_updated < updated_before or (updated_before_inclusive and r.last_updated == updated_before)
            ]  # fmt: skip
        if sort_by_last_updated:
            records.sort(key=lambda r: (r.last_updated, r.id), reverse=descending)
        else:
            records.sort(key=lambda r: r.id, reverse=descending)
        return records

    def patient_compartment(self, patient_id: str) -> list[Record]:
        """Every current record in a patient's compartment, the Patient first ($everything)."""
        with self._lock:
            out: list[Record] = []
            for rtype, ids in sorted(self._by_patient.get(patient_id, {}).items()):
                idx = self._types[rtype]
                out.extend(idx.by_id[i] for i in sorted(ids) if not idx.by_id[i].deleted)
        out.sort(key=lambda r: r.resource_type != "Patient")
        return out

    def deleted_since(self, since: datetime | None, resource_types: set[str] | None = None) -> list[Record]:
        """Tombstones (for bulk export's `deleted` output)."""
        with self._lock:
            return [
                r
                for r in self._deleted
                if (since is None or r.last_updated > since)
                and (not resource_types or r.resource_type in resource_types)
            ]

    # ------------------------------------------------------------------ writes

    def create(self, body: dict[str, Any], *, resource_id: str | None = None) -> Record:
        """Assign id (unless given, as in update-as-create), version 1 and lastUpdated."""
        rtype = body.get("resourceType")
        if not isinstance(rtype, str):
            raise InvalidResource("resourceType is missing")
        with self._lock:
            rid = resource_id or uuid.uuid4().hex[:16]
            idx = self._types.get(rtype)
            if idx and rid in idx.by_id and not idx.by_id[rid].deleted:
                raise InvalidResource(f"{rtype}/{rid} already exists")
            previous = self._history.get((rtype, rid))
            version = previous[-1].version + 1 if previous else 1
            return self._write(rtype, rid, body, version, event="create")

    def update(self, body: dict[str, Any], resource_id: str, *, if_match: int | None = None) -> tuple[Record, bool]:
        """Replace the current version; returns (record, created). ``if_match`` guards the version."""
        rtype = body.get("resourceType")
        if not isinstance(rtype, str):
            raise InvalidResource("resourceType is missing")
        with self._lock:
            idx = self._types.get(rtype)
            current = idx.by_id.get(resource_id) if idx else None
            if current is None or current.deleted:
                if if_match is not None:
                    raise VersionConflict(current.version if current else 0)
                return self.create(body, resource_id=resource_id), True
            if if_match is not None and if_match != current.version:
                raise VersionConflict(current.version)
            return self._write(rtype, resource_id, body, current.version + 1, event="update"), False

    def delete(self, resource_type: str, resource_id: str, *, if_match: int | None = None) -> Record:
        with self._lock:
            current = self.get(resource_type, resource_id)
            if if_match is not None and if_match != current.version:
                raise VersionConflict(current.version)
            now = self.now()
            tomb = Record(
                resource_type,
                resource_id,
                current.version + 1,
                now,
                b"",
                deleted=True,
                patient_id=current.patient_id,
                created=current.created,
            )
            self._types[resource_type].put(tomb)
            self._history[(resource_type, resource_id)].append(tomb)
            self._deleted.append(tomb)
        self._notify("delete", tomb)
        return tomb

    def _write(self, rtype: str, rid: str, body: dict[str, Any], version: int, *, event: str) -> Record:
        now = self.now()
        body = dict(body)
        body["id"] = rid
        meta = dict(body.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = format_instant(now)
        body["meta"] = meta
        previous = self._history.get((rtype, rid))
        created = previous[0].created if previous else now
        record = Record(rtype, rid, version, now, orjson.dumps(body), patient_id=patient_of(body), created=created)
        self._put(record)
        self._notify(event, record)
        return record

    def _notify(self, event: str, record: Record) -> None:
        for listener in list(self.listeners):
            listener(event, record)

    def snapshot(
        self, resource_types: Iterable[str] | None = None, *, patients: Iterable[str] | None = None
    ) -> tuple[datetime, dict[str, list[Record]]]:
        """A consistent cut for bulk export: (transaction time, current records by type, id order).

        Taken under the lock together with a clock tick, so every later change gets a later
        lastUpdated than the returned time and a client can use it as its next ``_since``.
        With ``patients`` only those patients' compartments are collected (Group export).
        """
        with self._lock:
            at = self.now()
            chosen = set(resource_types) if resource_types is not None else set(self._types)
            out: dict[str, list[Record]] = {}
            if patients is None:
                for rtype in sorted(chosen & set(self._types)):
                    out[rtype] = [r for r in self._types[rtype].by_id.values() if not r.deleted]
            else:
                for pid in set(patients):
                    for rtype, ids in self._by_patient.get(pid, {}).items():
                        if rtype in chosen:
                            current = (self._types[rtype].by_id[i] for i in ids)
                            wanted = (r for r in current if not r.deleted and r.patient_id == pid)
                            out.setdefault(rtype, []).extend(wanted)
        for records in out.values():
            records.sort(key=lambda r: r.id)
        return at, dict(sorted(out.items()))

    def iter_current(self, resource_types: Iterable[str] | None = None) -> Iterator[Record]:
        """Every current non-deleted record (bulk export), type by type."""
        with self._lock:
            chosen = sorted(resource_types) if resource_types else sorted(self._types)
            snapshot = [[r for r in self._types[t].by_id.values() if not r.deleted] for t in chosen if t in self._types]
        for records in snapshot:
            yield from records

    def clone(self) -> SandboxStore:
        """An independent copy with the same data (not the listeners), e.g. one per test.

        Records are never changed once stored (a write adds a new one), so the copy shares them and
        costs only the indexes: much cheaper than loading the same resources again.
        """
        with self._lock:
            other = SandboxStore()
            other._types = {t: _TypeIndex(dict(i.by_id), list(i.order)) for t, i in self._types.items()}
            other._history = {key: list(versions) for key, versions in self._history.items()}
            other._by_patient = {p: {t: set(ids) for t, ids in m.items()} for p, m in self._by_patient.items()}
            other._deleted = list(self._deleted)
            other._last_clock = self._last_clock
        return other
