"""ORU^R01 -> DiagnosticReport, Observation, Specimen, ServiceRequest, after the IG's message map
ORU_R01 and segment maps OBR[DiagnosticReport], OBR[ServiceRequest], OBX[Observation],
SPM[Specimen], NTE[Observation.note].

One DiagnosticReport per ORDER_OBSERVATION group, keyed by the filler order number (OBR-3): the
lab's number for the result, which a corrected report (OBR-25 C) repeats. Its ``result`` lists
every Observation made from the group's OBX; an ED/RP OBX is the report's document and becomes
``presentedForm``.
"""

from __future__ import annotations

from dataclasses import replace

from ..groups import Group, group_message
from ..message import Segment
from . import tables
from .context import Context
from .datatypes import (
    Json,
    clean,
    codeable_concept,
    coding,
    date_time,
    ei_key,
    ei_parts,
    field_text,
    identifier_ei,
    instant,
    practitioner_reference,
    system_for,
    text,
    ts_text,
)
from .encounter import encounter_reference
from .errors import missing
from .observation import ObservationParent, map_observation
from .orm import order_numbers, service_request
from .patient import first_rep, map_patient

SUPPORTED_TRIGGERS = frozenset({"R01"})
MAPPED_SEGMENTS = frozenset({"MSH", "SFT", "PID", "PD1", "PV1", "PV2", "ORC", "OBR", "OBX", "NTE", "SPM", "PRT", "TQ1"})
#: PRT-4 roles on an OBR that interpret the results (table 0912).
INTERPRETERS = frozenset({"PI", "AI"})


def convert(ctx: Context) -> str:
    """Map an ORU^R01 into ``ctx``; returns the reference of the (first) patient."""
    tree = group_message(ctx.message)
    first_patient: str | None = None
    patient_ref: str | None = None
    encounter: Json | None = None
    if not tree.find_groups("ORDER_OBSERVATION"):
        raise missing("OBR")
    for result in tree.find_groups("PATIENT_RESULT"):
        patient = result.group("PATIENT")
        pid = patient.segment("PID") if patient else None
        if pid is not None and patient is not None:
            patient_ref = map_patient(pid, ctx, pd1=patient.segment("PD1"))
            visit = patient.group("VISIT")
            encounter = encounter_reference(visit.segment("PV1") if visit else None, ctx)
        if patient_ref is None:
            raise missing("PID")
        first_patient = first_patient or patient_ref
        for order in result.groups("ORDER_OBSERVATION"):
            map_report(order, patient_ref, encounter, ctx)
    if first_patient is None:
        raise missing("PID")
    return first_patient


def map_report(order: Group, patient_ref: str, encounter: Json | None, ctx: Context) -> str:
    """One ORDER_OBSERVATION group -> DiagnosticReport with its Observations and Specimens."""
    obr = order.segment("OBR")
    if obr is None:
        raise missing("OBR")
    orc = order.segment("ORC")
    code = codeable_concept(first_rep(obr, 4), ctx, "OBR-4")
    if code is None:
        raise missing("OBR", 4, "universal service identifier")
    placer, filler = order_numbers(orc, obr)
    report_id = _report_id(placer, filler, obr, ctx)
    status = _report_status(obr, ctx)
    based_on = None
    if ei_key(placer) or ei_key(filler):
        based_on = service_request(
            orc,
            obr,
            order,
            patient_ref,
            encounter,
            ctx,
            timing=_timing(order),
            status=_request_status(orc, status),
            notes=False,
        )
        _order_participants(based_on, order.segments("PRT"), ctx)
    report: Json = {"resourceType": "DiagnosticReport", "id": report_id}
    identifiers = [identifier_ei(filler, ctx, type_code="FILL"), identifier_ei(placer, ctx, type_code="PLAC")]
    if any(identifiers):
        report["identifier"] = [i for i in identifiers if i]
    if based_on:
        report["basedOn"] = [{"reference": based_on}]
    report["status"] = status
    section = field_text(obr, 24)
    category = tables.SERVICE_SECTION_CATEGORY.get(section or "")
    if section:
        report["category"] = [{"coding": [coding(section, None, tables.V2 + "0074")]}]
    report["code"] = code
    report["subject"] = {"reference": patient_ref}
    if encounter:
        report["encounter"] = encounter
    effective = _effective(obr, ctx)
    report.update(effective)
    issued = instant(ts_text(obr, 22), ctx, "OBR-22")
    if issued:
        report["issued"] = issued
    interpreters = _interpreters(order.segments("PRT"), ctx)
    if interpreters:
        report["resultsInterpreter"] = interpreters
    specimens = _specimens(order, obr, patient_ref, report_id, ctx)
    if specimens:
        report["specimen"] = [{"reference": ref} for ref, _ in specimens]
    parent = ObservationParent(
        subject=patient_ref,
        key=("DiagnosticReport", report_id),
        encounter=encounter,
        effective=effective,
        issued=issued,
        specimen=specimens[0][0] if len(specimens) == 1 else None,
        based_on=based_on,
        category=category,
    )
    results: list[str] = []
    forms: list[Json] = []
    for observation in order.groups("OBSERVATION"):
        obx = observation.segment("OBX")
        if obx is None:
            continue
        ref, document = map_observation(
            obx, parent, ctx, notes=observation.segments("NTE"), participants=observation.segments("PRT")
        )
        _collect(ref, document, results, forms)
    for specimen_ref, group in specimens:
        if group is None:
            continue
        specimen_parent = replace(parent, specimen=specimen_ref)
        for obx in group.segments("OBX"):
            scope = f"SPM{(group.segment('SPM').value(1) or '').strip()}"  # type: ignore[union-attr]
            ref, document = map_observation(obx, specimen_parent, ctx, scope=scope)
            _collect(ref, document, results, forms)
    if results:
        report["result"] = [{"reference": ref} for ref in results]
    if forms:
        report["presentedForm"] = forms
    return ctx.add(report)


def _collect(ref: str | None, document: Json | None, results: list[str], forms: list[Json]) -> None:
    if ref:
        results.append(ref)
    if document:
        forms.append(document)


def _report_id(placer: tuple, filler: tuple, obr: Segment, ctx: Context) -> str:
    filler_key, placer_key = ei_key(filler), ei_key(placer)
    if filler_key:
        return ctx.resource_id("DiagnosticReport", "filler", *filler_key)
    if placer_key:
        return ctx.resource_id("DiagnosticReport", "placer", *placer_key)
    ctx.warn("OBR-2 and OBR-3 order numbers missing: the report is identified by the message control id")
    return ctx.unique_id("DiagnosticReport", "MSH-10", ctx.control_id, (obr.value(1) or "").strip())


def _report_status(obr: Segment, ctx: Context) -> str:
    code = (obr.component_value(25) or "").strip().upper()
    status = tables.REPORT_STATUS.get(code)
    if status is None:
        ctx.warn("OBR-25 result status is missing or not in HL7 table 0123; status set to unknown")
        return "unknown"
    return status


def _request_status(orc: Segment | None, report_status: str) -> str:
    """ORC-5 when the filler sent it; else what the result says (ORC-1 is RE, "results", in an ORU)."""
    code = (orc.component_value(5) or "").strip() if orc is not None else ""
    if code in tables.ORDER_STATUS:
        return tables.ORDER_STATUS[code]
    return "completed" if report_status in ("final", "corrected", "amended") else "active"


def _effective(obr: Segment, ctx: Context) -> Json:
    start = date_time(ts_text(obr, 7), ctx, "OBR-7")
    end = date_time(ts_text(obr, 8), ctx, "OBR-8")
    if start and end:
        return {"effectivePeriod": {"start": start, "end": end}}
    if start:
        return {"effectiveDateTime": start}
    return {}


def _timing(order: Group) -> Segment | None:
    timing = order.group("TIMING_QTY")
    return timing.segment("TQ1") if timing else None


def _order_participants(request_ref: str, participants: list[Segment], ctx: Context) -> None:
    """PRT with role OP (ordering provider) fills the request's requester when ORC/OBR did not."""
    request = ctx.resources[request_ref]
    for prt in participants:
        if field_text(prt, 4) == "OP" and "requester" not in request:
            person = practitioner_reference(first_rep(prt, 5), ctx, "PRT-5")
            if person:
                request["requester"] = person


def _interpreters(participants: list[Segment], ctx: Context) -> list[Json]:
    found = []
    for prt in participants:
        if field_text(prt, 4) in INTERPRETERS:
            person = practitioner_reference(first_rep(prt, 5), ctx, "PRT-5")
            if person:
                found.append(person)
    return found


def _specimens(
    order: Group, obr: Segment, patient_ref: str, report_id: str, ctx: Context
) -> list[tuple[str, Group | None]]:
    """SPM (v2.5+) -> Specimen per SPECIMEN group; else OBR-15 specimen source (v2.3-2.6)."""
    found: list[tuple[str, Group | None]] = []
    for group in order.groups("SPECIMEN"):
        spm = group.segment("SPM")
        if spm is not None:
            found.append((map_specimen(spm, patient_ref, report_id, ctx), group))
    if found:
        return found
    source = first_rep(obr, 15)
    code = text(source, 1, 1)
    if not code:
        return []
    system = system_for(text(source, 1, 3), ctx, "OBR-15")
    specimen: Json = {
        "resourceType": "Specimen",
        "id": ctx.resource_id("Specimen", report_id, "OBR-15"),
        "type": {"coding": [coding(code, text(source, 1, 2), system or tables.V2 + "0070")]},
        "subject": {"reference": patient_ref},
    }
    collected = date_time(ts_text(obr, 7), ctx, "OBR-7")
    if collected:
        specimen["collection"] = {"collectedDateTime": collected}
    return [(ctx.add(specimen), None)]


def map_specimen(spm: Segment, patient_ref: str, report_id: str, ctx: Context) -> str:
    """SPM -> Specimen: SPM-2 ids (placer/filler EI in subcomponents), SPM-4 type, SPM-8 site,
    SPM-17 collection time (range), SPM-18 received, SPM-14 description."""
    ids = first_rep(spm, 2)
    placer, filler = ei_parts(ids, 1), ei_parts(ids, 2)
    key = ei_key(filler) or ei_key(placer)
    specimen_id = (
        ctx.resource_id("Specimen", "SPM-2", *key)
        if key
        else ctx.unique_id("Specimen", report_id, "SPM", (spm.value(1) or "").strip())
    )
    specimen: Json = {"resourceType": "Specimen", "id": specimen_id}
    identifiers = [identifier_ei(placer, ctx, type_code="PLAC"), identifier_ei(filler, ctx, type_code="FILL")]
    if any(identifiers):
        specimen["identifier"] = [i for i in identifiers if i]
    kind = codeable_concept(first_rep(spm, 4), ctx, "SPM-4")
    if kind:
        specimen["type"] = kind
    specimen["subject"] = {"reference": patient_ref}
    received = date_time(spm.component_value(18), ctx, "SPM-18")
    if received:
        specimen["receivedTime"] = received
    collection: Json = {}
    start = date_time(spm.value("17.1.1"), ctx, "SPM-17")
    end = date_time(spm.value("17.2.1"), ctx, "SPM-17")
    if start and end:
        collection["collectedPeriod"] = {"start": start, "end": end}
    elif start:
        collection["collectedDateTime"] = start
    method = codeable_concept(first_rep(spm, 7), ctx, "SPM-7")
    if method:
        collection["method"] = method
    site = codeable_concept(first_rep(spm, 8), ctx, "SPM-8")
    if site:
        collection["bodySite"] = site
    if collection:
        specimen["collection"] = collection
    description = clean(spm.value(14) or "").strip()
    if description:
        specimen["note"] = [{"text": description}]
    return ctx.add(specimen)
