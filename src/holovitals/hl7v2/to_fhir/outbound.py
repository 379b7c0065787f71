"""FHIR Patient (and Encounter) -> ADT^A04 / ADT^A08, the inverse of the inbound PID[Patient] and
PV1[Encounter] maps, for systems downstream that only speak v2.

Values go through the message builder, so delimiters inside names or addresses are escaped, and
what ``convert`` reads back is what went in: identifiers (system from CX.4: a namespace, OID or
URI), names, birth date, gender, addresses and telecom survive the round trip. What v2 cannot say
is dropped: more than two given names are joined into XPN.3, more than two address lines are cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from ..message import Message, Segment
from . import tables
from .datatypes import AUTHORITY_URN
from .timestamps import fhir_to_dtm

Json = dict[str, Any]
EVENTS = frozenset({"A04", "A08"})
#: Well-known identifier systems -> the assigning authority (HD) written for them.
SYSTEM_AUTHORITIES: dict[str, tuple[str, str, str]] = {
    tables.SSN: ("USSSA", "2.16.840.1.113883.4.1", "ISO"),
    tables.NPI: ("NPI", "2.16.840.1.113883.4.6", "ISO"),
}
#: v3 MaritalStatus -> table 0002 (the inverse of the inbound map, where it is one to one).
MARITAL_TO_V2: dict[str, str] = {
    "A": "N",
    "D": "D",
    "I": "I",
    "L": "E",
    "M": "M",
    "P": "P",
    "S": "S",
    "T": "P",
    "U": "B",
    "W": "W",
    "UNK": "U",
}


_CODING = {"system": str, "code": str, "display": str}
_IDENTIFIER = {
    "system": str,
    "value": str,
    "type": {"coding": [_CODING], "text": str},
    "assigner": {"display": str},
}
#: The parts of a Patient and Encounter this module reads, with the JSON type each must have: API
#: callers send whatever they like, and a malformed resource must be a ValueError, not a crash.
PATIENT_SHAPE: Json = {
    "identifier": [_IDENTIFIER],
    "name": [{"use": str, "family": str, "given": [str], "prefix": [str], "suffix": [str]}],
    "birthDate": str,
    "gender": str,
    "address": [
        {"use": str, "type": str, "line": [str], "city": str, "district": str, "state": str,
         "postalCode": str, "country": str}
    ],
    "telecom": [{"system": str, "value": str, "use": str}],
    "communication": [{"language": {"coding": [_CODING]}}],
    "maritalStatus": {"coding": [_CODING]},
    "deceasedDateTime": str,
}  # fmt: skip
ENCOUNTER_SHAPE: Json = {
    "class": _CODING,
    "identifier": [_IDENTIFIER],
    "location": [{"status": str, "location": {"display": str}}],
    "period": {"start": str, "end": str},
}


def check_shape(value: Any, shape: Any, path: str) -> None:
    """Raise ValueError naming the first element of ``value`` whose JSON type is not the ``shape``'s."""
    if value is None:
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{path} must be an object")
        for key, inner in shape.items():
            check_shape(value.get(key), inner, f"{path}.{key}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise ValueError(f"{path} must be an array")
        for index, item in enumerate(value):
            if item is None:
                raise ValueError(f"{path}[{index}] must not be null")
            check_shape(item, shape[0], f"{path}[{index}]")
    elif not isinstance(value, shape):
        raise ValueError(f"{path} must be a {shape.__name__}")


def patient_to_adt(
    patient: Json,
    *,
    event: str = "A08",
    sending_application: str = "HOLOVITALS",
    sending_facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    encounter: Json | None = None,
    identifier_systems: Mapping[str, str] | None = None,
    control_id: str | None = None,
    timestamp: datetime | None = None,
    version: str = "2.5.1",
) -> Message:
    """Build ADT^A04 (register) or ADT^A08 (update) with MSH, EVN, PID and PV1 for a FHIR Patient.

    ``identifier_systems`` is the same namespace -> system map the inbound side uses; a system
    found in it is written back as its namespace. Without an ``encounter`` the PV1 says "not
    applicable" (PV1-2 N): the v2 structure requires the segment, the event is about the person.
    """
    if event not in EVENTS:
        raise ValueError("event must be A04 or A08")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise ValueError("patient must be a FHIR Patient resource (a dict)")
    check_shape(patient, PATIENT_SHAPE, "Patient")
    if not any((i.get("value") or "").strip() for i in patient.get("identifier") or []):
        raise ValueError("Patient.identifier needs a value: PID-3 is required in ADT")
    if encounter is not None:
        check_shape(encounter, ENCOUNTER_SHAPE, "Encounter")
    message = Message.create(
        f"ADT^{event}",
        version=version,
        sending_application=sending_application,
        sending_facility=sending_facility,
        receiving_application=receiving_application,
        receiving_facility=receiving_facility,
        control_id=control_id,
        timestamp=timestamp,
    )
    message.add_segment("EVN", event, message.get("MSH-7") or "", escape=False)
    namespaces = {system: name for name, system in (identifier_systems or {}).items()}
    pid = message.add_segment("PID", "1")
    _identifiers(pid, patient.get("identifier") or [], namespaces)
    _names(pid, patient.get("name") or [])
    birth = fhir_to_dtm(patient.get("birthDate"))
    if birth:
        pid.set(7, birth)
    gender = tables.GENDER_TO_V2.get(patient.get("gender") or "")
    if gender:
        pid.set(8, gender)
    _addresses(pid, patient.get("address") or [])
    _telecom(pid, patient.get("telecom") or [])
    _language(pid, patient.get("communication") or [])
    _marital_status(pid, patient.get("maritalStatus"))
    _deceased(pid, patient)
    _multiple_birth(pid, patient)
    pv1 = message.add_segment("PV1", "1")
    if encounter is None:
        pv1.set(2, "N")
    else:
        _visit(pv1, encounter, namespaces)
    return message


# -- PID ---------------------------------------------------------------------------------------------


def authority_of(identifier: Json, namespaces: Mapping[str, str]) -> list[str] | None:
    """Identifier.system (and assigner) -> the CX.4 HD parts: namespace, universal id, its type."""
    system = identifier.get("system")
    assigner = ((identifier.get("assigner") or {}).get("display") or "").strip()
    if not system:
        return [assigner] if assigner else None
    if system in namespaces:
        return [namespaces[system]]
    if system.startswith(AUTHORITY_URN):
        return [unquote(system[len(AUTHORITY_URN) :])]
    if system in SYSTEM_AUTHORITIES:
        namespace, oid, kind = SYSTEM_AUTHORITIES[system]
        return [assigner or namespace, oid, kind]
    if system.startswith("urn:oid:"):
        return [assigner, system[len("urn:oid:") :], "ISO"]
    if system.startswith("urn:uuid:"):
        return [assigner, system[len("urn:uuid:") :], "UUID"]
    return [assigner, system, "URI"]


def _identifiers(pid: Segment, identifiers: list[Json], namespaces: Mapping[str, str]) -> None:
    repetition = 0
    for identifier in identifiers:
        value = (identifier.get("value") or "").strip()
        if not value:
            continue
        repetition += 1
        pid.set(
            f"3({repetition})", _trim([value, None, None, authority_of(identifier, namespaces), _type_code(identifier)])
        )


def _type_code(identifier: Json) -> str | None:
    kind = identifier.get("type") or {}
    for item in kind.get("coding") or []:
        if item.get("system") == tables.V2 + "0203" and item.get("code"):
            return item["code"]
    return kind.get("text")


def _names(pid: Segment, names: list[Json]) -> None:
    for index, name in enumerate(names, start=1):
        given = name.get("given") or []
        suffix = name.get("suffix") or []
        prefix = name.get("prefix") or []
        pid.set(
            f"5({index})",
            _trim(
                [
                    name.get("family"),
                    given[0] if given else None,
                    " ".join(given[1:]) or None,
                    suffix[0] if suffix else None,
                    prefix[0] if prefix else None,
                    " ".join(suffix[1:]) or None,
                    tables.NAME_USE_TO_V2.get(name.get("use") or ""),
                ]
            ),
        )


def _addresses(pid: Segment, addresses: list[Json]) -> None:
    for index, address in enumerate(addresses, start=1):
        lines = address.get("line") or []
        kind = tables.ADDRESS_USE_TO_V2.get(address.get("use") or "")
        if kind is None and address.get("type") == "postal":
            kind = "M"
        pid.set(
            f"11({index})",
            _trim(
                [
                    lines[0] if lines else None,
                    " ".join(lines[1:]) or None,
                    address.get("city"),
                    address.get("state"),
                    address.get("postalCode"),
                    address.get("country"),
                    kind,
                    None,
                    address.get("district"),
                ]
            ),
        )


def _telecom(pid: Segment, telecom: list[Json]) -> None:
    counts = {13: 0, 14: 0}
    for point in telecom:
        value = (point.get("value") or "").strip()
        if not value:
            continue
        field = 14 if point.get("use") == "work" else 13
        counts[field] += 1
        system = point.get("system") or "phone"
        equipment = tables.TELECOM_SYSTEM_TO_V2.get(system, "PH")
        if point.get("use") == "mobile" and system == "phone":
            equipment = "CP"
        if system == "email":
            components: list[str | None] = [None, "NET", "Internet", value]
        else:
            use = tables.TELECOM_USE_TO_V2.get(point.get("use") or "", "PRN" if field == 13 else "WPN")
            components = [value, use, equipment]
        pid.set(f"{field}({counts[field]})", components)


def _language(pid: Segment, communication: list[Json]) -> None:
    for item in communication:
        for code in (item.get("language") or {}).get("coding") or []:
            if code.get("code"):
                system = "ISO639" if code.get("system") == "urn:ietf:bcp:47" else None
                pid.set(15, [code["code"], code.get("display"), system])
                return


def _marital_status(pid: Segment, concept: Json | None) -> None:
    for code in (concept or {}).get("coding") or []:
        if code.get("system") in (tables.V3_MARITAL, tables.V3_NULL_FLAVOR) and code.get("code") in MARITAL_TO_V2:
            pid.set(16, [MARITAL_TO_V2[code["code"]], code.get("display"), "HL70002"])
            return
        if code.get("system") == tables.V2 + "0002" and code.get("code"):
            pid.set(16, [code["code"], code.get("display"), "HL70002"])
            return


def _deceased(pid: Segment, patient: Json) -> None:
    when = fhir_to_dtm(patient.get("deceasedDateTime"))
    if when:
        pid.set(29, when)
        pid.set(30, "Y")
    elif isinstance(patient.get("deceasedBoolean"), bool):
        pid.set(30, "Y" if patient["deceasedBoolean"] else "N")


def _multiple_birth(pid: Segment, patient: Json) -> None:
    order = patient.get("multipleBirthInteger")
    if isinstance(order, int) and not isinstance(order, bool):
        pid.set(24, "Y")
        pid.set(25, str(order))
    elif isinstance(patient.get("multipleBirthBoolean"), bool):
        pid.set(24, "Y" if patient["multipleBirthBoolean"] else "N")


def _trim(components: list[Any]) -> list[Any]:
    """Drop trailing empty components: ``E1^^^GENHOSP^MR``, not ``E1^^^GENHOSP^MR^^^^``."""
    while components and not components[-1]:
        components.pop()
    return components


# -- PV1 ---------------------------------------------------------------------------------------------


def _visit(pv1: Segment, encounter: Json, namespaces: Mapping[str, str]) -> None:
    """Encounter -> PV1-2 class, PV1-3 location (by display), PV1-19 visit number, PV1-44/45 period."""
    kind = encounter.get("class") or {}
    code = kind.get("code") or ""
    patient_class = tables.ENCOUNTER_CLASS_TO_V2.get(code) if kind.get("system") == tables.V3_ACT_CODE else None
    if patient_class is None and kind.get("system") == tables.V2 + "0004":
        patient_class = code
    pv1.set(2, patient_class or "U")
    for entry in encounter.get("location") or []:
        display = (entry.get("location") or {}).get("display")
        if display and entry.get("status") != "completed":
            pv1.set("3.1", display)
            break
    identifiers = encounter.get("identifier") or []
    visit = next((i for i in identifiers if _type_code(i) == "VN"), identifiers[0] if identifiers else None)
    if visit and visit.get("value"):
        pv1.set(19, [visit["value"], None, None, authority_of(visit, namespaces), _type_code(visit) or "VN"])
    period = encounter.get("period") or {}
    for field, key in ((44, "start"), (45, "end")):
        when = fhir_to_dtm(period.get(key))
        if when:
            pv1.set(field, when)
