"""HL7 v2 over HTTP: parse a message, build an ADT from a Patient, search and reprocess stored
messages, manage channels. Every route is scoped to the caller's tenant; message reads are audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from holovitals.api.deps import Access, get_session, require
from holovitals.api.problems import Problem
from holovitals.hl7v2 import HL7Issue, HL7ParseError, Message, find_issues, parse
from holovitals.hl7v2.channels import (
    Channel,
    ChannelConfigError,
    channel_of,
    find_db_channel,
    list_db_channels,
    save_db_channel,
)
from holovitals.hl7v2.message_store import MessageFilter, get_message, reprocess, search, to_json
from holovitals.security.rbac import Permission
from holovitals.store.models import Integration

router = APIRouter(tags=["hl7v2"])
ER7 = "x-application/hl7-v2+er7"
MAX_BODY = 10 * 1024 * 1024


# ---------------------------------------------------------------- parse and build


async def _message_text(request: Request) -> str:
    """The ER7 text of the body: raw (any text type) or JSON ``{"message": "..."}``."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, "Content Too Large", f"body: a message is limited to {MAX_BODY} bytes")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Problem(422, "Unprocessable Content", "body: not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            raise Problem(422, "Unprocessable Content", 'body: expected {"message": "<ER7 text>"}')
        return data["message"]
    from holovitals.hl7v2 import decode_message

    return decode_message(body)


def _issue(issue: HL7Issue) -> dict[str, Any]:
    return {
        "code": issue.code,
        "severity": issue.severity,
        "message": issue.message,
        "location": str(issue.location) if issue.location else None,
    }


def _segments(message: Message) -> list[dict[str, Any]]:
    d = message.delimiters
    out = []
    for segment in message.segments():
        fields = []
        for position, raw in enumerate(segment.fields[1:], start=1):
            if not raw:
                continue
            field: dict[str, Any] = {"id": f"{segment.name}-{position}", "value": raw}
            if not (segment.name in ("MSH", "BHS", "FHS") and position <= 2):
                reps = raw.split(d.repetition)
                if len(reps) > 1:
                    field["repetitions"] = [{"value": r, "components": r.split(d.component)} for r in reps]
                elif d.component in raw:
                    field["components"] = raw.split(d.component)
            fields.append(field)
        out.append({"name": segment.name, "fields": fields})
    return out


@router.post("/api/integrations/hl7/parse")
async def parse_message(
    request: Request, access: Annotated[Access, Depends(require(Permission.READ_PHI))]
) -> dict[str, Any]:
    """Parse one ER7 message: segments and fields, the message type, and strict-validation issues."""
    text = await _message_text(request)
    try:
        message = parse(text)
    except HL7ParseError as exc:
        location = str(exc.location) if exc.location else None
        raise Problem(422, "Unprocessable Content", f"body: {exc.reason}", code=exc.code, location=location) from None
    issues = find_issues(message)
    patient = message.value("PID-3.1") or None
    access.audit("parse", resource_type="Hl7Message", patient_id=patient, detail="parsed, not stored")
    kind, trigger = message.message_type, message.trigger_event
    return {
        "messageType": f"{kind}^{trigger}" if kind and trigger else kind,
        "structure": message.structure,
        "controlId": message.control_id,
        "version": message.version,
        "valid": not any(i.severity == "E" for i in issues),
        "issues": [_issue(i) for i in issues],
        "segments": _segments(message),
    }


class AdtRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    patient: dict[str, Any]
    event: Literal["A04", "A08"] = "A08"
    sending_facility: str = Field("", alias="sendingFacility", max_length=200)
    receiving_application: str = Field("", alias="receivingApplication", max_length=200)
    receiving_facility: str = Field("", alias="receivingFacility", max_length=200)


@router.post("/api/integrations/hl7/adt")
async def patient_to_adt(
    request: Request,
    access: Annotated[Access, Depends(require(Permission.READ_PHI))],
    event: Annotated[Literal["A04", "A08"] | None, Query()] = None,
) -> Response:
    """An ADT^A04 (register) or ADT^A08 (update) for a FHIR Patient, as ER7 text.

    The body is the Patient itself (``?event=A04``), or ``{"patient": {...}, "event": "A04"}``.
    """
    from holovitals.hl7v2.to_fhir.outbound import patient_to_adt as build

    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Problem(422, "Unprocessable Content", "body: not valid JSON") from None
    if isinstance(data, dict) and data.get("resourceType") == "Patient":
        data = {"patient": data}
    try:
        body = AdtRequest.model_validate(data)
    except ValueError as exc:
        raise Problem(422, "Unprocessable Content", f"body: {str(exc).splitlines()[0]}") from None
    try:
        message = build(
            body.patient, event=event or body.event, sending_facility=body.sending_facility,
            receiving_application=body.receiving_application, receiving_facility=body.receiving_facility,
        )  # fmt: skip
    except ValueError as exc:
        raise Problem(422, "Unprocessable Content", f"body: {exc}") from None
    patient_id = body.patient.get("id") if isinstance(body.patient.get("id"), str) else None
    access.audit("read", resource_type="Patient", resource_id=patient_id, patient_id=patient_id,
                 detail=f"exported as ADT^{event or body.event}")  # fmt: skip
    return Response(message.to_er7("\r"), media_type=ER7)


# ---------------------------------------------------------------- the message store


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(422, "Unprocessable Content", f"query.{name}: needs a time zone, e.g. 2026-01-01T00:00:00Z")
    return value


StatusName = Literal["RECEIVED", "TRANSFORMED", "SENT", "QUEUED", "FILTERED", "ERROR"]


@router.get("/api/hl7/messages")
def list_messages(
    access: Annotated[Access, Depends(require(Permission.READ_PHI))],
    session: Annotated[Session, Depends(get_session)],
    type: Annotated[str | None, Query(max_length=20, description="ADT, ADT^A01 or ADT^A0*")] = None,
    patient: Annotated[str | None, Query(max_length=100, description="PID-3 identifier")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    controlId: Annotated[str | None, Query(max_length=100)] = None,
    status: StatusName | None = None,
    channel: Annotated[str | None, Query(max_length=100)] = None,
    includeRaw: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Stored messages, newest first; the raw text only with ``includeRaw=true``."""
    since, until = _aware("since", since), _aware("until", until)
    criteria = MessageFilter(message_type=type, patient_id=patient, since=since, until=until, control_id=controlId,
                             status=status, channel=channel)  # fmt: skip
    rows, total = search(session, access.principal.org_id, criteria, limit=limit, offset=offset)
    access.audit("search", resource_type="Hl7Message", patient_id=patient,
                 detail=f"{len(rows)} of {total}" + (" with raw" if includeRaw else ""), session=session)  # fmt: skip
    return {"total": total, "limit": limit, "offset": offset,
            "items": [to_json(r, include_raw=includeRaw) for r in rows]}  # fmt: skip


@router.get("/api/hl7/messages/{message_id}")
def read_message(
    message_id: int,
    access: Annotated[Access, Depends(require(Permission.READ_PHI))],
    session: Annotated[Session, Depends(get_session)],
    includeRaw: bool = True,
) -> dict[str, Any]:
    """One stored message, with its raw text unless ``includeRaw=false``."""
    row = get_message(session, access.principal.org_id, message_id)
    if row is None:
        access.audit("read", "not_found", resource_type="Hl7Message", resource_id=str(message_id))
        raise Problem(404, "Not Found", "no HL7 message with that id")
    access.audit("read", resource_type="Hl7Message", resource_id=str(row.pk), patient_id=row.patient_id,
                 session=session)  # fmt: skip
    return to_json(row, include_raw=includeRaw)


def _db_channels(session: Session, org_id: str) -> dict[str, Channel]:
    return {row.name: channel_of(row) for row in list_db_channels(session, org_id)}


@router.post("/api/hl7/messages/{message_id}/reprocess")
def reprocess_message(
    message_id: int,
    access: Annotated[Access, Depends(require(Permission.WRITE_PHI))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Run one stored message through parse, convert and its channel's destinations again."""
    row = get_message(session, access.principal.org_id, message_id)
    if row is None:
        access.audit("update", "not_found", resource_type="Hl7Message", resource_id=str(message_id))
        raise Problem(404, "Not Found", "no HL7 message with that id")
    report = reprocess(session, access.principal.org_id, [row.pk], channels=_db_channels(session, row.org_id))
    access.audit("update", resource_type="Hl7Message", resource_id=str(row.pk), patient_id=row.patient_id,
                 detail="reprocess", session=session)  # fmt: skip
    return report.as_json() | {"message": to_json(row)}


class ReprocessFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] | None = Field(None, max_length=10000)
    status: StatusName | None = None
    type: str | None = Field(None, max_length=20)
    patient: str | None = Field(None, max_length=100)
    channel: str | None = Field(None, max_length=100)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(1000, ge=1, le=10000)


@router.post("/api/hl7/messages/reprocess")
def reprocess_matching(
    body: ReprocessFilter,
    access: Annotated[Access, Depends(require(Permission.WRITE_PHI))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Reprocess every message matching a filter (at most ``limit``, newest first)."""
    criteria = MessageFilter(message_type=body.type, patient_id=body.patient, since=_aware("since", body.since),
                             until=_aware("until", body.until), status=body.status, channel=body.channel,
                             ids=body.ids)  # fmt: skip
    if criteria == MessageFilter():
        raise Problem(422, "Unprocessable Content", "body: give at least one criterion (ids, status, type, ...)")
    org_id = access.principal.org_id
    rows, total = search(session, org_id, criteria, limit=body.limit)
    report = reprocess(session, org_id, [r.pk for r in rows], channels=_db_channels(session, org_id))
    access.audit("update", resource_type="Hl7Message", patient_id=body.patient,
                 detail=f"reprocess {len(report.outcomes)} of {total}", session=session)  # fmt: skip
    return report.as_json() | {"matched": total}


# ---------------------------------------------------------------- channels


def _channel_json(row: Integration) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "status": row.status, "createdAt": row.created_at.isoformat(),
            "channel": row.config}  # fmt: skip


def _own_channel(session: Session, access: Access, channel_id: str) -> Integration:
    row = find_db_channel(session, access.principal.org_id, channel_id=channel_id)
    if row is None:
        raise Problem(404, "Not Found", "no HL7 channel with that id")
    return row


@router.get("/api/hl7/channels")
def list_channels(
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """The channels saved for this tenant (``holovitals hl7 listen --db-channels`` runs them)."""
    return {"items": [_channel_json(r) for r in list_db_channels(session, access.principal.org_id)]}


@router.post("/api/hl7/channels", status_code=201)
def create_channel(
    channel: Channel,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Save a channel: source port, filters, destinations (kept in ``integrations``, kind hl7v2)."""
    try:
        row = save_db_channel(session, access.principal.org_id, channel)
    except ChannelConfigError as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    return _channel_json(row)


@router.get("/api/hl7/channels/{channel_id}")
def read_channel(
    channel_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    return _channel_json(_own_channel(session, access, channel_id))


@router.put("/api/hl7/channels/{channel_id}")
def replace_channel(
    channel_id: str,
    channel: Channel,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    """Replace a channel's configuration (a running listener picks it up when restarted)."""
    row = _own_channel(session, access, channel_id)
    try:
        row = save_db_channel(session, access.principal.org_id, channel, row)
    except ChannelConfigError as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    return _channel_json(row)


@router.delete("/api/hl7/channels/{channel_id}", status_code=204)
def delete_channel(
    channel_id: str,
    access: Annotated[Access, Depends(require(Permission.MANAGE_EHR))],
    session: Annotated[Session, Depends(get_session)],
) -> Response:
    """Remove a channel; the messages it received stay in the store."""
    session.delete(_own_channel(session, access, channel_id))
    return Response(status_code=204)
