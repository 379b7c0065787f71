"""The HL7 v2 message store: every received message, raw, with what became of it.

Statuses: RECEIVED (stored and acknowledged, not yet processed), TRANSFORMED (converted and in the
FHIR store), QUEUED (waiting for a network destination), SENT (delivered to every destination),
FILTERED (a channel filter or the duplicate check let it go; still stored and acknowledged), ERROR
(refused, or a conversion or destination failed: ``error`` says why, and reprocess retries it).

Inserts talk to the driver directly: they sit on the path between a frame arriving and its ACK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from holovitals.logs import get_logger
from holovitals.store.models import Hl7Message
from holovitals.store.resources import sqlite_time
from holovitals.store.types import utcnow

from .channels import Channel
from .destinations import Deliverer, Delivery, DestinationError, ensure_connection, store
from .intake import Intake, IntakeOptions, intake

log = get_logger(__name__)


class Status(StrEnum):
    RECEIVED = "RECEIVED"
    TRANSFORMED = "TRANSFORMED"
    SENT = "SENT"
    QUEUED = "QUEUED"
    FILTERED = "FILTERED"
    ERROR = "ERROR"


ACCEPTED_CODES = ("AA", "CA")
_COLUMNS = (
    "org_id, channel, control_id, message_type, version, sending_application, sending_facility, patient_id, "
    "raw, status, error, duplicate_of, ack_code, received_at"
)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    pk: int
    status: str
    error: str | None = None
    final: bool = True  # sets processed_at


@dataclass
class MessageFilter:
    """Search criteria; ``message_type`` is ``ADT`` (any trigger), ``ADT^A01``, or a pattern ``ADT^A0*``."""

    message_type: str | None = None
    patient_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    control_id: str | None = None
    status: str | None = None
    channel: str | None = None
    ids: Sequence[int] | None = None


# ---------------------------------------------------------------- writes


def options_for(channel: Channel) -> IntakeOptions:
    return IntakeOptions(channel=channel.name, strict=channel.strict, rules=channel.rules(),
                         convert=channel.needs_conversion)  # fmt: skip


def insert_messages(
    session: Session, items: Sequence[tuple[str, str, Intake]], *, received_at: datetime | None = None
) -> list[tuple[int, int | None]]:
    """Store (org_id, channel, intake) rows in order; returns (pk, duplicate_of) for each.

    An accepted message whose (tenant, channel, MSH-4, MSH-10) was already accepted is a resend
    (its sender never got our ACK): it is stored too, as FILTERED with ``duplicate_of`` pointing at
    the first copy, so nothing downstream runs twice.
    """
    received_at = received_at or utcnow()
    sqlite = session.get_bind().dialect.name == "sqlite"
    seen = _accepted_originals(session, items)
    cursor = session.connection().connection.driver_connection.cursor()
    sql = f"INSERT INTO hl7_messages ({_COLUMNS}) VALUES ({', '.join(['?' if sqlite else '%s'] * 14)})"
    if not sqlite:
        sql += " RETURNING pk"
    stamp: Any = sqlite_time(received_at) if sqlite else received_at
    out: list[tuple[int, int | None]] = []
    try:
        for org_id, channel, item in items:
            key = (org_id, channel, item.sending_facility, item.control_id)
            duplicate_of = seen.get(key) if item.accepted and item.control_id else None
            status = Status.FILTERED.value if duplicate_of else item.status
            cursor.execute(sql, (org_id, channel, item.control_id, item.message_type, item.version,
                                 item.sending_application, item.sending_facility, item.patient_id, item.raw,
                                 status, item.error, duplicate_of, item.ack_code, stamp))  # fmt: skip
            pk = cursor.lastrowid if sqlite else cursor.fetchone()[0]
            if item.accepted and item.control_id and duplicate_of is None:
                seen[key] = pk
            out.append((pk, duplicate_of))
    finally:
        cursor.close()
    return out


def _accepted_originals(session: Session, items: Sequence[tuple[str, str, Intake]]) -> dict[tuple, int]:
    """The first accepted copy already stored for each (tenant, channel, facility, control id) in the batch."""
    wanted: dict[tuple[str, str, str | None], set[str]] = {}
    for org_id, channel, item in items:
        if item.accepted and item.control_id:
            wanted.setdefault((org_id, channel, item.sending_facility), set()).add(item.control_id)
    found: dict[tuple, int] = {}
    if not wanted:
        return found
    # Straight to the driver like the inserts it precedes: building the ORM select for every group
    # commit cost about 1 ms (15 us a message in groups of 64; now 1 us).
    mark = "?" if session.get_bind().dialect.name == "sqlite" else "%s"
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        for (org_id, channel, facility), control_ids in wanted.items():
            ids = sorted(control_ids)
            for start in range(0, len(ids), _IN_LIMIT):
                chunk = ids[start : start + _IN_LIMIT]
                by_facility = "sending_facility IS NULL" if facility is None else f"sending_facility = {mark}"
                sql = (
                    f"SELECT control_id, min(pk) FROM hl7_messages WHERE {by_facility}"
                    f" AND control_id IN ({', '.join([mark] * len(chunk))}) AND org_id = {mark} AND channel = {mark}"
                    f" AND ack_code IN ({', '.join([mark] * len(ACCEPTED_CODES))}) AND duplicate_of IS NULL"
                    " GROUP BY control_id"
                )
                params = [*([] if facility is None else [facility]), *chunk, org_id, channel, *ACCEPTED_CODES]
                cursor.execute(sql, params)
                for control_id, pk in cursor.fetchall():
                    found[(org_id, channel, facility, control_id)] = pk
    finally:
        cursor.close()
    return found


#: Control ids per IN list: well under SQLite's bound-parameter limit (999 before 3.32).
_IN_LIMIT = 500


def set_status(session: Session, updates: Sequence[StatusUpdate], *, at: datetime | None = None) -> None:
    """Record what became of messages (one statement for the batch)."""
    if not updates:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    at = at or utcnow()
    stamp: Any = sqlite_time(at) if sqlite else at
    mark = "?" if sqlite else "%s"
    sql = f"UPDATE hl7_messages SET status = {mark}, error = {mark}, processed_at = {mark} WHERE pk = {mark}"
    rows = [(u.status, u.error, stamp if u.final else None, u.pk) for u in updates]
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


# ---------------------------------------------------------------- reads


def _filtered(org_id: str, f: MessageFilter):
    m = Hl7Message
    stmt = select(m).where(m.org_id == org_id)
    if f.message_type:
        pattern = f.message_type
        if "*" in pattern or "?" in pattern:
            like = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(m.message_type.like(like.replace("*", "%").replace("?", "_"), escape="\\"))
        elif "^" in pattern:
            stmt = stmt.where(m.message_type == pattern)
        else:
            stmt = stmt.where(or_(m.message_type == pattern, m.message_type.like(f"{pattern}^%")))
    if f.patient_id:
        stmt = stmt.where(m.patient_id == f.patient_id)
    if f.since:
        stmt = stmt.where(m.received_at >= f.since)
    if f.until:
        stmt = stmt.where(m.received_at < f.until)
    if f.control_id:
        stmt = stmt.where(m.control_id == f.control_id)
    if f.status:
        stmt = stmt.where(m.status == f.status)
    if f.channel:
        stmt = stmt.where(m.channel == f.channel)
    if f.ids is not None:
        stmt = stmt.where(m.pk.in_(list(f.ids)))
    return stmt


def search(
    session: Session, org_id: str, f: MessageFilter | None = None, *, limit: int = 50, offset: int = 0
) -> tuple[list[Hl7Message], int]:
    """A page of a tenant's messages, newest first, and how many match in all."""
    stmt = _filtered(org_id, f or MessageFilter())
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Hl7Message.pk.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total


def get_message(session: Session, org_id: str, pk: int) -> Hl7Message | None:
    """One message of this tenant (another tenant's id reads as absent)."""
    return session.execute(
        select(Hl7Message).where(Hl7Message.pk == pk, Hl7Message.org_id == org_id)
    ).scalar_one_or_none()


def unfinished(
    session: Session, org_id: str, channel: str, *, after: int = 0, upto: int | None = None, limit: int = 500
) -> list[Hl7Message]:
    """Messages stored and acknowledged but never finished (the listener stopped): resumed at start."""
    m = Hl7Message
    stmt = (
        select(m)
        .where(
            m.org_id == org_id,
            m.channel == channel,
            m.status.in_((Status.RECEIVED.value, Status.QUEUED.value)),
            m.processed_at.is_(None),
            m.duplicate_of.is_(None),
            m.pk > after,
        )
        .order_by(m.pk)
        .limit(limit)
    )
    if upto is not None:
        stmt = stmt.where(m.pk <= upto)
    return list(session.execute(stmt).scalars())


def last_pk(session: Session, org_id: str, channel: str) -> int:
    """The newest message id of a channel (0 when it has none)."""
    m = Hl7Message
    return session.execute(select(func.max(m.pk)).where(m.org_id == org_id, m.channel == channel)).scalar() or 0


def to_json(row: Hl7Message, *, include_raw: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.pk,
        "channel": row.channel,
        "controlId": row.control_id,
        "messageType": row.message_type,
        "version": row.version,
        "sendingApplication": row.sending_application,
        "sendingFacility": row.sending_facility,
        "patientId": row.patient_id,
        "status": row.status,
        "error": row.error,
        "ackCode": row.ack_code,
        "duplicateOf": row.duplicate_of,
        "receivedAt": row.received_at.isoformat(),
        "processedAt": row.processed_at.isoformat() if row.processed_at else None,
    }
    if include_raw:
        out["raw"] = row.raw
    return out


# ---------------------------------------------------------------- reprocess


@dataclass
class ReprocessReport:
    """What a reprocess did: counts by resulting status, and each message's outcome."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # duplicates: their first copy is the one to reprocess
    outcomes: list[tuple[int, str, str | None]] = field(default_factory=list)

    def add(self, pk: int, status: str, error: str | None) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        self.outcomes.append((pk, status, error))

    def as_json(self) -> dict[str, Any]:
        return {
            "processed": len(self.outcomes),
            "skippedDuplicates": self.skipped,
            "byStatus": self.counts,
            "messages": [{"id": pk, "status": s, "error": e} for pk, s, e in self.outcomes],
        }


def reprocess(
    session: Session,
    org_id: str,
    pks: Sequence[int],
    *,
    channels: Mapping[str, Channel] | None = None,
    deliverer: Deliverer | None = None,
) -> ReprocessReport:
    """Run stored raws through parse, validate, filter, convert and destinations again.

    Idempotent: the FHIR store's upsert leaves identical resources unchanged. A message from a
    channel not given in ``channels`` gets the default treatment: converted and stored, lenient
    validation (the channel that accepted it may have been lenient too). Each message runs in its
    own savepoint, so one failure never undoes the others.
    """
    report = ReprocessReport()
    channels = channels or {}
    rows = session.execute(
        select(Hl7Message).where(Hl7Message.org_id == org_id, Hl7Message.pk.in_(list(pks))).order_by(Hl7Message.pk)
    ).scalars()
    own_deliverer = deliverer is None
    deliverer = deliverer or Deliverer(attempts=1)
    connections: dict[str, str] = {}
    try:
        for row in list(rows):
            if row.duplicate_of is not None:
                report.skipped += 1
                continue
            channel = channels.get(row.channel) or Channel(name=row.channel, strict=False)
            status, error = _reprocess_one(session, org_id, row, channel, deliverer, connections)
            report.add(row.pk, status, error)
    finally:
        if own_deliverer:
            deliverer.close()
    return report


def _reprocess_one(
    session: Session, org_id: str, row: Hl7Message, channel: Channel, deliverer: Deliverer, connections: dict
) -> tuple[str, str | None]:
    item = intake(row.raw.encode("utf-8"), options_for(channel))
    status, error = item.status, item.error
    if item.storable and item.status != Status.ERROR:
        row.control_id, row.message_type, row.patient_id = item.control_id, item.message_type, item.patient_id
    if status == Status.RECEIVED:
        try:
            with session.begin_nested():
                if channel.stores and item.resources is not None:
                    if channel.name not in connections:
                        connections[channel.name] = ensure_connection(session, org_id, channel.name)
                    store(session, connections[channel.name], channel.name, item.resources)
            status = final_status(channel)
        except Exception as exc:
            log.error("hl7 reprocess store failed", message_id=row.pk, error_type=type(exc).__name__)
            status, error = Status.ERROR.value, f"store failed: {type(exc).__name__}"
    if status == Status.SENT:
        delivery = delivery_of(row.pk, channel.name, item)
        try:
            for destination in channel.network_destinations:
                deliverer.deliver(destination, delivery)
        except DestinationError as exc:
            status, error = Status.ERROR.value, str(exc)
    row.status, row.error, row.processed_at = status, error, utcnow()
    return status, error


def final_status(channel: Channel) -> str:
    """Where a message that went through every destination ends up."""
    if channel.network_destinations:
        return Status.SENT.value
    if channel.needs_conversion:
        return Status.TRANSFORMED.value
    return Status.RECEIVED.value


def delivery_of(pk: int, channel: str, item: Intake) -> Delivery:
    return Delivery(pk, channel, item.raw, item.control_id, item.message_type, item.sending_facility,
                    item.patient_id, list(item.resources or ()))  # fmt: skip


# ---------------------------------------------------------------- retention


def purge(session: Session, older_than_days: float, *, org_id: str | None = None, now: datetime | None = None) -> int:
    """Delete messages received more than ``older_than_days`` ago; returns how many went."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    stmt = delete(Hl7Message).where(Hl7Message.received_at < cutoff)
    if org_id:
        stmt = stmt.where(Hl7Message.org_id == org_id)
    return session.execute(stmt).rowcount or 0
