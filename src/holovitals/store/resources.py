"""Versioned storage of FHIR resources: the one write path every source ends in.

Writes are idempotent upserts keyed by (connection, resource type, id), one INSERT ... ON CONFLICT DO
UPDATE statement per batch, guarded so that replaying a batch changes nothing and an older version
never overwrites a newer one:

* a row changes only when the content hash (or the deleted flag) differs, and
* the incoming versionId (when numeric on both sides) and lastUpdated (when present on both
  sides) are not older than what is stored.

Superseded versions go to ``resource_versions`` through a database trigger (migration 0002).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from holovitals.store.models import Connection, Resource, ResourceVersion
from holovitals.store.types import utcnow

COMPARTMENT_FIELDS = ("subject", "patient", "beneficiary", "individual")
MAX_ID_LENGTH = 255  # see models.ResourceId


class InvalidResource(ValueError):
    """A record that cannot be stored; the message says why, without its content."""


@dataclass(slots=True)
class IncomingResource:
    """One resource ready for the store: its key, version guard, and the JSON text to keep."""

    resource_type: str
    resource_id: str
    text: str
    content_hash: str
    version_id: str | None
    version_num: int | None
    last_updated: datetime | None
    patient_id: str | None
    deleted: bool = False

    def __reduce__(self):
        # HL7 conversion workers send these back by the thousand: from arguments in field order,
        # the 11 resources of an ADT^A01 pickle in 18 us and load in 16 (a dataclass's state: 24, 55).
        return IncomingResource, (self.resource_type, self.resource_id, self.text, self.content_hash, self.version_id,
                                  self.version_num, self.last_updated, self.patient_id, self.deleted)  # fmt: skip

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> IncomingResource:
        """From a parsed resource (a Bundle entry, an NDJSON line, a converted HL7 message)."""
        raw = orjson.dumps(body)
        return cls.from_parts(body, raw.decode(), raw)

    @classmethod
    def from_json(cls, raw: bytes | str) -> IncomingResource:
        """From the exact text a source sent; the text is stored verbatim."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidResource(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
        if isinstance(raw, bytes):
            return cls.from_parts(body, raw.decode(), raw)
        return cls.from_parts(body, raw, raw.encode())

    @classmethod
    def from_parts(cls, body: Any, text: str, raw: bytes) -> IncomingResource:
        """From a parsed resource and the exact text (and its bytes) it was parsed from."""
        if not isinstance(body, dict):
            raise InvalidResource("a resource must be a JSON object")
        rtype = body.get("resourceType")
        rid = body.get("id")
        if not isinstance(rtype, str) or not rtype:
            raise InvalidResource("resourceType is missing")
        if not isinstance(rid, str) or not rid:
            raise InvalidResource(f"{rtype} has no id")
        if len(rid) > MAX_ID_LENGTH:
            raise InvalidResource(f"{rtype} id is longer than {MAX_ID_LENGTH} characters")
        meta = body.get("meta") or {}
        if not isinstance(meta, dict):
            raise InvalidResource(f"{rtype}/{rid} meta is not an object")
        version_id = meta.get("versionId")
        version_id = str(version_id) if version_id is not None else None
        return cls(
            resource_type=rtype,
            resource_id=rid,
            text=text,
            content_hash=hashlib.sha256(raw).hexdigest(),
            version_id=version_id,
            version_num=int(version_id) if version_id and version_id.isdigit() and len(version_id) < 18 else None,
            last_updated=parse_instant(meta.get("lastUpdated"), f"{rtype}/{rid} meta.lastUpdated"),
            patient_id=patient_of(body),
        )


def parse_instant(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResource(f"{what} is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidResource(f"{what} is not a FHIR instant") from None
    if parsed.tzinfo is None:
        raise InvalidResource(f"{what} has no time zone")
    return parsed.astimezone(UTC)


def patient_of(body: dict[str, Any]) -> str | None:
    """The patient compartment a resource belongs to, for patient filters and the audit log."""
    if body.get("resourceType") == "Patient":
        return body.get("id")
    for name in COMPARTMENT_FIELDS:
        ref = body.get(name)
        if isinstance(ref, dict):
            reference = ref.get("reference")
            if isinstance(reference, str) and reference.startswith("Patient/"):
                return reference[8:].split("/", 1)[0][:MAX_ID_LENGTH]
    return None


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed: list[tuple[str, str, int]] = field(default_factory=list)  # (type, id, local_version)

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changed.extend(other.changed)
        return self


def _newer(a: IncomingResource, b: IncomingResource) -> bool:
    """Is ``a`` at least as new as ``b``? Used to pick one copy of a key within a batch."""
    if a.version_num is not None and b.version_num is not None and a.version_num != b.version_num:
        return a.version_num > b.version_num
    if a.last_updated is not None and b.last_updated is not None and a.last_updated != b.last_updated:
        return a.last_updated > b.last_updated
    return True  # same version: the later copy in the batch wins


def dedupe(items: Iterable[IncomingResource]) -> list[IncomingResource]:
    """One row per key, the newest; PostgreSQL refuses to touch a row twice in one statement."""
    chosen: dict[tuple[str, str], IncomingResource] = {}
    for item in items:
        key = (item.resource_type, item.resource_id)
        current = chosen.get(key)
        if current is None or _newer(item, current):
            chosen[key] = item
    return list(chosen.values())


_COLUMNS = (
    "connection_id, resource_type, resource_id, version_id, version_num, last_updated, content_hash, body, "
    "deleted, patient_id, source, fetched_at, local_version"
)
_ON_CONFLICT = """
ON CONFLICT (connection_id, resource_type, resource_id) DO UPDATE SET
    version_id = excluded.version_id, version_num = excluded.version_num, last_updated = excluded.last_updated,
    content_hash = excluded.content_hash, body = excluded.body, deleted = excluded.deleted,
    patient_id = excluded.patient_id, source = excluded.source, fetched_at = excluded.fetched_at,
    local_version = resources.local_version + 1
WHERE (resources.content_hash <> excluded.content_hash OR resources.deleted <> excluded.deleted)
  AND (resources.version_num IS NULL OR excluded.version_num IS NULL OR excluded.version_num >= resources.version_num)
  AND (resources.last_updated IS NULL OR excluded.last_updated IS NULL
       OR excluded.last_updated >= resources.last_updated)
RETURNING resource_type, resource_id, local_version"""
# SQLite allows 32,766 bound variables per statement, PostgreSQL 65,535: 1,000 rows of 12 fit both.
ROWS_PER_STATEMENT = 1000


@lru_cache(maxsize=64)
def _upsert_sql(dialect: str, rows: int) -> str:
    if dialect == "postgresql":
        row = "(%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, 1)"
    else:
        row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    return f"INSERT INTO resources ({_COLUMNS}) VALUES " + ", ".join([row] * rows) + _ON_CONFLICT


def sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC), so ORM reads and comparisons agree."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def upsert_resources(
    session: Session,
    connection_id: str,
    items: Sequence[IncomingResource],
    *,
    source: str,
    fetched_at: datetime | None = None,
) -> UpsertResult:
    """Store a batch with one statement per 1,000 rows; returns what was created, updated and unchanged.

    This is the hottest path in the engine, so it talks to the driver directly: SQLAlchemy's per-row
    parameter processing cost more than SQLite's own work (measured in bench/store_upsert.py).
    """
    result = UpsertResult()
    unique = dedupe(items)
    if not unique:
        return result
    dialect = session.get_bind().dialect.name
    fetched_at = fetched_at or utcnow()
    source = source[:200]
    if dialect == "sqlite":
        fetched = sqlite_time(fetched_at)
        # Resources from one message or page usually share their lastUpdated: format each once.
        stamps: dict[datetime | None, str | None] = {None: None}
        rows = []
        for r in unique:
            stamp = stamps.get(r.last_updated)
            if stamp is None and r.last_updated is not None:
                stamp = stamps[r.last_updated] = sqlite_time(r.last_updated)
            rows.append((connection_id, r.resource_type, r.resource_id, r.version_id, r.version_num, stamp,
                         r.content_hash, r.text, int(r.deleted), r.patient_id, source, fetched))  # fmt: skip
    else:
        rows = [
            (connection_id, r.resource_type, r.resource_id, r.version_id, r.version_num, r.last_updated,
             r.content_hash, r.text, r.deleted, r.patient_id, source, fetched_at)
            for r in unique
        ]  # fmt: skip
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(_upsert_sql(dialect, len(chunk)), [v for row in chunk for v in row])
            for rtype, rid, local_version in cursor.fetchall():
                if local_version == 1:
                    result.created += 1
                else:
                    result.updated += 1
                result.changed.append((rtype, rid, local_version))
    finally:
        cursor.close()
    result.unchanged = len(items) - result.created - result.updated
    return result


def mark_deleted(
    session: Session,
    connection_id: str,
    keys: Iterable[tuple[str, str]],
    *,
    deleted_at: datetime | None = None,
    source: str,
) -> int:
    """Tombstone resources the source says are gone; the last content stays in history."""
    deleted_at = deleted_at or utcnow()
    count = 0
    cur = Resource.__table__.c
    for rtype, rid in keys:
        res = session.execute(
            update(Resource)
            .where(
                cur.connection_id == connection_id,
                cur.resource_type == rtype,
                cur.resource_id == rid,
                cur.deleted.is_(False),
                or_(cur.last_updated.is_(None), cur.last_updated <= deleted_at),
            )
            .values(
                deleted=True,
                last_updated=deleted_at,
                fetched_at=utcnow(),
                source=source[:200],
                local_version=cur.local_version + 1,
            )
        )
        count += res.rowcount or 0
    return count


# ---------------------------------------------------------------- reads, always scoped to a tenant


def _scoped(org_id: str):
    return select(Resource).join(Connection, Connection.id == Resource.connection_id).where(Connection.org_id == org_id)


def get_resource(
    session: Session, org_id: str, resource_type: str, resource_id: str, connection_id: str | None = None
) -> Resource | None:
    stmt = _scoped(org_id).where(Resource.resource_type == resource_type, Resource.resource_id == resource_id)
    if connection_id:
        stmt = stmt.where(Resource.connection_id == connection_id)
    return session.execute(stmt.order_by(Resource.fetched_at.desc()).limit(1)).scalar_one_or_none()


def list_resources(
    session: Session,
    org_id: str,
    *,
    resource_type: str | None = None,
    patient_id: str | None = None,
    connection_id: str | None = None,
    updated_since: datetime | None = None,
    updated_before: datetime | None = None,
    include_deleted: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Resource], int]:
    stmt = _scoped(org_id)
    if resource_type:
        stmt = stmt.where(Resource.resource_type == resource_type)
    if patient_id:
        stmt = stmt.where(Resource.patient_id == patient_id)
    if connection_id:
        stmt = stmt.where(Resource.connection_id == connection_id)
    if updated_since:
        stmt = stmt.where(Resource.last_updated >= updated_since)
    if updated_before:
        stmt = stmt.where(Resource.last_updated < updated_before)
    if not include_deleted:
        stmt = stmt.where(Resource.deleted.is_(False))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    page = stmt.order_by(Resource.resource_type, Resource.resource_id).limit(limit).offset(offset)
    return list(session.execute(page).scalars()), total


def history(session: Session, resource: Resource) -> list[ResourceVersion]:
    """Superseded versions of a resource, newest first (the current one is the resource itself)."""
    stmt = (
        select(ResourceVersion)
        .where(
            ResourceVersion.connection_id == resource.connection_id,
            ResourceVersion.resource_type == resource.resource_type,
            ResourceVersion.resource_id == resource.resource_id,
        )
        .order_by(ResourceVersion.local_version.desc())
    )
    return list(session.execute(stmt).scalars())
