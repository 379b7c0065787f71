"""ORM^O01 -> ServiceRequest (or MedicationRequest for a pharmacy order), after the IG's message
map ORM_O01 and segment maps ORC[ServiceRequest], OBR[ServiceRequest], RXO[MedicationRequest].

The request id comes from the placer order number (ORC-2, else OBR-2), else the filler's: it is
the number both sides keep for the life of the order, so a new order, its status changes and its
cancel (ORC-1 CA) are versions of one request, and an ORU for it from the same source system
(see ``convert(source_system=...)``) points at the same id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..groups import Group, group_message
from ..message import Segment
from . import tables
from .clinical import map_coverage
from .context import Context
from .datatypes import (
    Json,
    codeable_concept,
    coding,
    date_time,
    ei_key,
    ei_parts,
    field_text,
    identifier_ei,
    number,
    practitioner_reference,
    ts_text,
    unit_of,
)
from .encounter import encounter_reference
from .errors import missing
from .observation import note_text
from .patient import first_rep, map_patient

SUPPORTED_TRIGGERS = frozenset({"O01"})
MAPPED_SEGMENTS = frozenset({"MSH", "SFT", "PID", "PD1", "PV1", "PV2", "IN1", "ORC", "TQ1", "OBR", "RXO", "NTE", "DG1"})
TIMING_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
#: Repeat patterns (TQ.2) that are codes of the FHIR timing-abbreviation value set.
TIMING_CODES = frozenset(
    {"BID", "TID", "QID", "AM", "PM", "QD", "QOD", "Q1H", "Q2H", "Q3H", "Q4H", "Q6H", "Q8H", "BED", "WK", "MO"}
)


def convert(ctx: Context) -> str:
    """Map an ORM^O01 into ``ctx``; returns the patient reference."""
    msg = ctx.message
    pid = msg.segment("PID")
    if pid is None:
        raise missing("PID")
    patient_ref = map_patient(pid, ctx, pd1=msg.segment("PD1"))
    encounter = encounter_reference(msg.segment("PV1"), ctx)
    coverage = [c for c in (map_coverage(in1, patient_ref, ctx) for in1 in msg.segments("IN1")) if c]
    orders = group_message(msg).find_groups("ORDER")
    if not orders:
        raise missing("ORC")
    for order in orders:
        orc = order.segment("ORC")
        if orc is None:
            raise missing("ORC")
        detail = order.group("ORDER_DETAIL")
        rxo = detail.segment("RXO") if detail else None
        if rxo is not None:
            medication_request(orc, rxo, detail, patient_ref, encounter, ctx)  # type: ignore[arg-type]
        else:
            service_request(
                orc,
                detail.segment("OBR") if detail else None,
                detail,
                patient_ref,
                encounter,
                ctx,
                timing=_timing(order),
                coverage=coverage,
            )
    return patient_ref


def order_numbers(orc: Segment | None, obr: Segment | None) -> tuple[tuple, tuple]:
    """(placer EI parts, filler EI parts): ORC-2/ORC-3, else OBR-2/OBR-3."""
    placer = ei_parts(first_rep(orc, 2))
    if not placer[0]:
        placer = ei_parts(first_rep(obr, 2))
    filler = ei_parts(first_rep(orc, 3))
    if not filler[0]:
        filler = ei_parts(first_rep(obr, 3))
    return placer, filler


def request_id(resource_type: str, placer: tuple, filler: tuple, ctx: Context, position: str) -> str:
    """Placer number, else filler number, else (last resort) the message control id."""
    placer_key, filler_key = ei_key(placer), ei_key(filler)
    if placer_key:
        return ctx.resource_id(resource_type, "placer", *placer_key)
    if filler_key:
        return ctx.resource_id(resource_type, "filler", *filler_key)
    ctx.warn("ORC-2/ORC-3 and OBR-2/OBR-3 order numbers missing: the order is identified by the message control id")
    return ctx.resource_id(resource_type, "MSH-10", ctx.control_id, position)


def order_status(orc: Segment | None, default: str = "active") -> str:
    """ORC-5 order status (table 0038) when sent, else ORC-1 order control (table 0119)."""
    if orc is None:
        return default
    status = (orc.component_value(5) or "").strip()
    if status in tables.ORDER_STATUS:
        return tables.ORDER_STATUS[status]
    control = (orc.component_value(1) or "").strip()
    return tables.ORDER_CONTROL_STATUS.get(control, default)


def service_request(
    orc: Segment | None,
    obr: Segment | None,
    detail: Group | None,
    patient_ref: str,
    encounter: Json | None,
    ctx: Context,
    *,
    timing: Segment | None = None,
    coverage: Sequence[str] = (),
    status: str | None = None,
    notes: bool = True,
) -> str:
    """ORC + OBR -> ServiceRequest; returns its reference."""
    placer, filler = order_numbers(orc, obr)
    position = (obr.value(1) if obr is not None else None) or "1"
    request: Json = {
        "resourceType": "ServiceRequest",
        "id": request_id("ServiceRequest", placer, filler, ctx, position),
    }
    _identify(request, placer, filler, orc, ctx)
    request["status"] = status or order_status(orc)
    request["intent"] = "order"
    priority = _priority(orc, obr, timing)
    if priority:
        request["priority"] = priority
    code = codeable_concept(first_rep(obr, 4), ctx, "OBR-4")
    if code:
        request["code"] = code
    request["subject"] = {"reference": patient_ref}
    if encounter:
        request["encounter"] = encounter
    occurrence = _occurrence(orc, obr, timing, ctx)
    if occurrence:
        request["occurrenceDateTime"] = occurrence
    authored = date_time(ts_text(orc, 9), ctx, "ORC-9") or date_time(ts_text(obr, 6), ctx, "OBR-6")
    if authored:
        request["authoredOn"] = authored
    requester = practitioner_reference(first_rep(orc, 12), ctx, "ORC-12") or practitioner_reference(
        first_rep(obr, 16), ctx, "OBR-16"
    )
    if requester:
        request["requester"] = requester
    reasons = _reasons(obr, detail, ctx)
    if reasons:
        request["reasonCode"] = reasons
    if coverage:
        request["insurance"] = [{"reference": ref} for ref in coverage]
    annotations = note_text(detail.segments("NTE")) if detail is not None and notes else []
    if annotations:
        request["note"] = annotations
    return ctx.add(request)


def medication_request(
    orc: Segment, rxo: Segment, detail: Group, patient_ref: str, encounter: Json | None, ctx: Context
) -> str:
    """ORC + RXO -> MedicationRequest: RXO-1 medication, RXO-2/RXO-4 dose, ORC-7 timing."""
    medication = codeable_concept(first_rep(rxo, 1), ctx, "RXO-1")
    if medication is None:
        raise missing("RXO", 1, "requested give code")
    placer, filler = order_numbers(orc, None)
    request: Json = {
        "resourceType": "MedicationRequest",
        "id": request_id("MedicationRequest", placer, filler, ctx, "1"),
    }
    _identify(request, placer, filler, orc, ctx)
    status = order_status(orc)
    # MedicationRequest has no "revoked": a cancelled or discontinued medication order is "cancelled"
    # before it started and "stopped" after; from the order alone we cannot tell, and cancelled is safer.
    request["status"] = {"revoked": "cancelled", "draft": "draft"}.get(status, status)
    request["intent"] = "order"
    request["medicationCodeableConcept"] = medication
    request["subject"] = {"reference": patient_ref}
    if encounter:
        request["encounter"] = encounter
    authored = date_time(ts_text(orc, 9), ctx, "ORC-9")
    if authored:
        request["authoredOn"] = authored
    requester = practitioner_reference(first_rep(orc, 12), ctx, "ORC-12")
    if requester:
        request["requester"] = requester
    annotations = note_text(detail.segments("NTE"))
    if annotations:
        request["note"] = annotations
    dosage = _dosage(orc, rxo, ctx)
    if dosage:
        request["dosageInstruction"] = [dosage]
    return ctx.add(request)


def _identify(request: Json, placer: tuple, filler: tuple, orc: Segment | None, ctx: Context) -> None:
    identifiers = [
        identifier_ei(placer, ctx, type_code="PLAC"),
        identifier_ei(filler, ctx, type_code="FILL"),
    ]
    if any(identifiers):
        request["identifier"] = [i for i in identifiers if i]
    group = identifier_ei(ei_parts(first_rep(orc, 4)), ctx, type_code="PGN")
    if group:
        # ORC-4 placer group number: ServiceRequest calls it requisition, MedicationRequest groupIdentifier.
        request["requisition" if request["resourceType"] == "ServiceRequest" else "groupIdentifier"] = group


def _priority(orc: Segment | None, obr: Segment | None, timing: Segment | None) -> str | None:
    candidates = [
        field_text(timing, 9),
        (orc.component_value(7, 6) if orc is not None else None),
        (obr.component_value(27, 6) if obr is not None else None),
    ]
    for code in candidates:
        if code and code.strip().upper() in tables.PRIORITY:
            return tables.PRIORITY[code.strip().upper()]
    return None


def _occurrence(orc: Segment | None, obr: Segment | None, timing: Segment | None, ctx: Context) -> str | None:
    for value, label in (
        (ts_text(timing, 7), "TQ1-7"),
        (orc.value("7.4.1") if orc is not None else None, "ORC-7.4"),
        (obr.value("27.4.1") if obr is not None else None, "OBR-27.4"),
    ):
        found = date_time(value, ctx, label)
        if found:
            return found
    return None


def _reasons(obr: Segment | None, detail: Group | None, ctx: Context) -> list[Json]:
    found = [codeable_concept(r, ctx, "OBR-31") for r in (obr.repetitions(31) if obr is not None else [])]
    if detail is not None:
        found += [codeable_concept(first_rep(dg1, 3), ctx, "DG1-3") for dg1 in detail.segments("DG1")]
    return [f for f in found if f]


def _timing(order: Group) -> Segment | None:
    timing = order.group("TIMING")
    return timing.segment("TQ1") if timing else None


def _dosage(orc: Segment, rxo: Segment, ctx: Context) -> Json | None:
    dosage: Json = {}
    pattern = (orc.value("7.2.1") or "").strip().upper()
    if pattern:
        dosage["text"] = pattern
        if pattern in TIMING_CODES:
            dosage["timing"] = {"code": {"coding": [coding(pattern, None, TIMING_ABBREVIATION)]}}
    amount = number(rxo.value(2))
    if amount is not None:
        unit = unit_of(first_rep(rxo, 4), ctx, "RXO-4")
        dose: dict[str, Any] = {"value": amount, **unit}
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    return dosage or None
