"""ADT -> Patient, Encounter and the record around them, after the IG's message maps ADT_A01
(A01/A04/A08/A13), ADT_A02, ADT_A03, ADT_A05 (A28/A31), ADT_A09 (A11) and ADT_A39 (A40), built
from the segment maps PID[Patient], PV1[Encounter], NK1[RelatedPerson], AL1/IAM[AllergyIntolerance],
DG1[Condition], PR1[Procedure], IN1[Coverage] and OBX[Observation].

The trigger decides the Encounter's status (A01/A04 in-progress, A03 finished, A11 cancelled,
A13 in-progress again); person-level events (A28, A31, A40) write no Encounter.
"""

from __future__ import annotations

from ..groups import group_message
from .clinical import map_allergy, map_condition, map_coverage, map_procedure
from .context import Context
from .datatypes import field_text, practitioner_reference
from .encounter import add_role_participants, adt_status, map_encounter
from .errors import missing
from .observation import ObservationParent, map_observation
from .patient import map_merge, map_patient, map_related_person

SUPPORTED_TRIGGERS = frozenset(
    {"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A14", "A28", "A31", "A40"}
)
#: Events about the person, not a visit: their PV1 (if any) carries no visit to write.
PERSON_EVENTS = frozenset({"A28", "A31", "A40"})
#: Events that are about a visit: without PV1 they cannot be converted.
VISIT_EVENTS = frozenset({"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A11", "A12", "A13", "A14"})
MAPPED_SEGMENTS = frozenset(
    {"MSH", "SFT", "EVN", "PID", "PD1", "NK1", "PV1", "PV2", "ROL", "AL1", "IAM", "DG1", "PR1", "IN1", "OBX", "MRG"}
)


def convert(ctx: Context) -> str:
    """Map an ADT message into ``ctx``; returns the reference of the patient it is about."""
    if ctx.trigger == "A40":
        return _merge(ctx)
    msg = ctx.message
    pid = msg.segment("PID")
    if pid is None:
        raise missing("PID")
    patient_ref = map_patient(pid, ctx, pd1=msg.segment("PD1"))
    encounter_ref = _encounter(ctx, patient_ref)
    _primary_care_roles(ctx, patient_ref)
    for nk1 in msg.segments("NK1"):
        map_related_person(nk1, patient_ref, ctx)
    for segment in [*msg.segments("AL1"), *msg.segments("IAM")]:
        map_allergy(segment, patient_ref, ctx)
    for dg1 in msg.segments("DG1"):
        map_condition(dg1, patient_ref, encounter_ref, ctx)
    for pr1 in msg.segments("PR1"):
        map_procedure(pr1, patient_ref, encounter_ref, ctx)
    for in1 in msg.segments("IN1"):
        map_coverage(in1, patient_ref, ctx)
    _observations(ctx, patient_ref, encounter_ref)
    return patient_ref


def _encounter(ctx: Context, patient_ref: str) -> str | None:
    pv1 = ctx.message.segment("PV1")
    if ctx.trigger in PERSON_EVENTS:
        return None
    if pv1 is None:
        if ctx.trigger in VISIT_EVENTS:
            raise missing("PV1")
        return None
    if (pv1.component_value(2) or "").strip() == "N":
        return None
    status = adt_status(ctx.trigger, pv1)
    encounter_ref = map_encounter(pv1, ctx.message.segment("PV2"), patient_ref, ctx, status=status)
    add_role_participants(encounter_ref, ctx.message.segments("ROL"), ctx)
    return encounter_ref


def _primary_care_roles(ctx: Context, patient_ref: str) -> None:
    """ROL with role PP (primary care provider) -> Patient.generalPractitioner."""
    patient = ctx.resources[patient_ref]
    for rol in ctx.message.segments("ROL"):
        if field_text(rol, 3) != "PP":
            continue
        for rep in rol.repetitions(4):
            ref = practitioner_reference(rep, ctx, "ROL-4")
            if ref and ref not in patient.get("generalPractitioner", []):
                patient.setdefault("generalPractitioner", []).append(ref)


def _observations(ctx: Context, patient_ref: str, encounter_ref: str | None) -> None:
    parent = ObservationParent(
        subject=patient_ref,
        key=("ADT", patient_ref, encounter_ref or ""),
        encounter={"reference": encounter_ref} if encounter_ref else None,
    )
    for obx in ctx.message.segments("OBX"):
        _, document = map_observation(obx, parent, ctx)
        if document is not None:
            ctx.warn("OBX with an ED/RP value in an ADT message has no FHIR target here; left out")


def _merge(ctx: Context) -> str:
    """A40: each PATIENT group (PID + MRG) merges the MRG patient into the PID patient."""
    tree = group_message(ctx.message)
    groups = tree.find_groups("PATIENT")
    if not groups:
        raise missing("PID")
    survivor_ref: str | None = None
    for group in groups:
        pid, mrg = group.segment("PID"), group.segment("MRG")
        if pid is None:
            raise missing("PID")
        if mrg is None:
            raise missing("MRG")
        ref = map_patient(pid, ctx, pd1=group.segment("PD1"))
        map_merge(mrg, ref, ctx)
        survivor_ref = survivor_ref or ref
    assert survivor_ref is not None
    return survivor_ref
