"""HL7 v2 data types as FHIR data types (the IG's data type maps: CWE[CodeableConcept], CX[Identifier],
XPN[HumanName], XAD[Address], XTN[ContactPoint], XCN[Practitioner], PL[Location], XON[Organization],
EI[Identifier], NM/SN[Quantity], ED[Attachment], DTM[dateTime]).

Each function reads one field occurrence (a ``Repetition``) and returns a FHIR JSON dict, or None
when the sender sent nothing usable, so callers can drop empty elements with one ``if``.
Warnings name the field and the table, never the value: they are logged.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ..delimiters import Delimiters
from ..escape import unescape
from ..message import NULL, Repetition, Segment
from . import tables
from .context import Context
from .timestamps import parse_dtm, to_date, to_datetime, to_instant

Json = dict[str, Any]

AUTHORITY_URN = "urn:holovitals:hl7v2:authority:"
_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HL7_TABLE = re.compile(r"^HL7?(\d{4})$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_COMPARED = re.compile(r"^(<=|>=|<|>)\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))$")
_RANGE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(?:-|–|to)\s*([+-]?\d+(?:\.\d+)?)\s*$")
_LIMIT = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*([+-]?\d+(?:\.\d+)?)\s*$")


# -- text ------------------------------------------------------------------------------------------


#: C0 control characters FHIR strings may not hold (all but tab, LF, CR); hex escapes can produce them.
_CONTROL = dict.fromkeys(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))


def clean(value: str) -> str:
    """A decoded v2 value as a FHIR string: control characters other than tab and line breaks removed."""
    return value.translate(_CONTROL)


def text(rep: Repetition | None, component: int | None = None, subcomponent: int | None = None) -> str | None:
    """The unescaped, trimmed value of a component; None when absent, empty or the HL7 null."""
    # ``Repetition.value`` and ``clean`` inlined, each step skipped when the value cannot need it:
    # no escape character, no control character (``isprintable`` is a C scan, ``translate`` a dict
    # lookup per character). Measured 1.0 -> 0.3 us a read; a data type map reads with ``parts``.
    if rep is None:
        return None
    value = rep.get(component, subcomponent)
    if not value or value == NULL:
        return None
    delimiters = rep.delimiters
    if delimiters.escape in value:
        value = unescape(value, delimiters)
    if not value.isprintable():
        value = value.translate(_CONTROL)
    return value.strip() or None


def field_text(segment: Segment | None, field: int, component: int = 1) -> str | None:
    """``text(segment.first_repetition(field), component)`` without making the repetition."""
    if segment is None:
        return None
    value = segment.component_value(field, component)
    if not value:  # absent, empty or the HL7 null
        return None
    if not value.isprintable():
        value = value.translate(_CONTROL)
    return value.strip() or None


def parts(rep: Repetition | None, size: int) -> tuple[str | None, ...]:
    """``text`` of components 1 to ``size`` at once, padded with None (index 0 is component 1).

    A data type map reads most components of the repetition it maps: the 13 reads of an XCN cost
    3.3 us as ``text`` calls, 1.0 us here (0.4 us when the text was seen before, see below).
    """
    if rep is None:
        return (None,) * size
    d = rep.delimiters
    whole = rep.raw
    if d.escape not in whole and NULL not in whole and whole.isprintable():
        return _plain_texts(whole, d.component, size)
    return _texts(whole, d.component, d, size)


def subparts(rep: Repetition | None, component: int, size: int) -> tuple[str | None, ...]:
    """``text`` of subcomponents 1 to ``size`` of one component (an HD inside a CX, XCN or PL)."""
    raw = None if rep is None else rep.get(component)
    if raw is None:
        return (None,) * size
    d = rep.delimiters  # type: ignore[union-attr]
    if d.escape not in raw and NULL not in raw and raw.isprintable():
        return _plain_texts(raw, d.subcomponent, size)
    return _texts(raw, d.subcomponent, d, size)


def _texts(whole: str, separator: str, d: Delimiters, size: int) -> tuple[str | None, ...]:
    """``parts`` of a text that needs unescaping or cleaning (callers try ``_plain_texts`` first)."""
    out = [_text_of(value, d) for value in whole.split(separator, size)[:size]]
    return (*out, *(None,) * (size - len(out)))


# Nearly every value has nothing to unescape, no control character and no HL7 null: then its
# texts are a pure function of the raw text, and a feed repeats most of those (practitioners,
# locations, codes, units, coding systems; within one message PD1-4, PV1-7 and PV1-17 are often
# the same XCN). Cached: a hit saves most of the split and strip (1.0 -> 0.4 us for an XCN).
@lru_cache(maxsize=8192)
def _plain_texts(whole: str, separator: str, size: int) -> tuple[str | None, ...]:
    out: list[str | None] = []
    for value in whole.split(separator, size)[:size]:  # a loop: faster than a comprehension in 3.11
        out.append(value.strip() or None)
    if len(out) < size:
        out += [None] * (size - len(out))
    return tuple(out)


def _text_of(value: str, d: Delimiters) -> str | None:
    if not value or value == NULL:
        return None
    if d.escape in value:
        value = unescape(value, d)
    if not value.isprintable():
        value = value.translate(_CONTROL)
    return value.strip() or None


def _head(value: str | None, rep: Repetition, component: int) -> str | None:
    """``text(rep, component, 1)``, given ``value == text(rep, component)``: the same unless the
    component holds a subcomponent separator (which unescaping never removes)."""
    if value is None or rep.delimiters.subcomponent not in value:
        return value
    return text(rep, component, 1)


def each(
    reps: list[Repetition], convert: Callable[[Repetition, Context, str], Json | None], ctx: Context, label: str
) -> list[Json]:
    """``convert(rep, ctx, label)`` of every repetition, in order, empty results left out."""
    # A loop, not ``[x for x in (convert(r, ...) for r in reps) if x]``: in 3.11 a generator and a
    # comprehension are two more function calls, and this pattern runs ~20 times a message
    # (0.26 against 0.52 us). Fixed arguments on purpose: passing *args/**kwargs on costs 0.9 us.
    out = []
    for rep in reps:
        item = convert(rep, ctx, label)
        if item:
            out.append(item)
    return out


def each_contact(reps: list[Repetition], ctx: Context, label: str, default_use: str | None) -> list[Json]:
    """``each`` for XTN fields: ``contact_point`` of every repetition with the field's default use."""
    out = []
    for rep in reps:
        item = contact_point(rep, ctx, label, default_use=default_use)
        if item:
            out.append(item)
    return out


def ts_text(segment: Segment | None, field: int) -> str | None:
    """The time of a TS field (TS.1: v2.5 and earlier may send ``time^precision``)."""
    if segment is None:
        return None
    return segment.component_value(field)


def number(value: str | None) -> int | float | None:
    """A v2 NM as a JSON number (int when the sender wrote no decimals), None when not a number."""
    if value is None:
        return None
    value = value.strip()
    if not _NUMBER.match(value):
        return None
    if "." in value:
        return float(value)
    return int(value)


# -- timestamps ------------------------------------------------------------------------------------


# One message repeats its timestamps (admit time in PV1-44, OBX-14, DG1-5...) and a feed repeats
# its zone: the conversions are pure functions of (text, zone), cached (measured: 9 -> 0.2 us).
@lru_cache(maxsize=4096)
def _fhir_datetime(value: str, zone: tzinfo) -> str | None:
    parsed = parse_dtm(value)
    return None if parsed is None else to_datetime(parsed, zone)


@lru_cache(maxsize=4096)
def _fhir_instant(value: str, zone: tzinfo) -> str | None:
    parsed = parse_dtm(value)
    return to_instant(parsed, zone) if parsed else None


def _zoned(cached, value: str, zone: tzinfo) -> str | None:
    try:
        return cached(value, zone)
    except TypeError:  # an unhashable tzinfo (dateutil's tzlocal is one): convert without the cache
        return cached.__wrapped__(value, zone)


@lru_cache(maxsize=4096)
def _fhir_date(value: str) -> str | None:
    parsed = parse_dtm(value)
    return None if parsed is None else to_date(parsed)


def date_time(value: str | None, ctx: Context, label: str) -> str | None:
    """TS/DTM -> FHIR dateTime (precision kept; offset from the value, else the message's zone)."""
    if not value:
        return None
    result = _zoned(_fhir_datetime, value, ctx.zone)
    if result is None:
        ctx.warn(f"{label} is not a valid HL7 timestamp; left out")
    return result


def instant(value: str | None, ctx: Context, label: str) -> str | None:
    """TS/DTM -> FHIR instant; values less precise than a day are left out (an instant needs one)."""
    if not value:
        return None
    result = _zoned(_fhir_instant, value, ctx.zone)
    if result is None:
        ctx.warn(f"{label} is not a timestamp precise to the day; left out")
    return result


def date(value: str | None, ctx: Context, label: str) -> str | None:
    """DT (or a TS where FHIR wants a date, like a birth date) -> FHIR date."""
    if not value:
        return None
    result = _fhir_date(value)
    if result is None:
        ctx.warn(f"{label} is not a valid HL7 date; left out")
    return result


# -- codes -----------------------------------------------------------------------------------------


def system_for(name: str | None, ctx: Context, label: str) -> str | None:
    """A table 0396 coding-system name (CWE.3) as a FHIR code system URI; None for local codes."""
    if not name:
        return None
    uri, known = _coding_system(name)
    if not known:
        ctx.warn(f"{label} names a coding system we do not know; its codes are kept without a system")
    return uri


@lru_cache(maxsize=1024)
def _coding_system(name: str) -> tuple[str | None, bool]:
    """(URI, whether the name is one we know) for a coding-system name: a feed uses a handful."""
    key = name.strip()
    table = _HL7_TABLE.match(key.upper())
    if table:
        return tables.V2 + table.group(1), True
    uri = tables.CODING_SYSTEMS.get(key) or tables.CODING_SYSTEMS.get(key.upper())
    if uri:
        return uri, True
    if key.upper() in tables.LOCAL_CODING_SYSTEMS or key.startswith("99"):
        return None, True
    if key.startswith(("urn:", "http://", "https://")):
        return key, True
    return None, False


#: FHIR's pattern for a code: words separated by single whitespace characters.
_CODE = re.compile(r"^[^\s]+(\s[^\s]+)*$")


def fhir_code(value: str) -> str:
    """A trimmed v2 value as a FHIR code: runs of whitespace inside it (``"0  0"``) made one space."""
    return value if _CODE.match(value) else " ".join(value.split())


def coding(code: str, display: str | None, system: str | None, version: str | None = None) -> Json:
    result: Json = {}
    if system:
        result["system"] = system
    if version:
        result["version"] = version
    result["code"] = code
    if display:
        result["display"] = display
    return result


def codeable_concept(rep: Repetition | None, ctx: Context, label: str, *, table: str | None = None) -> Json | None:
    """CWE/CE/CNE -> CodeableConcept: the primary and the alternate coding, text from CWE.9 or CWE.2.

    ``table`` is the HL7 table the field is bound to: a code sent without CWE.3 gets its
    ``v2-<table>`` system when the code is one the table defines.
    """
    if rep is None:
        return None
    found = _concept(rep.raw, rep.delimiters, table)
    if found is None:
        return None
    codings, label_text, unknown_system = found
    if unknown_system:
        ctx.warn(label + _UNKNOWN_SYSTEM)
    concept: Json = {}
    if codings:
        concept["coding"] = [dict(c) for c in codings]
    if label_text:
        concept["text"] = label_text
    return concept


_UNKNOWN_SYSTEM = " names a coding system we do not know; its codes are kept without a system"
#: A coding as (key, value) pairs in output order: ``dict(pairs)`` makes a fresh one in 0.15 us.
_FrozenCoding = tuple[tuple[str, str], ...]


# A feed sends the same codes again and again (diagnoses, allergens, LOINC codes, table values):
# what a CWE text says is a pure function of it, cached (measured: 1.2 -> 0.6 us a concept). The
# dicts are made fresh on every call: callers add to them.
@lru_cache(maxsize=4096)
def _concept(
    raw: str, delimiters: Delimiters, table: str | None
) -> tuple[tuple[_FrozenCoding, ...], str | None, bool] | None:
    """(codings, CodeableConcept.text, whether a coding system is unknown), None for no concept."""
    values = parts(Repetition(raw, delimiters), 9)
    codings = []
    unknown_system = False
    for code_at, display_at, system_at, version_at in ((0, 1, 2, 6), (3, 4, 5, 7)):
        code = values[code_at]
        if not code:
            continue
        code = fhir_code(code)
        system_name = values[system_at]
        system = None
        if system_name:
            system, known = _coding_system(system_name)
            unknown_system = unknown_system or not known
        elif table and _in_table(table, code):
            system = tables.V2 + table
        codings.append(tuple(coding(code, values[display_at], system, values[version_at]).items()))
    # CWE.2 is the coding's display; only the original text (CWE.9), or the text of a concept
    # sent without any code, is CodeableConcept.text.
    label_text = values[8] or (values[1] or values[4] if not codings else None)
    if not codings and not label_text:
        return None
    return tuple(codings), label_text, unknown_system


def concept_key(concept: Json) -> tuple[str, str]:
    """(system, code) of a concept's first coding, or ("", text): what clinical ids are keyed on."""
    codings = concept.get("coding") or []
    if codings:
        return codings[0].get("system", ""), codings[0]["code"]
    return "", concept.get("text", "")


def concept_label(concept: Json | None) -> str | None:
    """What a person would call a concept: its text, else its first display, else its first code."""
    if not concept:
        return None
    codings = concept.get("coding") or [{}]
    return concept.get("text") or codings[0].get("display") or codings[0].get("code")


def table_concept(code: str | None, table: str, display: str | None = None) -> Json | None:
    """An ID/IS value of an HL7 table as a CodeableConcept with its v2-<table> coding."""
    if not code:
        return None
    return {"coding": [coding(code, display or tables.TABLE_DISPLAYS.get(table, {}).get(code), tables.V2 + table)]}


def _in_table(table: str, code: str) -> bool:
    known = tables.TABLE_CODES.get(table)
    return known is None or code in known


# -- identifiers -----------------------------------------------------------------------------------


def authority(
    namespace: str | None, universal: str | None, universal_type: str | None, ctx: Context
) -> tuple[str | None, str]:
    """An assigning authority (HD) as (Identifier.system, key for ids).

    The id key is the namespace when there is one, so an MRN keeps its patient id whether the
    sender adds the authority's OID (Epic's A01) or not (the same feed's A08). The system comes
    from the channel's configured map first, then well-known authorities (SSA, NPI), then the OID,
    then a URN made from the namespace.
    """
    key = namespace or universal or ""
    systems = ctx.systems
    if systems:
        for candidate in (namespace, universal):
            if candidate and candidate in systems:
                return systems[candidate], key
    return _authority_system(namespace, universal, universal_type), key


# A feed names a handful of authorities; the rest of the lookup (OID and UUID patterns, URL
# quoting) is a pure function of the HD, cached (measured: 1.0 -> 0.25 us per identifier).
@lru_cache(maxsize=2048)
def _authority_system(namespace: str | None, universal: str | None, universal_type: str | None) -> str | None:
    for candidate in (universal, namespace):
        if candidate and candidate in tables.AUTHORITY_SYSTEMS:
            return tables.AUTHORITY_SYSTEMS[candidate]
    kind = (universal_type or "").upper()
    if universal:
        if _OID.match(universal) and kind in ("ISO", ""):
            return "urn:oid:" + universal
        if kind == "UUID" and _UUID.match(universal):
            return "urn:uuid:" + universal.lower()
        if kind in ("URI", "URL") and ":" in universal:
            return universal
    if namespace:
        return AUTHORITY_URN + quote(namespace, safe="")
    return None


def identifier_cx(rep: Repetition | None, ctx: Context, label: str, *, default_type: str | None = None) -> Json | None:
    """CX -> Identifier: CX.1 value, CX.4 assigning authority -> system, CX.5 type, CX.7/8 period."""
    if rep is None:
        return None
    value, type_code, namespace, universal, utype, start, end = cx_parts(rep)
    if not value:
        return None
    system = authority(namespace, universal, utype, ctx)[0]
    result: Json = {}
    type_code = type_code or default_type
    if type_code:
        result["type"] = _identifier_type(type_code, ctx, label)
    if system:
        result["system"] = system
    result["value"] = value
    period = _period(start, end, ctx, label) if start or end else None
    if period:
        result["period"] = period
    if namespace:
        result["assigner"] = {"display": namespace}
    return result


def cx_parts(rep: Repetition) -> tuple[str | None, ...]:
    """What a CX says: (CX.1 value, CX.5 type, CX.4 namespace, universal id, universal id type,
    CX.7 start, CX.8 end), each as ``text`` reads it."""
    return _cx(rep.raw, rep.delimiters)


# Choosing the patient's identifier, keying its id and writing Patient.identifier read each CX of
# PID-3 three times a message; practitioners' and visits' authorities recur across a feed.
@lru_cache(maxsize=4096)
def _cx(raw: str, delimiters: Delimiters) -> tuple[str | None, ...]:
    rep = Repetition(raw, delimiters)
    values = parts(rep, 8)
    # A component whose text is empty has no subcomponent with a value either.
    namespace, universal, utype = subparts(rep, 4, 3) if values[3] else (None, None, None)
    return values[0], values[4], namespace, universal, utype, values[6], values[7]


def cx_key(rep: Repetition) -> tuple[str, str]:
    """(authority key, value) of a CX: what a patient or visit id is derived from."""
    value, _, namespace, universal, _, _, _ = _cx(rep.raw, rep.delimiters)
    return namespace or universal or "", value or ""


def identifier_ei(parts: tuple[str | None, ...], ctx: Context, *, type_code: str | None = None) -> Json | None:
    """EI (entity id, namespace, universal id, universal id type) -> Identifier."""
    if not parts or not parts[0]:  # most EI fields are not sent: skip the padding below
        return None
    value, namespace, universal, utype = (list(parts) + [None] * 4)[:4]
    system, _ = authority(namespace, universal, utype, ctx)
    result: Json = {}
    if type_code:
        result["type"] = table_concept(type_code, "0203")
    if system:
        result["system"] = system
    result["value"] = value
    return result


def ei_parts(rep: Repetition | None, component: int | None = None) -> tuple[str | None, ...]:
    """The four EI parts of a field (components) or of one component (subcomponents)."""
    if rep is None:
        return (None, None, None, None)
    if component is None:
        return parts(rep, 4)
    return subparts(rep, component, 4)


def ei_key(parts: tuple[str | None, ...]) -> tuple[str, str] | None:
    if not parts or not parts[0]:
        return None
    return parts[1] or parts[2] or "", parts[0]


def _identifier_type(code: str, ctx: Context, label: str) -> Json:
    concept, warning = _identifier_type_of(code)
    if warning:
        ctx.warn(label + warning)
    return concept


def _identifier_type_of(code: str) -> tuple[Json, str | None]:
    """(Identifier.type, the warning to give after the field's label or None) for a table 0203 code."""
    display = tables.IDENTIFIER_TYPES.get(code)
    if display is not None:
        return {"coding": [{"system": _V2_0203, "code": code, "display": display}]}, None
    return {"text": code}, " identifier type code is not in HL7 table 0203; kept as text"


_V2_0203 = tables.V2 + "0203"


def _period(start: str | None, end: str | None, ctx: Context, label: str) -> Json | None:
    period: Json = {}
    begin = date_time(start, ctx, label)
    finish = date_time(end, ctx, label)
    if begin:
        period["start"] = begin
    if finish:
        period["end"] = finish
    return period or None


# -- people and places -----------------------------------------------------------------------------


def human_name(rep: Repetition | None, ctx: Context, label: str, *, offset: int = 0) -> Json | None:
    """XPN -> HumanName (``offset=1`` reads the same layout inside XCN, which starts with an id).

    XPN.1 family (FN.1 surname), XPN.2 and XPN.3 given, XPN.4 and XPN.6 suffix (degree),
    XPN.5 prefix, XPN.7 name type -> use (table 0200).
    """
    if rep is None:
        return None
    name, warning = _human_name(parts(rep, 10), rep, offset)
    if warning:
        ctx.warn(label + warning)
    return name


def _human_name(values: tuple[str | None, ...], rep: Repetition, offset: int) -> tuple[Json | None, str | None]:
    """(HumanName or None, the warning to give after the field's label or None)."""
    # ``values`` is ``parts(rep, n)`` with n >= 10.
    family = _head(values[offset], rep, 1 + offset)
    given = _present(values[1 + offset], values[2 + offset])
    suffix = _present(values[3 + offset], values[5 + offset])
    prefix = values[4 + offset]
    name: Json = {}
    warning = None
    name_type = values[6 + offset] if offset == 0 else values[9]
    if name_type:
        use = tables.NAME_USE.get(name_type)
        if use:
            name["use"] = use
        elif name_type not in ("A", "B", "C", "F", "I", "K", "P", "R", "U"):
            warning = " name type is not in HL7 table 0200; no name use given"
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = suffix
    return (name if "family" in name or "given" in name else None), warning


def _present(first: str | None, second: str | None) -> list[str]:
    if first:
        return [first, second] if second else [first]
    return [second] if second else []


def name_display(name: Json | None) -> str | None:
    if not name:
        return None
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family")]
    shown = " ".join(filter(None, parts))
    suffix = ", ".join(name.get("suffix", []))
    return (f"{shown}, {suffix}" if suffix else shown) or None


def address(rep: Repetition | None, ctx: Context, label: str) -> Json | None:
    """XAD -> Address: XAD.1.1/XAD.2 lines, .3 city, .4 state, .5 postal code, .6 country,
    .7 type (table 0190 -> use/type), .9 county -> district."""
    if rep is None:
        return None
    values = parts(rep, 9)
    result: Json = {}
    address_type = values[6]
    if address_type:
        mapped = tables.ADDRESS_USE.get(address_type)
        if mapped is None:
            ctx.warn(f"{label} address type is not in HL7 table 0190; no address use given")
        else:
            use, kind = mapped
            if use:
                result["use"] = use
            if kind:
                result["type"] = kind
    lines = _present(_head(values[0], rep, 1), values[1])
    if lines:
        result["line"] = lines
    for key, index in (("city", 2), ("district", 8), ("state", 3), ("postalCode", 4), ("country", 5)):
        value = values[index]
        if value:
            result[key] = value
    if _ADDRESS_PARTS.isdisjoint(result):
        return None
    return result


_ADDRESS_PARTS = frozenset({"line", "city", "state", "postalCode", "country", "district"})


def contact_point(rep: Repetition | None, ctx: Context, label: str, *, default_use: str | None) -> Json | None:
    """XTN -> ContactPoint: email from XTN.4 (use NET or equipment Internet), else the number from
    XTN.12, XTN.1 or the parts XTN.5-8; XTN.2 use (table 0201), XTN.3 equipment (table 0202)."""
    if rep is None:
        return None
    system, value, use, unknown_equipment = _contact(rep.raw, rep.delimiters)
    if unknown_equipment:
        ctx.warn(f"{label} equipment type is not in HL7 table 0202; read as a phone")
    if not value:
        return None
    result: Json = {"system": system, "value": value}
    use = use or default_use
    if use:
        result["use"] = use
    return result


# A pure function of the XTN text (phone numbers are formatted from their parts), cached: the
# practice, ward and next-of-kin numbers recur across a feed (measured: 1.3 -> 0.3 us a number).
@lru_cache(maxsize=4096)
def _contact(raw: str, delimiters: Delimiters) -> tuple[str, str | None, str | None, bool]:
    """(ContactPoint.system, value, use unless the field's default applies, unknown equipment?)."""
    values = parts(Repetition(raw, delimiters), 12)
    use_code, equipment = values[1], values[2]
    system, use_override = tables.TELECOM_EQUIPMENT.get(equipment or "", (None, None))
    unknown_equipment = bool(equipment) and system is None
    email = values[3]
    if use_code == "NET" or system == "email" or (email and not system and not values[6]):
        system = "email"
        value = email or values[0]
    else:
        value = values[11] or values[0] or _phone_from_parts(values)
        system = system or "phone"
    # NET (an e-mail address) says how to reach, not where: the field's default use applies.
    use = None if use_code == "NET" else use_override or tables.TELECOM_USE.get(use_code or "")
    return system, value, use, unknown_equipment


def _phone_from_parts(values: tuple[str | None, ...]) -> str | None:
    country, area, local, extension = values[4:8]
    if not local:
        return None
    if len(local) == 7 and local.isdigit():
        local = f"{local[:3]}-{local[3:]}"
    parts = [f"+{country.lstrip('+')}" if country else None, f"({area})" if area else None, local]
    phone = " ".join(filter(None, parts))
    return f"{phone} ext. {extension}" if extension else phone


def practitioner_reference(rep: Repetition | None, ctx: Context, label: str) -> Json | None:
    """XCN -> a Practitioner resource (when the sender gave an id) and a reference with display.

    XCN.1 id with XCN.9 assigning authority and XCN.13 identifier type; XCN.2-7 the name.
    A name without an id gives a display-only reference: we cannot tell two such people apart.
    """
    return _shared_reference(_practitioner, rep, ctx, label)


def location_reference(rep: Repetition | None, ctx: Context, label: str) -> Json | None:
    """PL -> a Location resource and a reference: point of care, room, bed (PL.1-3) make the name,
    the facility (PL.4) and building/floor (PL.7/8) complete the key, PL.9 the description."""
    return _shared_reference(_location, rep, ctx, label)


def organization_reference(rep: Repetition | None, ctx: Context, label: str) -> Json | None:
    """XON -> an Organization (XON.1 name, XON.10 or XON.3 identifier, XON.6 authority) and a reference."""
    return _shared_reference(_organization, rep, ctx, label)


#: (reference or None, warnings to give after the field's label) of one XCN, PL or XON.
_Shared = tuple[Json | None, tuple[str, ...]]


def _shared_reference(
    make: Callable[[Repetition, Context], _Shared], rep: Repetition | None, ctx: Context, label: str
) -> Json | None:
    """``make``'s reference for ``rep``, made once per message for each text.

    One message names the same person or place in many fields (PD1-4, PV1-7 and PV1-17 are often
    one XCN; every OBX-16 of a result), and making it again only merges an identical resource
    into itself: the second time costs 0.3 us instead of 3. The warnings are given again under
    each field's own label.
    """
    if rep is None:
        return None
    key = (make, rep.raw, rep.delimiters)
    found = ctx.shared.get(key)
    if found is None:
        found = ctx.shared[key] = make(rep, ctx)
    ref, warnings = found
    for warning in warnings:
        ctx.warn(label + warning)
    return dict(ref) if ref else None  # each field its own dict: callers may add to it


def _practitioner(rep: Repetition, ctx: Context) -> _Shared:
    values = parts(rep, 13)
    name, name_warning = _human_name(values, rep, 1)
    warnings = (name_warning,) if name_warning else ()
    display = name_display(name)
    ident = values[0]
    if not ident:
        return ({"display": display} if display else None), warnings
    namespace, universal, utype = subparts(rep, 9, 3)
    system, key = authority(namespace, universal, utype, ctx)
    id_type = values[12]
    if system is None and id_type == "NPI":
        system = tables.NPI
    identifier: Json = {}
    if id_type:
        id_type_json, type_warning = _identifier_type_of(id_type)
        identifier["type"] = id_type_json
        if type_warning:
            warnings = (*warnings, type_warning)
    if system:
        identifier["system"] = system
    identifier["value"] = ident
    practitioner: Json = {
        "resourceType": "Practitioner",
        "id": ctx.resource_id("Practitioner", key, ident),
        "identifier": [identifier],
    }
    if name:
        practitioner["name"] = [name]
    ref: Json = {"reference": ctx.add(practitioner)}
    if display:
        ref["display"] = display
    return ref, warnings


def _location(rep: Repetition, ctx: Context) -> _Shared:
    values = parts(rep, 9)
    point_of_care, room, bed = _head(values[0], rep, 1), _head(values[1], rep, 2), _head(values[2], rep, 3)
    facility = _head(values[3], rep, 4) or text(rep, 4, 2)
    building, floor, description = _head(values[6], rep, 7), _head(values[7], rep, 8), values[8]
    name = " ".join(filter(None, (point_of_care, room, bed))) or description
    if not name:
        return None, ()
    location: Json = {
        "resourceType": "Location",
        "id": ctx.resource_id("Location", facility, point_of_care, room, bed, building, floor),
        "status": "active",
        "name": name,
        "mode": "instance",
    }
    if description and description != name:
        location["description"] = description
    kind = ("bd", "Bed") if bed else ("ro", "Room") if room else ("wa", "Ward") if point_of_care else None
    if kind:
        location["physicalType"] = {
            "coding": [coding(kind[0], kind[1], "http://terminology.hl7.org/CodeSystem/location-physical-type")]
        }
    if facility:
        location["alias"] = [facility]
    return {"reference": ctx.add(location), "display": name}, ()


def _organization(rep: Repetition, ctx: Context) -> _Shared:
    values = parts(rep, 10)
    name = values[0]
    ident = values[9] or values[2]
    if not name and not ident:
        return None, ()
    namespace, universal, utype = subparts(rep, 6, 3)
    system, key = authority(namespace, universal, utype, ctx)
    organization: Json = {
        "resourceType": "Organization",
        "id": ctx.resource_id("Organization", key, ident or "", "" if ident else name),
        "active": True,
    }
    if ident:
        identifier: Json = {"system": system} if system else {}
        identifier["value"] = ident
        organization["identifier"] = [identifier]
    if name:
        organization["name"] = name
    ref: Json = {"reference": ctx.add(organization)}
    if name:
        ref["display"] = name
    return ref, ()


# -- quantities ------------------------------------------------------------------------------------

_UCUM_PREFIX = "(?:Y|Z|E|P|T|G|M|k|h|da|d|c|m|u|n|p|f|a|z|y|Ki|Mi|Gi|Ti)"
_UCUM_ATOMS = (
    "mol|osm|rad|min|Ohm|Cel|cal|kat|bar|cd|sr|Hz|Pa|Wb|lm|lx|Bq|Gy|Sv|wk|mo|eV|pc|eq|Ao|ar|"
    "m|s|g|K|C|N|J|W|A|V|F|S|T|H|L|l|h|d|a|t|u|U|b"
)
_UCUM_COMPONENT = re.compile(
    rf"^(?:{_UCUM_PREFIX}?(?:{_UCUM_ATOMS})(?:\[[^\[\]]+\])?|\[[^\[\]]+\]|{_UCUM_PREFIX}?\[[^\[\]]+\]|10[*^]|%)"
    r"(?:[+-]?\d+)?$"
)
_ANNOTATION = re.compile(r"\{[^{}]*\}")


def is_ucum(unit: str | None) -> bool:
    """Whether a unit string is valid UCUM syntax made of common atoms (``mg/dL``, ``10*3/uL``,
    ``mL/min/{1.73_m2}``): senders often send UCUM units without saying so in OBX-6.3."""
    if not unit:
        return False
    return _is_ucum(unit)


# A lab feed sends a few hundred distinct units; the regular expressions cost 2-4 us a unit.
@lru_cache(maxsize=2048)
def _is_ucum(unit: str) -> bool:
    if any(c.isspace() for c in unit):
        return False
    body = _ANNOTATION.sub("{}", unit)
    if body.startswith("/"):
        body = body[1:]
    for part in re.split(r"[./]", body):
        annotated = part.endswith("{}")
        if annotated:
            part = part[:-2]
        if not part:
            if annotated:
                continue
            return False
        if "{" in part or "}" in part:
            return False
        if not (part.isdigit() or _UCUM_COMPONENT.match(part)):
            return False
    return True


def unit_of(rep: Repetition | None, ctx: Context, label: str) -> Json:
    """OBX-6 style units (CWE) -> the unit/system/code part of a Quantity."""
    if rep is None:
        return {}
    pairs, unknown_system = _unit(rep.raw, rep.delimiters)
    if unknown_system:
        ctx.warn(label + _UNKNOWN_SYSTEM)
    return dict(pairs)


# A lab feed sends a few hundred distinct units: a pure function of the text, cached like codes.
@lru_cache(maxsize=2048)
def _unit(raw: str, delimiters: Delimiters) -> tuple[tuple[tuple[str, str], ...], bool]:
    """(the Quantity's unit/system/code as (key, value) pairs, whether the coding system is unknown)."""
    code, display, system_name = parts(Repetition(raw, delimiters), 3)
    if not code:
        return ((("unit", display),) if display else ()), False
    system, known = _coding_system(system_name) if system_name else (None, True)
    if system is None and not system_name and is_ucum(code):
        system = tables.UCUM
    if system:
        return (("unit", code), ("system", system), ("code", code)), not known
    return (("unit", code),), not known


def quantity(value: str | None, unit: Json) -> Json | None:
    """NM (optionally with a leading comparator, ``>90``) -> Quantity."""
    if value is None:
        return None
    value = value.strip()
    amount = number(value)
    comparator = None
    if amount is None:
        match = _COMPARED.match(value)
        if not match:
            return None
        comparator, amount = match.group(1), number(match.group(2))
    result: Json = {"value": amount}
    if comparator:
        result["comparator"] = comparator
    result.update(unit)
    return result


def structured_numeric(rep: Repetition, unit: Json) -> tuple[str, Any] | None:
    """SN -> valueQuantity (with comparator), valueRange (``1-10``), valueRatio (``1:128``) or,
    for what FHIR cannot say as a number (``2+``, ``<>``), valueString."""
    comparator, first_text, separator, second_text = parts(rep, 4)
    first_num, second_num = number(first_text), number(second_text)
    if first_num is None and second_num is None:
        return None
    shown = "".join(p or "" for p in (comparator, first_text, separator, second_text))
    if separator in (":", "/") and first_num is not None and second_num is not None:
        return "valueRatio", {"numerator": {"value": first_num}, "denominator": {"value": second_num}}
    if separator == "-" and first_num is not None and second_num is not None:
        return "valueRange", {"low": {"value": first_num, **unit}, "high": {"value": second_num, **unit}}
    if separator or second_text or first_num is None:
        return "valueString", shown
    if comparator in (None, "="):
        return "valueQuantity", {"value": first_num, **unit}
    if comparator in ("<", ">", "<=", ">="):
        return "valueQuantity", {"value": first_num, "comparator": comparator, **unit}
    return "valueString", shown


def reference_range(value: str | None, unit: Json) -> Json | None:
    """OBX-7 -> referenceRange: ``70-110`` low/high, ``<5`` high, ``>90`` low, anything else text."""
    if not value:
        return None
    value = clean(value).strip()
    if not value:
        return None
    simple = {k: v for k, v in unit.items() if k in ("unit", "system", "code")}
    result: Json = {}
    match = _RANGE.match(value)
    if match:
        result["low"] = {"value": number(match.group(1)), **simple}
        result["high"] = {"value": number(match.group(2)), **simple}
    else:
        match = _LIMIT.match(value)
        if match:
            side = "high" if match.group(1) in ("<", "<=", "≤") else "low"
            result[side] = {"value": number(match.group(2)), **simple}
    result["text"] = value.strip()
    return result


# -- attachments -----------------------------------------------------------------------------------


def mime_type(type_of_data: str | None, subtype: str | None) -> str:
    """ED.2/ED.3 (``application``/``pdf``, or v2 names ``AP``/``PDF``) -> a MIME type."""
    top = (type_of_data or "").strip().lower()
    sub = (subtype or "").strip()
    if top in tables.MIME_TOP_LEVEL and sub:
        return f"{top}/{sub.lower()}"
    if sub.upper() in tables.ED_SUBTYPES:
        return tables.ED_SUBTYPES[sub.upper()]
    mapped = tables.ED_TYPES.get(top.upper())
    if mapped and sub:
        return f"{mapped}/{sub.lower()}"
    if mapped == "text" or top.upper() == "TEXT":
        return "text/plain"
    return "application/octet-stream"


def attachment(rep: Repetition | None, ctx: Context, label: str) -> Json | None:
    """ED -> Attachment: ED.2/ED.3 content type, ED.4 encoding (Base64, Hex, A) and ED.5 data."""
    if rep is None:
        return None
    encoding = (text(rep, 4) or "").upper()
    payload = rep.value(5) or ""
    content_type = mime_type(text(rep, 2), text(rep, 3))
    if not payload.strip():
        return None
    try:
        if encoding == "BASE64":
            compact = "".join(payload.split())
            data = base64.b64encode(base64.b64decode(compact, validate=True)).decode("ascii")
        elif encoding == "HEX":
            data = base64.b64encode(bytes.fromhex("".join(payload.split()))).decode("ascii")
        elif encoding in ("A", ""):
            data = base64.b64encode(payload.encode("utf-8")).decode("ascii")
        else:
            ctx.warn(f"{label} uses an encoding we cannot read (ED.4); content left out")
            return None
    except (binascii.Error, ValueError):
        ctx.warn(f"{label} data does not decode as its ED.4 encoding says; content left out")
        return None
    return {"contentType": content_type, "data": data}


def text_attachment(content: str, *, title: str | None = None) -> Json:
    """Plain text (TX/FT/ST document lines) as a UTF-8 Attachment."""
    result: Json = {
        "contentType": "text/plain; charset=utf-8",
        "data": base64.b64encode(content.encode("utf-8")).decode("ascii"),
    }
    if title:
        result["title"] = title
    return result
