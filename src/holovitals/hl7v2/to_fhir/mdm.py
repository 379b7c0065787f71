"""MDM^T01/T02 -> DocumentReference, after the IG's message map MDM_T02 and segment maps
TXA[DocumentReference] and OBX[DocumentReference.content] (text and ED payloads).

The id comes from the unique document number (TXA-12), so the T01 notification and the T02 with
the content, or a re-sent T02, are versions of one DocumentReference. Text OBX (TX/FT/ST) become
one UTF-8 text attachment, lines in OBX order; each ED OBX is an attachment of its own.
"""

from __future__ import annotations

from ..message import Message, Segment
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
    mime_type,
    practitioner_reference,
    text,
    text_attachment,
    ts_text,
)
from .encounter import encounter_reference
from .errors import missing
from .observation import DOCUMENT_TYPES, TEXT_TYPES, document_attachment
from .orm import order_numbers
from .patient import first_rep, map_patient

SUPPORTED_TRIGGERS = frozenset({"T01", "T02"})
MAPPED_SEGMENTS = frozenset({"MSH", "SFT", "EVN", "PID", "PV1", "PV2", "ORC", "OBR", "TQ1", "NTE", "TXA", "OBX", "PRT"})
#: TXA-3 content presentation (table 0191) -> the content type of a document sent without content.
PRESENTATION = {"TX": "text/plain", "FT": "text/plain", "AP": "application/octet-stream", "IM": "image/*"}


def convert(ctx: Context) -> str:
    """Map an MDM message into ``ctx``; returns the patient reference."""
    msg = ctx.message
    pid = msg.segment("PID")
    if pid is None:
        raise missing("PID")
    txa = msg.segment("TXA")
    if txa is None:
        raise missing("TXA")
    patient_ref = map_patient(pid, ctx, pd1=msg.segment("PD1"))
    unique = ei_parts(first_rep(txa, 12))
    key = ei_key(unique)
    if key is None:
        ctx.warn("TXA-12 unique document number missing: the document is identified by the message control id")
    document: Json = {
        "resourceType": "DocumentReference",
        "id": ctx.resource_id("DocumentReference", *(("TXA-12", *key) if key else ("MSH-10", ctx.control_id))),
    }
    master = identifier_ei(unique, ctx)
    if master:
        document["masterIdentifier"] = master
    document["status"] = tables.DOC_AVAILABILITY.get((txa.component_value(19) or "").strip().upper(), "current")
    doc_status = tables.DOC_STATUS.get((txa.component_value(17) or "").strip().upper())
    if doc_status:
        document["docStatus"] = doc_status
    doc_type = codeable_concept(first_rep(txa, 2), ctx, "TXA-2")
    if doc_type:
        document["type"] = doc_type
    document["subject"] = {"reference": patient_ref}
    when = instant(ts_text(txa, 6), ctx, "TXA-6") or instant(ts_text(txa, 4), ctx, "TXA-4")
    if when:
        document["date"] = when
    authors = _people(txa, 9, ctx) or _people(txa, 5, ctx)
    if authors:
        document["author"] = authors
    authenticators = _people(txa, 10, ctx) or _people(txa, 22, ctx)
    if authenticators:
        document["authenticator"] = authenticators[0]
    confidentiality = tables.CONFIDENTIALITY.get((txa.component_value(18) or "").strip().upper())
    if confidentiality:
        document["securityLabel"] = [
            {"coding": [coding(confidentiality[0], confidentiality[1], tables.V3_CONFIDENTIALITY)]}
        ]
    title = text(first_rep(txa, 2), 2) or field_text(txa, 2)
    document["content"] = [{"attachment": a} for a in _content(msg.segments("OBX"), txa, title, ctx)]
    context = _context(msg, txa, ctx)
    if context:
        document["context"] = context
    ctx.add(document)
    return patient_ref


def _people(txa: Segment, field: int, ctx: Context) -> list[Json]:
    found = [practitioner_reference(r, ctx, f"TXA-{field}") for r in txa.repetitions(field)]
    return [f for f in found if f]


def _content(observations: list[Segment], txa: Segment, title: str | None, ctx: Context) -> list[Json]:
    lines: list[str] = []
    attachments: list[Json] = []
    for obx in observations:
        value_type = (obx.component_value(2) or "").strip().upper()
        if value_type in DOCUMENT_TYPES:
            found = document_attachment(value_type, first_rep(obx, 5), ctx)
            if found is not None:
                if title:
                    found["title"] = title
                attachments.append(found)
        elif value_type in TEXT_TYPES or not value_type:
            lines.append(clean("\n".join((r.value() or "") for r in obx.repetitions(5))))
        else:
            ctx.warn("OBX-2 value type has no document mapping in MDM; that OBX is left out of the content")
    if lines:
        attachments.insert(0, text_attachment("\n".join(lines), title=title))
    if not attachments:
        # T01 announces a document without its content: say what kind it is and no more.
        presentation = (txa.component_value(3) or "").strip().upper()
        empty: Json = {"contentType": PRESENTATION.get(presentation) or mime_type(presentation, None)}
        if title:
            empty["title"] = title
        attachments.append(empty)
    return attachments


def _context(msg: Message, txa: Segment, ctx: Context) -> Json | None:
    context: Json = {}
    encounter = encounter_reference(msg.segment("PV1"), ctx)
    if encounter:
        context["encounter"] = [encounter]
    activity = date_time(ts_text(txa, 4), ctx, "TXA-4")
    if activity:
        context["period"] = {"start": activity}
    placer, _ = order_numbers(msg.segment("ORC"), msg.segment("OBR"))
    if not placer[0]:
        placer = ei_parts(first_rep(txa, 14))
    order = identifier_ei(placer, ctx, type_code="PLAC")
    if order:
        # The order may have come from another feed: point at it by its number, not by an id.
        context["related"] = [{"type": "ServiceRequest", "identifier": order}]
    return context or None
