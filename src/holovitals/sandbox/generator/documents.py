"""Clinical documents: DocumentReferences and the Binaries that hold their bytes.

Each patient gets a C-CDA Continuity of Care Document rendered from `assets/ccd-template.xml`
(their own demographics, problems, medications, allergies and immunizations), a PDF progress
note for their latest office visit and a PDF discharge summary per hospital stay. The PDF is the
static one-page `assets/visit-summary.pdf`; its base64 and hash are computed once per process.
Attachments carry `size` and a base64 SHA-1 `hash` of the bytes, as FHIR R4 defines them, so a
client can check what it downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from xml.sax.saxutils import escape

from . import vocab
from .clinical import Chart, Visit
from .directory import OrganizationEntry
from .directory import PractitionerEntry as Clinician
from .rng import MS_PER_DAY, MS_PER_HOUR, fmt_date, fmt_datetime, fmt_instant

PDF_ASSET = "visit-summary.pdf"
CCD_TEMPLATE_ASSET = "ccd-template.xml"
_XML_ATTR = {'"': "&quot;", "'": "&apos;"}


@dataclass(frozen=True, slots=True)
class Payload:
    content_type: str
    data: bytes
    base64: str
    sha1: str  # base64 of the SHA-1 digest: Attachment.hash

    @classmethod
    def of(cls, content_type: str, data: bytes) -> Payload:
        return cls(
            content_type,
            data,
            base64.b64encode(data).decode("ascii"),
            base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
        )


def asset_bytes(name: str) -> bytes:
    return resources.files("holovitals.sandbox").joinpath("assets", name).read_bytes()


@lru_cache(maxsize=1)
def pdf_payload() -> Payload:
    return Payload.of("application/pdf", asset_bytes(PDF_ASSET))


@lru_cache(maxsize=1)
def ccd_template() -> string.Template:
    text = asset_bytes(CCD_TEMPLATE_ASSET).decode("utf-8")
    # The template's header comment is for people editing it, not part of each patient's document.
    return string.Template(re.sub(r"<!--.*?-->\s*", "", text, count=1, flags=re.DOTALL))


def _x(value: object) -> str:
    return escape(str(value), _XML_ATTR)


def _cda_time(ms: int) -> str:
    # 2024-03-05T14:30:00Z -> 20240305143000+0000
    return fmt_datetime(ms)[:19].replace("-", "").replace(":", "").replace("T", "") + "+0000"


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]], empty: str) -> str:
    if not rows:
        return f"<paragraph>{_x(empty)}</paragraph>"
    head = "".join(f"<th>{_x(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_x(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table border="1" width="100%"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_ccd(chart: Chart, doc_id: str, effective_ms: int, author: Clinician, org: OrganizationEntry) -> bytes:
    """The patient's CCD as UTF-8 XML bytes."""
    person = chart.person
    problems = [(p.code.snomed_display, p.code.icd10, p.status, fmt_date(p.onset_ms)) for p in chart.problems]
    medications = [
        (r["medicationCodeableConcept"]["text"], r["dosageInstruction"][0]["text"], r["status"])
        for _, r in chart.meds.values()
    ]
    allergies = [
        (
            r["code"]["text"],
            ", ".join(x["manifestation"][0]["text"] for x in r.get("reaction", ())),
            r.get("criticality", ""),
        )
        for r in chart.allergies
        if r["code"]["coding"][0]["code"] != vocab.NO_KNOWN_ALLERGY[0]
    ]
    vaccines = [(r["vaccineCode"]["text"], r["occurrenceDateTime"][:10]) for r in chart.vaccines]
    place, org_place = person.place, org.place
    language = person.group.languages[0][0]
    text = ccd_template().substitute(
        doc_id=_x(doc_id),
        effective_time=_cda_time(effective_ms),
        period_start=_cda_time(chart.hist_start),
        mrn=_x(person.mrn),
        street=_x(place.line),
        city=_x(place.city),
        state=_x(place.state),
        postal_code=_x(place.postal_code),
        phone=_x(person.phone),
        given=_x(person.given),
        family=_x(person.family),
        gender_code="F" if person.gender == "female" else "M",
        gender_display="Female" if person.gender == "female" else "Male",
        birth_time=fmt_date(person.birth_ms).replace("-", ""),
        language=_x(language),
        author_npi=author.npi,
        author_given=_x(author.given),
        author_family=_x(author.family),
        org_npi=org.npi,
        org_name=_x(org.name),
        org_phone=_x(org_place.phone),
        org_street=_x(org_place.line),
        org_city=_x(org_place.city),
        org_state=_x(org_place.state),
        org_postal_code=_x(org_place.postal_code),
        allergies=_table(("Substance", "Reaction", "Criticality"), allergies, "No known allergies"),
        medications=_table(("Medication", "Instructions", "Status"), medications, "No medications on record"),
        problems=_table(("Problem", "ICD-10-CM", "Status", "Onset"), problems, "No known problems"),
        immunizations=_table(("Vaccine", "Date"), vaccines, "No immunizations on record"),
    )
    return text.encode("utf-8")


def _document(
    chart: Chart,
    doc_type: tuple[str, str],
    payload: Payload,
    fmt: tuple[str, str],
    title: str,
    date_ms: int,
    author: Clinician,
    org: OrganizationEntry,
    visit: Visit | None,
    period: tuple[int, int],
) -> None:
    clock = chart.clock
    doc_id, binary_id = chart.new_id(), chart.new_id()
    docref = {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "meta": clock.meta(date_ms, vocab.PROFILE["DocumentReference"]),
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": vocab.LOINC, "code": doc_type[0], "display": doc_type[1]}], "text": doc_type[1]},
        "category": [
            {"coding": [{"system": vocab.US_CORE_DOCREF_CATEGORY, "code": "clinical-note", "display": "Clinical Note"}]}
        ],
        "subject": chart.subject(),
        "date": fmt_instant(date_ms),
        "author": [author.ref()],
        "custodian": org.ref(),
        "content": [
            {
                "attachment": {
                    "contentType": payload.content_type,
                    "url": f"Binary/{binary_id}",
                    "size": len(payload.data),
                    "hash": payload.sha1,
                    "title": title,
                    "creation": fmt_datetime(date_ms),
                },
                "format": {"system": vocab.IHE_FORMAT_CODE, "code": fmt[0], "display": fmt[1]},
            }
        ],
        "context": {"period": {"start": fmt_datetime(period[0]), "end": fmt_datetime(period[1])}},
    }
    if visit is not None:
        docref["context"]["encounter"] = [{"reference": f"Encounter/{visit.id}"}]
    binary = {
        "resourceType": "Binary",
        "id": binary_id,
        "meta": {"versionId": "1", "lastUpdated": docref["meta"]["lastUpdated"]},
        "contentType": payload.content_type,
        "securityContext": {"reference": f"DocumentReference/{doc_id}"},
        "data": payload.base64,
    }
    chart.out.append(docref)
    chart.out.append(binary)


def write_documents(chart: Chart) -> None:
    person, pdf = chart.person, pdf_payload()
    for v in chart.visits:
        if v.kind == "IMP":
            _document(
                chart,
                vocab.DOC_DISCHARGE_SUMMARY,
                pdf,
                vocab.PDF_FORMAT,
                "Discharge summary",
                v.end_ms,
                v.clinician,
                v.org,
                v,
                (v.start_ms, v.end_ms),
            )
    office = [v for v in chart.visits if v.kind in ("wellness", "well-child", "followup", "acute")]
    if office:
        v = office[-1]
        _document(
            chart,
            vocab.DOC_PROGRESS_NOTE,
            pdf,
            vocab.PDF_FORMAT,
            "Progress note",
            min(v.end_ms + 2 * MS_PER_HOUR, chart.as_of - 1),
            v.clinician,
            v.org,
            v,
            (v.start_ms, v.end_ms),
        )
    last = chart.visits[-1] if chart.visits else None
    effective = last.end_ms + MS_PER_HOUR if last else max(chart.as_of - 30 * MS_PER_DAY, chart.hist_start)
    effective = min(effective, chart.as_of - 1)
    doc_id = f"{person.key}-ccd"
    ccd = Payload.of("application/xml", render_ccd(chart, doc_id, effective, person.gp, person.home_org))
    _document(
        chart,
        vocab.DOC_CCD,
        ccd,
        vocab.CCDA_FORMAT,
        "Continuity of Care Document",
        effective,
        person.gp,
        person.home_org,
        last,
        (chart.hist_start, effective),
    )
