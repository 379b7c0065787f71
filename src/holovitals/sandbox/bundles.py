"""Bundles built by joining stored bytes: no model objects, no re-serialisation per request.

A searchset page is a fixed head, then for each record `{"fullUrl":...,"resource":<raw>,"search":...}`
with ``Record.raw`` pasted in as is. Only flavours that change what a record looks like (no
versionId on NextGen and Veradigm, Veradigm's redacted entries) pay for a transformation, and the
versionless form is cached per record version.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson

from .flavours import Flavour
from .store import Record, format_instant, utcnow

REDACTED_SECURITY = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}
_MATCH = b',"search":{"mode":"match"}}'


class RecordRenderer:
    """What one flavour sends for a stored record."""

    MAX_CACHE = 500_000

    def __init__(self, flavour: Flavour) -> None:
        self.flavour = flavour
        self.identity = flavour.versioning and not flavour.redact_every
        self._versionless: dict[tuple[str, str, int], bytes] = {}

    def render(self, record: Record) -> bytes:
        if self.identity:
            return record.raw
        if self.flavour.is_redacted(record.resource_type, record.id):
            return redacted(record)
        if self.flavour.versioning:
            return record.raw
        key = (record.resource_type, record.id, record.version)
        cached = self._versionless.get(key)
        if cached is None:
            if len(self._versionless) >= self.MAX_CACHE:
                self._versionless.clear()
            cached = self._versionless[key] = strip_version(record.raw)
        return cached


def strip_version(raw: bytes) -> bytes:
    body = orjson.loads(raw)
    meta = body.get("meta")
    if isinstance(meta, dict):
        meta.pop("versionId", None)
    return orjson.dumps(body)


def redacted(record: Record) -> bytes:
    """What Veradigm sends for a record the caller may not see: id and type only, marked REDACTED."""
    body = {"resourceType": record.resource_type, "id": record.id, "meta": {"security": [REDACTED_SECURITY]}}
    return orjson.dumps(body)


def _links(self_url: str, next_url: str | None) -> list[dict]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return links


def searchset(
    *,
    base: str,
    records: Sequence[Record],
    total: int | None,
    self_url: str,
    next_url: str | None,
    render: RecordRenderer,
    outcome: bytes | None = None,
) -> bytes:
    """A searchset Bundle; ``outcome`` (an OperationOutcome's bytes) becomes a search.mode=outcome entry."""
    head: dict = {
        "resourceType": "Bundle",
        "id": uuid.uuid4().hex,
        "meta": {"lastUpdated": format_instant(utcnow())},
        "type": "searchset",
    }
    if total is not None:
        head["total"] = total
    head["link"] = _links(self_url, next_url)
    prefix = orjson.dumps(head)[:-1]
    if not records and outcome is None:
        return prefix + b"}"
    base_b = orjson.dumps(base)[1:-1]  # JSON-escaped, without its quotes
    parts: list[bytes] = [b',"entry":[']
    separator = b""
    for record in records:
        full_url = orjson.dumps(f"{record.resource_type}/{record.id}")
        parts += (
            separator,
            b'{"fullUrl":"',
            base_b,
            b"/",
            full_url[1:],
            b',"resource":',
            render.render(record),
            _MATCH,
        )
        separator = b","
    if outcome is not None:
        parts += (separator, b'{"resource":', outcome, b',"search":{"mode":"outcome"}}')
    parts.append(b"]}")
    return prefix + b"".join(parts)


def history(*, base: str, records: Sequence[Record], self_url: str, render: RecordRenderer) -> bytes:
    """A history Bundle of one resource, newest version first; deletions have request DELETE, no resource."""
    entries: list[bytes] = []
    for record in records:
        ref = f"{record.resource_type}/{record.id}"
        if record.deleted:
            method, status = "DELETE", "204 No Content"
        elif record.version == 1:
            method, status = "POST", "201 Created"
        else:
            method, status = "PUT", "200 OK"
        meta = {
            "fullUrl": f"{base}/{ref}",
            "request": {"method": method, "url": ref},
            "response": {
                "status": status,
                "etag": f'W/"{record.version}"',
                "lastModified": format_instant(record.last_updated),
            },
        }
        encoded = orjson.dumps(meta)
        if not record.deleted:
            encoded = encoded[:-1] + b',"resource":' + render.render(record) + b"}"
        entries.append(encoded)
    head = {
        "resourceType": "Bundle",
        "id": uuid.uuid4().hex,
        "meta": {"lastUpdated": format_instant(utcnow())},
        "type": "history",
        "total": len(records),
        "link": _links(self_url, None),
    }
    return orjson.dumps(head)[:-1] + b',"entry":[' + b",".join(entries) + b"]}"
