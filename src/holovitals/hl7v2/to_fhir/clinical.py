"""The clinical and financial segments of a patient's record, after the IG's segment maps
AL1[AllergyIntolerance], IAM[AllergyIntolerance], DG1[Condition], PR1[Procedure] and IN1[Coverage].

Ids come from the segment's own identifier when it has one (IAM-7, DG1-20, PR1-19), else from the
patient (or visit) plus the code: AL1 set ids are renumbered by senders on every message, codes
are not.
"""

from __future__ import annotations

from ..message import Repetition, Segment
from . import tables
from .context import Context
from .datatypes import (
    Json,
    clean,
    codeable_concept,
    coding,
    concept_key,
    date,
    date_time,
    each,
    ei_key,
    ei_parts,
    field_text,
    identifier_cx,
    identifier_ei,
    parts,
    practitioner_reference,
    text,
    ts_text,
)

CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"


# -- allergies ---------------------------------------------------------------------------------------


def map_allergy(segment: Segment, patient_ref: str, ctx: Context) -> str | None:
    """AL1 or IAM -> AllergyIntolerance (same field positions for type, code, severity, reaction)."""
    name = segment.name
    code = codeable_concept(segment.first_repetition(3), ctx, f"{name}-3")
    if code is None:
        ctx.warn(f"{name}-3 allergen missing; the {name} segment is left out")
        return None
    unique = ei_key(ei_parts(segment.first_repetition(7))) if name == "IAM" else None
    allergy_id = (
        ctx.resource_id("AllergyIntolerance", patient_ref, "IAM-7", *unique)
        if unique
        else ctx.unique_id("AllergyIntolerance", patient_ref, *concept_key(code))
    )
    allergy: Json = {"resourceType": "AllergyIntolerance", "id": allergy_id}
    if unique:
        identifier = identifier_ei(ei_parts(segment.first_repetition(7)), ctx)
        if identifier:
            allergy["identifier"] = [identifier]
    clinical, verification = _allergy_status(segment)
    if clinical:
        allergy["clinicalStatus"] = {"coding": [coding(clinical, None, CLINICAL_STATUS)]}
    if verification:
        allergy["verificationStatus"] = {"coding": [coding(verification, None, VERIFICATION_STATUS)]}
    category, kind = tables.ALLERGY_TYPE.get(field_text(segment, 2) or "", (None, None))
    if kind:
        allergy["type"] = kind
    if category:
        allergy["category"] = [category]
    severity_code = field_text(segment, 4)
    criticality, reaction_severity = tables.ALLERGY_SEVERITY.get(severity_code or "", (None, None))
    if severity_code and criticality is None:
        ctx.warn(f"{name}-4 severity is not in HL7 table 0128; left out")
    if criticality:
        allergy["criticality"] = criticality
    allergy["code"] = code
    allergy["patient"] = {"reference": patient_ref}
    onset = date(segment.value(6 if name == "AL1" else 11), ctx, f"{name}-{6 if name == 'AL1' else 11}")
    if onset:
        allergy["onsetDateTime"] = onset
    if name == "IAM":
        recorded = date_time(segment.value(13), ctx, "IAM-13")
        if recorded:
            allergy["recordedDate"] = recorded
    manifestations = each(segment.repetitions(5), _manifestation, ctx, f"{name}-5")
    if manifestations:
        reaction: Json = {"manifestation": manifestations}
        if reaction_severity:
            reaction["severity"] = reaction_severity
        allergy["reaction"] = [reaction]
    return ctx.add(allergy)


def _allergy_status(segment: Segment) -> tuple[str | None, str | None]:
    if segment.name == "IAM":
        if (segment.component_value(6) or "").strip() == "D":
            return None, "entered-in-error"
        status = field_text(segment, 17)
        if status in tables.ALLERGY_CLINICAL_STATUS:
            return tables.ALLERGY_CLINICAL_STATUS[status]
    # AL1 says nothing about status; an allergy a feed reports is one the sender holds active.
    return "active", None


def _manifestation(rep: Repetition, ctx: Context, label: str) -> Json | None:
    # ST before v2.6 (free text, which may contain no components), CWE from v2.6 on.
    if len(rep.components) == 1:
        value = text(rep)
        return {"text": value} if value else None
    return codeable_concept(rep, ctx, label)


# -- diagnoses and procedures ------------------------------------------------------------------------


def map_condition(dg1: Segment, patient_ref: str, encounter_ref: str | None, ctx: Context) -> str | None:
    """DG1 -> Condition (encounter diagnosis): DG1-3 code (DG1-4 text), DG1-5 recorded, DG1-6 type."""
    code = codeable_concept(dg1.first_repetition(3), ctx, "DG1-3")
    description = clean(dg1.value(4) or "").strip()
    if code is None and description:
        code = {"text": description}
    if code is None:
        ctx.warn("DG1-3 diagnosis code missing; the DG1 segment is left out")
        return None
    if "text" not in code and description:
        code["text"] = description
    unique = ei_key(ei_parts(dg1.first_repetition(20)))
    condition_id = (
        ctx.resource_id("Condition", "DG1-20", *unique)
        if unique
        else ctx.unique_id("Condition", encounter_ref or patient_ref, *concept_key(code))
    )
    condition: Json = {"resourceType": "Condition", "id": condition_id}
    if unique:
        identifier = identifier_ei(ei_parts(dg1.first_repetition(20)), ctx)
        if identifier:
            condition["identifier"] = [identifier]
    verification = tables.DIAGNOSIS_VERIFICATION.get(field_text(dg1, 6) or "")
    if verification:
        condition["verificationStatus"] = {"coding": [coding(verification, None, CONDITION_VERIFICATION)]}
    condition["category"] = [{"coding": [coding("encounter-diagnosis", "Encounter Diagnosis", CONDITION_CATEGORY)]}]
    condition["code"] = code
    condition["subject"] = {"reference": patient_ref}
    if encounter_ref:
        condition["encounter"] = {"reference": encounter_ref}
    recorded = date_time(ts_text(dg1, 5), ctx, "DG1-5")
    if recorded:
        condition["recordedDate"] = recorded
    asserter = practitioner_reference(dg1.first_repetition(16), ctx, "DG1-16")
    if asserter:
        condition["asserter"] = asserter
    return ctx.add(condition)


def map_procedure(pr1: Segment, patient_ref: str, encounter_ref: str | None, ctx: Context) -> str | None:
    """PR1 -> Procedure (completed): PR1-3 code (PR1-4 text), PR1-5 when, PR1-12 practitioner."""
    code = codeable_concept(pr1.first_repetition(3), ctx, "PR1-3")
    description = clean(pr1.value(4) or "").strip()
    if code is None and description:
        code = {"text": description}
    if code is None:
        ctx.warn("PR1-3 procedure code missing; the PR1 segment is left out")
        return None
    performed = date_time(ts_text(pr1, 5), ctx, "PR1-5")
    unique = ei_key(ei_parts(pr1.first_repetition(19)))
    procedure_id = (
        ctx.resource_id("Procedure", "PR1-19", *unique)
        if unique
        else ctx.unique_id("Procedure", encounter_ref or patient_ref, *concept_key(code), performed)
    )
    procedure: Json = {"resourceType": "Procedure", "id": procedure_id}
    if unique:
        identifier = identifier_ei(ei_parts(pr1.first_repetition(19)), ctx)
        if identifier:
            procedure["identifier"] = [identifier]
    procedure["status"] = "completed"
    procedure["code"] = code
    procedure["subject"] = {"reference": patient_ref}
    if encounter_ref:
        procedure["encounter"] = {"reference": encounter_ref}
    if performed:
        procedure["performedDateTime"] = performed
    performers = each(pr1.repetitions(12), practitioner_reference, ctx, "PR1-12")
    if performers:
        procedure["performer"] = [{"actor": p} for p in performers]
    return ctx.add(procedure)


# -- insurance ---------------------------------------------------------------------------------------


def map_coverage(in1: Segment, patient_ref: str, ctx: Context) -> str | None:
    """IN1 -> Coverage: payor from IN1-3 (company id) and IN1-4 (name), plan IN1-2, group IN1-8/9,
    period IN1-12/13, relationship IN1-17 (table 0063), subscriber id IN1-36 (policy number)."""
    company_id = identifier_cx(in1.first_repetition(3), ctx, "IN1-3")
    company_name = field_text(in1, 4)
    if company_id is None and company_name is None:
        ctx.warn("IN1-3 and IN1-4 insurance company missing; the IN1 segment is left out")
        return None
    plan_id, plan_name = parts(in1.first_repetition(2), 2)
    policy = clean(in1.value(36) or "").strip() or None
    coverage: Json = {
        "resourceType": "Coverage",
        "id": ctx.resource_id(
            "Coverage", patient_ref, company_id["value"] if company_id else company_name, plan_id, policy
        ),
        "status": "active",
    }
    plan_type = codeable_concept(in1.first_repetition(15), ctx, "IN1-15", table="0086")
    if plan_type:
        coverage["type"] = plan_type
    if policy:
        coverage["subscriberId"] = policy
    coverage["beneficiary"] = {"reference": patient_ref}
    relationship = field_text(in1, 17)
    if relationship in tables.SUBSCRIBER_RELATIONSHIP:
        coverage["relationship"] = {
            "coding": [coding(tables.SUBSCRIBER_RELATIONSHIP[relationship], None, SUBSCRIBER_RELATIONSHIP)]
        }
    period: Json = {}
    for key, field in (("start", 12), ("end", 13)):
        value = date(in1.value(field), ctx, f"IN1-{field}")
        if value:
            period[key] = value
    if period:
        coverage["period"] = period
    payor: Json = {}
    if company_id:
        payor["identifier"] = company_id
    if company_name:
        payor["display"] = company_name
    coverage["payor"] = [payor]
    classes = []
    if plan_id:
        classes.append(_class("plan", plan_id, plan_name))
    group_number = clean(in1.value(8) or "").strip()
    if group_number:
        classes.append(_class("group", group_number, field_text(in1, 9)))
    if classes:
        coverage["class"] = classes
    return ctx.add(coverage)


def _class(kind: str, value: str | None, name: str | None) -> Json:
    result: Json = {"type": {"coding": [coding(kind, None, COVERAGE_CLASS)]}, "value": value}
    if name:
        result["name"] = name
    return result
