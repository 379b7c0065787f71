"""HL7 v2 -> FHIR R4: ADT, ORM, ORU, SIU and MDM messages as FHIR resources ready for the store.

Typical use::

    result = convert(text)                    # or convert(parse(text), source_system="epic-prod")
    result.resources                          # FHIR JSON dicts, Patient first
    result.bundle()                           # a collection Bundle (``holovitals hl7 to-fhir FILE``)
    result.warnings                           # what was left out, never patient values
    patient_to_adt(patient, event="A08")      # the way back: FHIR Patient -> ADT^A08 Message

Mappings follow the HL7 v2-to-FHIR implementation guide (message, segment, data type and
vocabulary maps; each module cites its own). Every resource gets a deterministic id (source
system + business identifier, see ``ids``), ``meta.lastUpdated`` = MSH-7 (so the store's
lastUpdated guard keeps a re-delivered older message from overwriting newer data), ``meta.source``
= ``urn:hl7v2:<sending app>|<sending facility>`` and a ``meta.tag`` with the control id.

Errors are ``HL7Error``s: ``UnsupportedMessage`` (reject, AR) for types and triggers without a
mapping, ``ConversionError`` (error, AE) when a message lacks what its mapping needs, and the
parser's ``HL7ParseError`` (reject) for text that is no HL7 message. ``build_ack(msg, error=exc)``
turns any of them into the NAK.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..message import Message, parse
from . import adt, mdm, orm, oru, siu
from .context import CONTROL_ID_SYSTEM, Context, build_context
from .errors import ConversionError, UnsupportedMessage
from .ids import make_id
from .outbound import patient_to_adt

_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")


@dataclass(frozen=True)
class _Mapping:
    triggers: frozenset[str]
    convert: Callable[[Context], str]
    segments: frozenset[str]


MAPPINGS: dict[str, _Mapping] = {
    "ADT": _Mapping(adt.SUPPORTED_TRIGGERS, adt.convert, adt.MAPPED_SEGMENTS),
    "ORM": _Mapping(orm.SUPPORTED_TRIGGERS, orm.convert, orm.MAPPED_SEGMENTS),
    "ORU": _Mapping(oru.SUPPORTED_TRIGGERS, oru.convert, oru.MAPPED_SEGMENTS),
    "SIU": _Mapping(siu.SUPPORTED_TRIGGERS, siu.convert, siu.MAPPED_SEGMENTS),
    "MDM": _Mapping(mdm.SUPPORTED_TRIGGERS, mdm.convert, mdm.MAPPED_SEGMENTS),
}

#: Message types and triggers ``convert`` accepts, e.g. ``("ADT", "A01")``.
SUPPORTED = frozenset((kind, trigger) for kind, m in MAPPINGS.items() for trigger in m.triggers)


@dataclass(frozen=True)
class ConversionResult:
    """The FHIR resources made from one HL7 v2 message."""

    resources: list[dict[str, Any]]
    message_type: str
    patient_id: str | None
    control_id: str | None = None
    warnings: list[str] = field(default_factory=list)

    def bundle(self, *, base_url: str | None = None) -> dict[str, Any]:
        """A ``collection`` Bundle of the resources (with ``fullUrl``s when a server base is given)."""
        entries = []
        for resource in self.resources:
            entry: dict[str, Any] = {}
            if base_url:
                entry["fullUrl"] = f"{base_url.rstrip('/')}/{resource['resourceType']}/{resource['id']}"
            entry["resource"] = resource
            entries.append(entry)
        bundle: dict[str, Any] = {"resourceType": "Bundle"}
        if self.control_id:
            source = self.resources[0]["meta"]["source"] if self.resources else ""
            bundle["id"] = make_id("Bundle", source, self.control_id)
            bundle["identifier"] = {"system": CONTROL_ID_SYSTEM, "value": self.control_id}
        bundle["type"] = "collection"
        if self.resources:
            bundle["timestamp"] = self.resources[0]["meta"]["lastUpdated"]
        bundle["entry"] = entries
        return bundle

    def by_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == resource_type]


def convert(
    message: Message | str | bytes,
    *,
    source_system: str | None = None,
    timezone: tzinfo | str | None = None,
    identifier_systems: Mapping[str, str] | None = None,
) -> ConversionResult:
    """Convert one HL7 v2 message to FHIR R4 resources.

    ``source_system`` names where the message comes from for the ids (default: MSH-4 sending
    facility, else MSH-3): give two feeds the same name to make their ids meet.
    ``timezone`` (an IANA name or tzinfo) is the sender's zone for timestamps without an offset;
    by default MSH-7's own offset, else UTC. ``identifier_systems`` maps assigning authorities
    (CX.4 namespace or OID) to Identifier.system URIs, e.g. ``{"GENHOSP": "urn:oid:1.2.3"}``.

    Raises ``UnsupportedMessage``, ``ConversionError`` or ``HL7ParseError`` (see the module doc).
    """
    msg = message if isinstance(message, Message) else parse(message)
    kind, trigger = (msg.message_type or "").strip(), (msg.trigger_event or "").strip()
    mapping = MAPPINGS.get(kind)
    if mapping is None or trigger not in mapping.triggers:
        raise UnsupportedMessage(kind, trigger)
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    ctx = build_context(msg, source_system=source_system, zone=zone, identifier_systems=identifier_systems)
    patient_ref = mapping.convert(ctx)
    _warn_unmapped(msg, mapping.segments, ctx)
    resources = _patients_first(ctx.resources.values())
    return ConversionResult(
        resources=resources,
        message_type=f"{kind}^{trigger}",
        patient_id=patient_ref.split("/", 1)[1] if patient_ref else None,
        control_id=msg.control_id,
        warnings=list(ctx.warnings),
    )


def _warn_unmapped(msg: Message, mapped: frozenset[str], ctx: Context) -> None:
    for name in msg.segment_names():
        if name in mapped:
            continue
        if not _SEGMENT_ID.match(name):
            ctx.warn("a line that is not a segment was ignored")
        elif name.startswith("Z"):
            ctx.warn(f"{name} segment (Z-segment) not mapped")
        else:
            ctx.warn(f"{name} segment not mapped")


def _patients_first(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Patients, then the rest, each in the order made (a stable partition, no key function calls)."""
    patients, others = [], []
    for resource in resources:
        (patients if resource["resourceType"] == "Patient" else others).append(resource)
    return patients + others if others else patients


__all__ = ["SUPPORTED", "ConversionError", "ConversionResult", "UnsupportedMessage", "convert", "patient_to_adt"]
