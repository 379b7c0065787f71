"""The visit, after the IG's segment maps PV1[Encounter], PV2[Encounter] and ROL[Encounter].

The Encounter id comes from the visit number (PV1-19), so admit, transfer, update and discharge
of one visit are versions of one resource. Only ADT messages write the Encounter: an order or a
result only references it (by the same id), because it does not know the visit's status and
would overwrite the ADT feed's with a guess.
"""

from __future__ import annotations

from ..message import Segment
from . import tables
from .context import Context
from .datatypes import (
    Json,
    codeable_concept,
    coding,
    cx_key,
    date_time,
    field_text,
    identifier_cx,
    location_reference,
    practitioner_reference,
    text,
    ts_text,
)
from .patient import first_rep

#: PV1 person fields -> v3 ParticipationType (and the field's label for warnings).
PV1_PARTICIPANTS: tuple[tuple[int, str, str, str], ...] = (
    (7, "ATND", "attender", "PV1-7"),
    (8, "REF", "referrer", "PV1-8"),
    (9, "CON", "consultant", "PV1-9"),
    (17, "ADM", "admitter", "PV1-17"),
)
#: Encounter.status -> the status of the encounter's current location.
LOCATION_STATUS = {"in-progress": "active", "finished": "completed", "planned": "planned", "onleave": "active"}


def visit_key(pv1: Segment | None) -> tuple[str, str] | None:
    """(authority, visit number) from PV1-19; None when the sender gave no visit number."""
    rep = first_rep(pv1, 19)
    if rep is None or not text(rep, 1):
        return None
    return cx_key(rep)


def encounter_reference(pv1: Segment | None, ctx: Context) -> Json | None:
    """A reference to the visit's Encounter by its visit number (for orders, results, documents)."""
    key = visit_key(pv1)
    if key is None:
        return None
    return {"reference": f"Encounter/{ctx.resource_id('Encounter', *key)}"}


def adt_status(trigger: str, pv1: Segment) -> str:
    """Encounter.status by trigger event; an update (A08...) reads it from the visit's dates."""
    status = tables.ENCOUNTER_STATUS.get(trigger)
    if status:
        return status
    if ts_text(pv1, 45):
        return "finished"
    if (pv1.component_value(2) or "").strip() == "P":
        return "planned"
    return "in-progress"


def map_encounter(pv1: Segment, pv2: Segment | None, patient_ref: str, ctx: Context, *, status: str) -> str:
    """PV1 (and PV2) -> Encounter; returns the ``Encounter/id`` reference."""
    key = visit_key(pv1)
    if key is None:
        ctx.warn("PV1-19 visit number missing: the encounter is identified by the message control id")
        encounter_id = ctx.resource_id("Encounter", "MSH-10", ctx.control_id)
    else:
        encounter_id = ctx.resource_id("Encounter", *key)
    encounter: Json = {"resourceType": "Encounter", "id": encounter_id}
    identifiers = [
        identifier_cx(pv1.first_repetition(19), ctx, "PV1-19", default_type="VN"),
        identifier_cx(pv1.first_repetition(50), ctx, "PV1-50"),
    ]
    if any(identifiers):
        encounter["identifier"] = [i for i in identifiers if i]
    encounter["status"] = status
    encounter["class"] = _encounter_class(pv1, ctx)
    admission_type = codeable_concept(pv1.first_repetition(4), ctx, "PV1-4", table="0007")
    if admission_type:
        encounter["type"] = [admission_type]
    service = codeable_concept(pv1.first_repetition(10), ctx, "PV1-10", table="0069")
    if service:
        encounter["serviceType"] = service
    encounter["subject"] = {"reference": patient_ref}
    participants = []
    for field, code, display, label in PV1_PARTICIPANTS:
        for rep in pv1.repetitions(field):
            person = practitioner_reference(rep, ctx, label)
            if person:
                participants.append(_participant(code, display, person))
    if participants:
        encounter["participant"] = participants
    period = _period(pv1, ctx, status)
    if period:
        encounter["period"] = period
    if pv2 is not None:
        reason = codeable_concept(pv2.first_repetition(3), ctx, "PV2-3")
        if reason:
            encounter["reasonCode"] = [reason]
    hospitalization = _hospitalization(pv1, ctx)
    if hospitalization:
        encounter["hospitalization"] = hospitalization
    locations = _locations(pv1, ctx, status)
    if locations:
        encounter["location"] = locations
    return ctx.add(encounter)


def add_role_participants(encounter_ref: str, roles: list[Segment], ctx: Context) -> None:
    """ROL segments (role ROL-3, person ROL-4) -> more Encounter participants."""
    encounter = ctx.resources[encounter_ref]
    for rol in roles:
        role = field_text(rol, 3)
        if role == "PP":
            continue
        for rep in rol.repetitions(4):
            person = practitioner_reference(rep, ctx, "ROL-4")
            if not person:
                continue
            code, display = tables.PARTICIPATION.get(role or "", ("PART", "Participation"))
            participant = _participant(code, display, person)
            # ROL often repeats what PV1-7/8/9/17 already said (MEDITECH sends both).
            if participant not in encounter.get("participant", []):
                encounter.setdefault("participant", []).append(participant)


def _participant(code: str, display: str, person: Json) -> Json:
    return {"type": [{"coding": [coding(code, display, tables.V3_PARTICIPATION)]}], "individual": person}


def _encounter_class(pv1: Segment, ctx: Context) -> Json:
    raw = (pv1.component_value(2) or "").strip().upper()
    code = tables.PATIENT_CLASS_ALIASES.get(raw, raw)
    mapped = tables.ENCOUNTER_CLASS.get(code)
    if mapped is None:
        ctx.warn("PV1-2 patient class is missing or not in HL7 table 0004; class set to unknown")
        return coding("UNK", "unknown", tables.V3_NULL_FLAVOR)
    system, target, display = mapped
    return coding(target, display, system)


def _period(pv1: Segment, ctx: Context, status: str) -> Json | None:
    period: Json = {}
    start = date_time(ts_text(pv1, 44), ctx, "PV1-44")
    if start:
        period["start"] = start
    end = date_time(ts_text(pv1, 45), ctx, "PV1-45")
    # An encounter in progress has not ended: a cancelled discharge (A13) must drop the end it
    # cancels, and a discharge date on an admit is a sender error we do not carry into FHIR.
    if end and status in ("finished", "cancelled", "entered-in-error"):
        period["end"] = end
    elif end:
        ctx.warn("PV1-45 discharge date ignored: the encounter is not finished")
    return period or None


def _hospitalization(pv1: Segment, ctx: Context) -> Json | None:
    result: Json = {}
    pre_admission = identifier_cx(pv1.first_repetition(5), ctx, "PV1-5")
    if pre_admission:
        result["preAdmissionIdentifier"] = pre_admission
    source = codeable_concept(pv1.first_repetition(14), ctx, "PV1-14", table="0023")
    if source:
        result["admitSource"] = source
    disposition = codeable_concept(pv1.first_repetition(36), ctx, "PV1-36", table="0112")
    if disposition:
        result["dischargeDisposition"] = disposition
    return result or None


def _locations(pv1: Segment, ctx: Context, status: str) -> list[Json]:
    locations = []
    current = location_reference(pv1.first_repetition(3), ctx, "PV1-3")
    if current:
        entry: Json = {"location": current}
        location_status = LOCATION_STATUS.get(status)
        if location_status:
            entry["status"] = location_status
        locations.append(entry)
    prior = location_reference(pv1.first_repetition(6), ctx, "PV1-6")
    if prior and (not current or prior["reference"] != current["reference"]):
        locations.append({"location": prior, "status": "completed"})
    return locations
