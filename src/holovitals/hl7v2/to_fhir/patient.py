"""The patient segments, after the IG's segment maps PID[Patient], PD1[Patient], NK1[RelatedPerson]
and MRG[Patient] (A40 merge: the surviving patient ``replaces`` the merged one).

The Patient id comes from the MRN and its assigning authority (see ``patient_key``), so every
message about the same person from the same source lands on the same resource.
"""

from __future__ import annotations

from collections.abc import Callable

from ..message import Repetition, Segment
from . import tables
from .context import Context
from .datatypes import (
    Json,
    address,
    codeable_concept,
    coding,
    cx_key,
    cx_parts,
    date,
    date_time,
    each,
    each_contact,
    field_text,
    human_name,
    identifier_cx,
    number,
    organization_reference,
    parts,
    practitioner_reference,
    text,
    ts_text,
)
from .errors import missing

#: Which PID-3 repetition names the patient, by identifier type (CX.5); else the first one.
#: MRN is not a table 0203 code, but Cerner sends it where others send MR.
PREFERRED_ID_TYPES = ("MR", "MRN", "PI", "PT", "PN")

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
MOTHERS_MAIDEN_NAME = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
OMB_RACE = frozenset({"1002-5", "2028-9", "2054-5", "2076-8", "2106-3"})
OMB_ETHNICITY = frozenset({"2135-2", "2186-5"})
#: Table 0189 ethnic group -> CDC race and ethnicity code.
ETHNIC_GROUP = {"H": ("2135-2", "Hispanic or Latino"), "N": ("2186-5", "Not Hispanic or Latino")}


def choose_identifier(reps: list[Repetition]) -> Repetition | None:
    """The repetition that identifies the patient: the first with a preferred type, else the first."""
    valued = []  # (repetition, its CX.5 type), read once rather than once per preferred type
    for rep in reps:
        value, kind = cx_parts(rep)[:2]
        if value:
            valued.append((rep, kind))
    for wanted in PREFERRED_ID_TYPES:
        for rep, kind in valued:
            if kind == wanted:
                return rep
    return valued[0][0] if valued else None


def patient_key(pid: Segment) -> tuple[str, str] | None:
    """(authority, MRN) from PID-3, else PID-2 (v2.3 external id), else PID-4."""
    for field in (3, 2, 4):
        rep = choose_identifier(pid.repetitions(field))
        if rep is not None:
            return cx_key(rep)
    return None


def patient_id(pid: Segment, ctx: Context) -> str:
    key = patient_key(pid)
    if key is None:
        raise missing("PID", 3, "patient identifier list")
    return ctx.resource_id("Patient", *key)


def map_patient(pid: Segment, ctx: Context, *, pd1: Segment | None = None) -> str:
    """PID (and PD1) -> Patient; returns the ``Patient/id`` reference."""
    patient: Json = {"resourceType": "Patient", "id": patient_id(pid, ctx)}
    extensions = _race_ethnicity(pid, ctx)
    maiden = text(pid.first_repetition(6), 1, 1)
    if maiden:
        extensions.append({"url": MOTHERS_MAIDEN_NAME, "valueString": maiden})
    if extensions:
        patient["extension"] = extensions
    identifiers = patient_identifiers(pid, ctx)
    if identifiers:
        patient["identifier"] = identifiers
    names = each(pid.repetitions(5), human_name, ctx, "PID-5")
    if names:
        patient["name"] = names
    telecom = [
        *each_contact(pid.repetitions(13), ctx, "PID-13", "home"),
        *each_contact(pid.repetitions(14), ctx, "PID-14", "work"),
        *each_contact(pid.repetitions(40), ctx, "PID-40", None),
    ]
    if telecom:
        patient["telecom"] = _unique(telecom, key=_telecom_key)
    gender = _gender(pid.value(8), ctx)
    if gender:
        patient["gender"] = gender
    birth_date = date(ts_text(pid, 7), ctx, "PID-7")
    if birth_date:
        patient["birthDate"] = birth_date
    deceased = _deceased(pid, ctx)
    if deceased:
        patient.update(deceased)
    addresses = each(pid.repetitions(11), address, ctx, "PID-11")
    if addresses:
        patient["address"] = addresses
    marital = _marital_status(pid.first_repetition(16), ctx)
    if marital:
        patient["maritalStatus"] = marital
    multiple = _multiple_birth(pid)
    if multiple:
        patient.update(multiple)
    language = codeable_concept(pid.first_repetition(15), ctx, "PID-15")
    if language:
        patient["communication"] = [{"language": language, "preferred": True}]
    if pd1 is not None:
        practitioners = [
            *each(pd1.repetitions(3), organization_reference, ctx, "PD1-3"),
            *each(pd1.repetitions(4), practitioner_reference, ctx, "PD1-4"),
        ]
        if practitioners:
            patient["generalPractitioner"] = practitioners
    return ctx.add(patient)


def patient_identifiers(pid: Segment, ctx: Context) -> list[Json]:
    """PID-3 (and PID-2/4 of older versions), PID-18 account, PID-19 SSN, PID-20 driver's license."""
    found = [
        *each(pid.repetitions(3), identifier_cx, ctx, "PID-3"),
        *(i for i in (identifier_cx(r, ctx, "PID-2", default_type="PT") for r in pid.repetitions(2)) if i),
        *each(pid.repetitions(4), identifier_cx, ctx, "PID-4"),
    ]
    account = identifier_cx(pid.first_repetition(18), ctx, "PID-18", default_type="AN")
    if account:
        found.append(account)
    ssn = field_text(pid, 19)
    if ssn:
        found.append({"type": _type("SS"), "system": tables.SSN, "value": ssn})
    license_number = field_text(pid, 20)
    if license_number:
        found.append({"type": _type("DL"), "value": license_number})
    return _unique(found, key=_identifier_key)


def map_merge(mrg: Segment, survivor_ref: str, ctx: Context) -> str | None:
    """MRG -> the merged (old) Patient: inactive, ``replaced-by`` the survivor, which ``replaces`` it.

    The old record is written as a stub (identifiers, active, link): the v2 merge says nothing
    else about it, and the survivor's demographics are the ones to keep.
    """
    rep = choose_identifier(mrg.repetitions(1))
    if rep is None:
        raise missing("MRG", 1, "prior patient identifier list")
    old_id = ctx.resource_id("Patient", *cx_key(rep))
    survivor = ctx.resources[survivor_ref]
    if f"Patient/{old_id}" == survivor_ref:
        ctx.warn("MRG-1 names the surviving patient itself; no merge link written")
        return None
    identifiers = [i for i in (identifier_cx(r, ctx, "MRG-1") for r in mrg.repetitions(1)) if i]
    old: Json = {
        "resourceType": "Patient",
        "id": old_id,
        "identifier": identifiers,
        "active": False,
        "link": [{"other": {"reference": survivor_ref}, "type": "replaced-by"}],
    }
    old_ref = ctx.add(old)
    survivor["active"] = True
    survivor.setdefault("link", []).append({"other": {"reference": old_ref}, "type": "replaces"})
    return old_ref


def map_related_person(nk1: Segment, patient_ref: str, ctx: Context) -> str | None:
    """NK1 -> RelatedPerson (name, relationship via table 0063 -> v3 RoleCode, contact role 0131)."""
    names = each(nk1.repetitions(2), human_name, ctx, "NK1-2")
    relationship = nk1.first_repetition(3)
    code = text(relationship, 1)
    if not names:
        return None
    key_name = names[0]
    person: Json = {
        "resourceType": "RelatedPerson",
        "id": ctx.resource_id(
            "RelatedPerson", patient_ref, code, key_name.get("family"), " ".join(key_name.get("given", []))
        ),
        "active": True,
        "patient": {"reference": patient_ref},
    }
    relationships = []
    if code and code in tables.RELATIONSHIP:
        relationships.append(
            {"coding": [coding(tables.RELATIONSHIP[code], text(relationship, 2), tables.V3_ROLE_CODE)]}
        )
    elif relationship is not None:
        concept = codeable_concept(relationship, ctx, "NK1-3", table="0063")
        if concept:
            relationships.append(concept)
    role = codeable_concept(nk1.first_repetition(7), ctx, "NK1-7", table="0131")
    if role:
        relationships.append(role)
    if relationships:
        person["relationship"] = relationships
    person["name"] = names
    telecom = [
        *each_contact(nk1.repetitions(5), ctx, "NK1-5", "home"),
        *each_contact(nk1.repetitions(6), ctx, "NK1-6", "work"),
    ]
    if telecom:
        person["telecom"] = telecom
    gender = _gender(nk1.value(15), ctx)
    if gender:
        person["gender"] = gender
    birth_date = date(ts_text(nk1, 16), ctx, "NK1-16")
    if birth_date:
        person["birthDate"] = birth_date
    addresses = each(nk1.repetitions(4), address, ctx, "NK1-4")
    if addresses:
        person["address"] = addresses
    return ctx.add(person)


# -- helpers -----------------------------------------------------------------------------------------


def first_rep(segment: Segment | None, field: int) -> Repetition | None:
    return None if segment is None else segment.first_repetition(field)


def _type(code: str) -> Json:
    return {"coding": [coding(code, tables.IDENTIFIER_TYPES.get(code), tables.V2 + "0203")]}


def _gender(value: str | None, ctx: Context) -> str | None:
    if not value or not value.strip():
        return None
    gender = tables.GENDER.get(value.strip().upper())
    if gender is None:
        ctx.warn("administrative sex code is not in HL7 table 0001; gender left out")
    return gender


def _deceased(pid: Segment, ctx: Context) -> Json | None:
    when = date_time(ts_text(pid, 29), ctx, "PID-29")
    if when:
        return {"deceasedDateTime": when}
    flag = (pid.value(30) or "").strip().upper()
    if flag in ("Y", "N"):
        return {"deceasedBoolean": flag == "Y"}
    return None


def _multiple_birth(pid: Segment) -> Json | None:
    order = number(pid.value(25))
    if isinstance(order, int) and order > 0:
        return {"multipleBirthInteger": order}
    flag = (pid.value(24) or "").strip().upper()
    if flag in ("Y", "N"):
        return {"multipleBirthBoolean": flag == "Y"}
    return None


def _marital_status(rep: Repetition | None, ctx: Context) -> Json | None:
    code, label = parts(rep, 2)
    if not code:
        return None
    mapped = tables.MARITAL_STATUS.get(code)
    if mapped is None:
        return codeable_concept(rep, ctx, "PID-16", table="0002")
    system, target, display = mapped
    concept: Json = {"coding": [coding(target, display, system)]}
    if label:
        concept["text"] = label
    return concept


def _race_ethnicity(pid: Segment, ctx: Context) -> list[Json]:
    """PID-10 race and PID-22 ethnic group as the US Core extensions (CDC race codes only)."""
    extensions = []
    race = _omb_extension(pid.repetitions(10), US_CORE_RACE, OMB_RACE, {})
    if race:
        extensions.append(race)
    ethnicity = _omb_extension(pid.repetitions(22), US_CORE_ETHNICITY, OMB_ETHNICITY, ETHNIC_GROUP)
    if ethnicity:
        extensions.append(ethnicity)
    return extensions


def _omb_extension(
    reps: list[Repetition], url: str, omb: frozenset[str], aliases: dict[str, tuple[str, str]]
) -> Json | None:
    items: list[Json] = []
    labels: list[str] = []
    for rep in reps:
        code, display, system = parts(rep, 3)
        if not code:
            continue
        labels.append(display or code)
        if code in aliases:
            code, display = aliases[code]
        elif (system or "").upper() not in ("CDCREC", "HL70005", "HL70189") or "-" not in code:
            continue
        kind = "ombCategory" if code in omb else "detailed"
        items.append({"url": kind, "valueCoding": coding(code, display, tables.CDC_RACE)})
    if not labels:
        return None
    items.append({"url": "text", "valueString": ", ".join(labels)})
    return {"url": url, "extension": items}


def _identifier_key(identifier: Json) -> tuple[str | None, str]:
    return identifier.get("system"), identifier["value"]


def _telecom_key(point: Json) -> tuple[str, str, str | None]:
    # What ``_unique`` without a key compares (every item), for the three keys a ContactPoint
    # from ``contact_point`` can have, without the cost of repr().
    return point["system"], point["value"], point.get("use")


def _unique(items: list[Json], key: Callable[[Json], object] | None = None) -> list[Json]:
    seen: set = set()
    out = []
    for item in items:
        marker = key(item) if key else repr(sorted(item.items()))
        if marker in seen:
            continue
        seen.add(marker)
        out.append(item)
    return out
