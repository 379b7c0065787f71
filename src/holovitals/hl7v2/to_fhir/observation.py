"""One OBX as an Observation, after the IG's segment map OBX[Observation] and its value-type maps
(NM[Quantity], SN[Quantity/Range/Ratio], CWE[CodeableConcept], ST/TX/FT[string], DTM[dateTime]).

Used by ORU (results under an OBR), ADT (vitals after PV1) and wherever OBX carries a value. An
ED or RP value is a document, not an observation: it comes back as an Attachment for the
caller to put on DiagnosticReport.presentedForm or DocumentReference.content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..message import Repetition, Segment
from . import tables
from .context import Context
from .datatypes import (
    Json,
    attachment,
    clean,
    codeable_concept,
    coding,
    concept_key,
    concept_label,
    date,
    date_time,
    each,
    ei_parts,
    fhir_code,
    field_text,
    identifier_ei,
    mime_type,
    organization_reference,
    practitioner_reference,
    quantity,
    reference_range,
    structured_numeric,
    text,
    ts_text,
    unit_of,
)
from .errors import missing

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
TEXT_TYPES = frozenset({"ST", "TX", "FT"})
CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "CD"})
DOCUMENT_TYPES = frozenset({"ED", "RP"})
#: PRT-4 participation roles that are not performers of an observation (ordering, copies to).
NOT_PERFORMERS = frozenset({"OP", "RCT", "OT", "EP", "PH"})


@dataclass
class ObservationParent:
    """What the enclosing OBR (or ADT visit) gives each of its OBX."""

    subject: str
    key: tuple[str, ...]
    encounter: Json | None = None
    effective: dict[str, Any] = field(default_factory=dict)
    issued: str | None = None
    specimen: str | None = None
    based_on: str | None = None
    category: str | None = None


def note_text(notes: Sequence[Segment]) -> list[Json]:
    """NTE-3 comments -> Annotation list (each NTE one note, its repetitions one line each)."""
    out = []
    for nte in notes:
        lines = [clean(r.value() or "") for r in nte.repetitions(3)]
        joined = "\n".join(lines).strip()
        if joined:
            out.append({"text": joined})
    return out


def map_observation(
    obx: Segment,
    parent: ObservationParent,
    ctx: Context,
    *,
    notes: Sequence[Segment] = (),
    participants: Sequence[Segment] = (),
    scope: str = "",
) -> tuple[str | None, Json | None]:
    """OBX -> (Observation reference, None), or (None, Attachment) for an ED/RP document value."""
    value_type = (obx.component_value(2) or "").strip().upper()
    code = codeable_concept(obx.first_repetition(3), ctx, "OBX-3")
    if value_type in DOCUMENT_TYPES:
        found = document_attachment(value_type, obx.first_repetition(5), ctx)
        title = concept_label(code)
        if found is not None and title:
            found["title"] = title
        return None, found
    if code is None:
        raise missing("OBX", 3, "observation identifier")
    key = ("OBX", scope, field_text(obx, 4) or "", (obx.value(1) or "").strip(), *concept_key(code))
    observation: Json = {"resourceType": "Observation", "id": ctx.unique_id("Observation", *parent.key, *key)}
    instance = identifier_ei(ei_parts(obx.first_repetition(21)), ctx)
    if instance:
        observation["identifier"] = [instance]
    if parent.based_on:
        observation["basedOn"] = [{"reference": parent.based_on}]
    observation["status"] = _status(obx, ctx)
    category = _category(code, parent)
    if category:
        observation["category"] = [{"coding": [coding(category, None, OBSERVATION_CATEGORY)]}]
    observation["code"] = code
    observation["subject"] = {"reference": parent.subject}
    if parent.encounter:
        observation["encounter"] = parent.encounter
    effective = date_time(ts_text(obx, 14), ctx, "OBX-14")
    if effective:
        observation["effectiveDateTime"] = effective
    else:
        observation.update(parent.effective)
    if parent.issued:
        observation["issued"] = parent.issued
    performers = _performers(obx, participants, ctx)
    if performers:
        observation["performer"] = performers
    unit = unit_of(obx.first_repetition(6), ctx, "OBX-6")
    value = _value(value_type, obx.repetitions(5), unit, ctx)
    if value is not None:
        observation[value[0]] = value[1]
    interpretation = _interpretation(obx, ctx)
    if interpretation:
        observation["interpretation"] = interpretation
    annotations = note_text(notes)
    if annotations:
        observation["note"] = annotations
    method = codeable_concept(obx.first_repetition(17), ctx, "OBX-17")
    if method:
        observation["method"] = method
    if parent.specimen:
        observation["specimen"] = {"reference": parent.specimen}
    ranges = reference_range(obx.value(7), unit)
    if ranges:
        observation["referenceRange"] = [ranges]
    return ctx.add(observation), None


def _status(obx: Segment, ctx: Context) -> str:
    code = (obx.value(11) or "").strip().upper()
    status = tables.OBSERVATION_STATUS.get(code)
    if status is None:
        ctx.warn("OBX-11 result status is missing or not in HL7 table 0085; status set to unknown")
        return "unknown"
    return status


def _category(code: Json, parent: ObservationParent) -> str | None:
    for item in code.get("coding", []):
        if item.get("system") == tables.LOINC and item["code"] in tables.VITAL_SIGNS_LOINC:
            return "vital-signs"
    return parent.category


def _value(value_type: str, reps: list[Repetition], unit: Json, ctx: Context) -> tuple[str, Any] | None:
    """OBX-5 by its OBX-2 type. Text types join their repetitions with line breaks."""
    first: Repetition | None = None
    for rep in reps:  # the first repetition with a value; none: no value
        first_value = rep.value() or ""
        if first_value.strip():
            first = rep
            break
    if first is None:
        return None
    # A value of control characters only (``\X00\``) cleans to nothing, and an empty
    # valueString is invalid R4: then there is no text to keep either.
    if value_type in TEXT_TYPES:
        shown = clean("\n".join((r.value() or "") for r in reps)).strip()
        return ("valueString", shown) if shown else None
    if value_type == "NM":
        found = quantity(first_value, unit)
        if found is not None:
            return "valueQuantity", found
        shown = clean(first_value).strip()
        if not shown:
            return None
        ctx.warn("OBX-5 is not a number although OBX-2 says NM; kept as text")
        return "valueString", shown
    if value_type == "SN":
        found_sn = structured_numeric(first, unit)
        if found_sn is not None:
            return found_sn
        shown = " ".join(clean(first_value).split())
        if not shown:
            return None
        ctx.warn("OBX-5 is not a structured numeric although OBX-2 says SN; kept as text")
        return "valueString", shown
    if value_type in CODED_TYPES:
        concept = codeable_concept(first, ctx, "OBX-5")
        return ("valueCodeableConcept", concept) if concept else None
    if value_type == "DT":
        when = date(first_value, ctx, "OBX-5")
        return ("valueDateTime", when) if when else None
    if value_type in ("TS", "DTM"):
        when = date_time(first.value(1), ctx, "OBX-5")
        return ("valueDateTime", when) if when else None
    if value_type == "TM":
        found_time = _time(first.value(1))
        return ("valueTime", found_time) if found_time else None
    if value_type in ("ID", "IS"):
        code = text(first, 1)
        return ("valueCodeableConcept", {"coding": [{"code": fhir_code(code)}], "text": code}) if code else None
    ctx.warn("OBX-2 value type is missing or has no FHIR mapping here; OBX-5 kept as text")
    parts = [text(first, i) for i in range(1, len(first.components) + 1)]
    shown = " ".join(p for p in parts if p)
    return ("valueString", shown) if shown else None


def _time(value: str | None) -> str | None:
    digits = (value or "").strip().split("+")[0].split("-")[0]
    if len(digits) < 4 or not digits[:4].isdigit():
        return None
    hours, minutes = int(digits[:2]), int(digits[2:4])
    seconds = int(digits[4:6]) if len(digits) >= 6 and digits[4:6].isdigit() else 0
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _interpretation(obx: Segment, ctx: Context) -> list[Json]:
    out = []
    for rep in obx.repetitions(8):
        flag = text(rep, 1)
        if not flag:
            continue
        if flag in tables.INTERPRETATION:
            out.append({"coding": [coding(flag, tables.INTERPRETATION[flag], tables.V3_INTERPRETATION)]})
        else:
            ctx.warn("OBX-8 abnormal flag is not in HL7 table 0078; kept without a system")
            concept = codeable_concept(rep, ctx, "OBX-8")
            if concept:
                out.append(concept)
    return out


def _performers(obx: Segment, participants: Sequence[Segment], ctx: Context) -> list[Json]:
    if not participants and not obx.get(16) and not obx.get(23):
        return []  # most OBX name no performer: skip building and deduplicating the list
    found = [
        *each(obx.repetitions(16), practitioner_reference, ctx, "OBX-16"),
        organization_reference(obx.first_repetition(23), ctx, "OBX-23"),
    ]
    for prt in participants:
        if field_text(prt, 4) in NOT_PERFORMERS:
            continue
        found.append(practitioner_reference(prt.first_repetition(5), ctx, "PRT-5"))
        found.append(organization_reference(prt.first_repetition(8), ctx, "PRT-8"))
    unique: list[Json] = []
    for ref in found:
        if ref and ref not in unique:
            unique.append(ref)
    return unique


def document_attachment(value_type: str, rep: Repetition | None, ctx: Context) -> Json | None:
    if value_type == "ED":
        return attachment(rep, ctx, "OBX-5")
    # RP: a pointer (RP.1) to content held elsewhere, with its type in RP.3/RP.4.
    pointer = text(rep, 1)
    if not pointer:
        return None
    return {"contentType": mime_type(text(rep, 3), text(rep, 4)), "url": pointer}
