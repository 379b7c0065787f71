"""SIU^S12-S17/S26 -> Appointment, after the IG's message map SIU_S12 and segment maps
SCH[Appointment], TQ1[Appointment], AIS[Appointment], AIG/AIL/AIP[Appointment.participant].

The Appointment id comes from the filler appointment id (SCH-2), else the placer's (SCH-1), so a
booking, its reschedule (S13), modification (S14) and cancel (S15) are versions of one resource.
Status follows the trigger; the time comes from TQ1 (v2.5+), else SCH-11, else AIS.
"""

from __future__ import annotations

from ..message import Segment
from . import tables
from .context import Context
from .datatypes import (
    Json,
    codeable_concept,
    ei_key,
    ei_parts,
    identifier_ei,
    location_reference,
    number,
    practitioner_reference,
    text,
    ts_text,
)
from .errors import missing
from .observation import note_text
from .patient import first_rep, map_patient
from .timestamps import V2Time, add_minutes, minutes_between, parse_dtm, to_instant

SUPPORTED_TRIGGERS = frozenset({"S12", "S13", "S14", "S15", "S16", "S17", "S26"})
MAPPED_SEGMENTS = frozenset(
    {"MSH", "SFT", "SCH", "TQ1", "NTE", "PID", "PD1", "PV1", "PV2", "RGS", "AIS", "AIG", "AIL", "AIP"}
)
#: app-3: only these statuses may lack a start and end.
UNTIMED_STATUSES = frozenset({"proposed", "cancelled", "waitlist"})
#: Resource filler status (table 0278) values that mean the participant is not coming.
DECLINED = frozenset({"CANCELLED", "DELETED", "DC", "NOSHOW"})
#: Field of each resource segment holding its filler status code.
FILLER_STATUS_FIELD = {"AIS": 10, "AIG": 14, "AIL": 12, "AIP": 12}


def convert(ctx: Context) -> str:
    """Map an SIU message into ``ctx``; returns the patient reference."""
    msg = ctx.message
    sch = msg.segment("SCH")
    if sch is None:
        raise missing("SCH")
    pid = msg.segment("PID")
    if pid is None:
        raise missing("PID")
    patient_ref = map_patient(pid, ctx, pd1=msg.segment("PD1"))
    placer, filler = ei_parts(first_rep(sch, 1)), ei_parts(first_rep(sch, 2))
    appointment: Json = {"resourceType": "Appointment", "id": _appointment_id(placer, filler, ctx)}
    identifiers = [identifier_ei(placer, ctx, type_code="PLAC"), identifier_ei(filler, ctx, type_code="FILL")]
    if any(identifiers):
        appointment["identifier"] = [i for i in identifiers if i]
    status = _status(sch, ctx)
    appointment["status"] = status
    if status in ("cancelled", "noshow"):
        reason = codeable_concept(first_rep(sch, 6), ctx, "SCH-6")
        if reason:
            appointment["cancelationReason"] = reason
    category = codeable_concept(first_rep(sch, 8), ctx, "SCH-8", table="0277")
    if category:
        appointment["serviceCategory"] = [category]
    services = [codeable_concept(first_rep(ais, 3), ctx, "AIS-3") for ais in msg.segments("AIS")]
    if any(services):
        appointment["serviceType"] = [s for s in services if s]
    kind = codeable_concept(first_rep(sch, 7), ctx, "SCH-7", table="0276")
    if kind:
        appointment["appointmentType"] = kind
    start, end, minutes = _timing(sch, msg.segment("TQ1"), msg.segments("AIS"), ctx)
    if (start is None or end is None) and status not in UNTIMED_STATUSES:
        raise missing("SCH", 11, "appointment timing (or TQ1-7/TQ1-8)")
    if start and end:
        appointment["start"] = start
        appointment["end"] = end
    if minutes:
        appointment["minutesDuration"] = minutes
    comments = note_text(_appointment_notes(msg.segments()))
    if comments:
        appointment["comment"] = "\n".join(c["text"] for c in comments)
    appointment["participant"] = [
        {"actor": {"reference": patient_ref}, "required": "required", "status": "accepted"},
        *_participants(msg.segments(), ctx),
    ]
    ctx.add(appointment)
    return patient_ref


def _appointment_id(placer: tuple, filler: tuple, ctx: Context) -> str:
    filler_key, placer_key = ei_key(filler), ei_key(placer)
    if filler_key:
        return ctx.resource_id("Appointment", "filler", *filler_key)
    if placer_key:
        return ctx.resource_id("Appointment", "placer", *placer_key)
    ctx.warn("SCH-1 and SCH-2 appointment ids missing: the appointment is identified by the message control id")
    return ctx.resource_id("Appointment", "MSH-10", ctx.control_id)


def _status(sch: Segment, ctx: Context) -> str:
    status = tables.APPOINTMENT_STATUS.get(ctx.trigger)
    if status:
        return status
    return tables.FILLER_STATUS.get((sch.component_value(25) or "").strip().upper(), "booked")


def _timing(
    sch: Segment, tq1: Segment | None, services: list[Segment], ctx: Context
) -> tuple[str | None, str | None, int | None]:
    """(start, end, minutes): TQ1-7/8, else SCH-11.4/.5, else AIS-4 plus AIS-7 duration."""
    candidates = [
        (ts_text(tq1, 7), ts_text(tq1, 8)),
        (sch.value("11.4.1"), sch.value("11.5.1")),
        *((ts_text(ais, 4), None) for ais in services),
    ]
    start = end = None
    for begin_text, end_text in candidates:
        start = parse_dtm(begin_text)
        if start is not None:
            end = parse_dtm(end_text)
            break
    minutes = _duration(sch.value(9), sch.component_value(10))
    if minutes is None:
        for ais in services:
            minutes = _duration(ais.value(7), ais.component_value(8))
            if minutes is not None:
                break
    if start is not None and end is None and minutes:
        end = add_minutes(start, minutes)
    if start is not None and end is not None and minutes is None:
        minutes = round(minutes_between(start, end, ctx.zone)) or None
    return _instant(start, ctx), _instant(end, ctx), minutes


def _instant(value: V2Time | None, ctx: Context) -> str | None:
    return to_instant(value, ctx.zone) if value is not None else None


def _duration(amount: str | None, unit: str | None) -> int | None:
    value = number(amount)
    if value is None or value <= 0:
        return None
    factor = tables.DURATION_MINUTES.get((unit or "MIN").strip().upper())
    if factor is None:
        return None
    return max(1, round(value * factor))


def _appointment_notes(segments: list[Segment]) -> list[Segment]:
    """The NTE right after SCH/TQ1 (notes after AIS/AIG/AIL/AIP belong to that resource)."""
    notes = []
    after_schedule = False
    for segment in segments:
        if segment.name in ("SCH", "TQ1"):
            after_schedule = True
        elif segment.name == "NTE" and after_schedule:
            notes.append(segment)
        else:
            after_schedule = False
    return notes


def _participants(segments: list[Segment], ctx: Context) -> list[Json]:
    """AIP (personnel) -> Practitioner, AIL (location) -> Location, AIG (general resource) -> display."""
    out = []
    for segment in segments:
        if segment.name == "AIP":
            actor = practitioner_reference(first_rep(segment, 3), ctx, "AIP-3")
            role = codeable_concept(first_rep(segment, 4), ctx, "AIP-4")
        elif segment.name == "AIL":
            actor = location_reference(first_rep(segment, 3), ctx, "AIL-3")
            role = codeable_concept(first_rep(segment, 4), ctx, "AIL-4")
        elif segment.name == "AIG":
            resource = first_rep(segment, 3)
            label = text(resource, 2) or text(resource, 1)
            actor = {"display": label} if label else None
            role = codeable_concept(first_rep(segment, 4), ctx, "AIG-4")
        else:
            continue
        if actor is None:
            continue
        participant: Json = {}
        if role:
            participant["type"] = [role]
        participant["actor"] = actor
        participant["required"] = "required"
        participant["status"] = _participant_status(segment)
        out.append(participant)
    return out


def _participant_status(segment: Segment) -> str:
    if (segment.component_value(2) or "").strip().upper() == "D":
        return "declined"
    filler_status = (segment.value(f"{FILLER_STATUS_FIELD[segment.name]}.1") or "").strip().upper()
    return "declined" if filler_status in DECLINED else "accepted"
