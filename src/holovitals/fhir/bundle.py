"""Search Bundles: pages, next links, de-duplication, and the failures that paging must not hide.

Rules from the field:
- the ``next`` link is opaque (Epic ``-pageContext``/sessions, Oracle Health ``-pageContext``,
  athenahealth ``cursor``, MEDITECH ``continue``, eClinicalWorks ``page``): follow it verbatim,
  never rebuild it from our own parameters;
- a server can hand back a next link it already gave (a buggy cursor): stop and record it, or the
  sync spins forever;
- the same resource can appear on two pages (Oracle Health repeats entries across page borders,
  and anything edited mid-paging moves): de-duplicate by (type, id) and keep the newer version;
- ``search.mode = outcome`` entries are the server talking to us (warnings), not data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from holovitals.fhir.errors import FhirError, MalformedResponse, outcome_diagnostics

BUNDLE_TYPES = frozenset(
    {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history",
     "searchset", "collection"}
)  # fmt: skip


@dataclass
class Page:
    """One page of results: the resources on it (duplicates already removed) and what came with them."""

    resources: list[dict[str, Any]]
    url: str
    index: int
    warnings: list[str] = field(default_factory=list)
    duplicates: int = 0
    deleted: list[tuple[str, str]] = field(default_factory=list)  # history: DELETE entries
    total: int | None = None
    ok = True


@dataclass
class PageFailure:
    """A page that still failed after retries: recorded with its reason, never dropped.

    ``error`` is the typed error (its ``action`` says whether to re-issue the search, re-authenticate
    or skip); paging ends here because the next link lives in the page we could not read.
    """

    url: str
    index: int
    error: FhirError
    reason: str
    ok = False


@dataclass
class SearchResult:
    """Everything a search produced; iterating yields the resources."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[PageFailure] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failures

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)


def check_bundle(body: Any, *, url: str, expected: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The body as a Bundle, or :class:`MalformedResponse` naming what is wrong."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        got = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise MalformedResponse(f"expected a Bundle, got {got!s}", url=url)
    btype = body.get("type")
    if not btype:
        raise MalformedResponse("Bundle has no type", url=url)
    if btype not in BUNDLE_TYPES:
        raise MalformedResponse(f"Bundle has an unknown type {str(btype)[:40]!r}", url=url)
    if expected and btype not in expected:
        raise MalformedResponse(f"expected a {' or '.join(expected)} Bundle, got {btype}", url=url)
    entries = body.get("entry", [])
    if entries is not None and not isinstance(entries, list):
        raise MalformedResponse("Bundle.entry is not a list", url=url)
    links = body.get("link", [])
    if links is not None and not isinstance(links, list):
        raise MalformedResponse("Bundle.link is not a list", url=url)
    return body


def next_link(bundle: dict[str, Any], *, current_url: str, base_url: str) -> str | None:
    """The ``next`` link, made absolute without touching its query (opaque tokens stay byte-exact)."""
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            href = str(link["url"]).strip()
            if href.startswith(("http://", "https://")):
                return href
            if href.startswith(("/", "?")):
                return urljoin(current_url, href)
            # A bare relative link ("Patient?page=2") is relative to the service base, per FHIR.
            return base_url.rstrip("/") + "/" + href
    return None


def _version_key(resource: dict[str, Any]) -> tuple[int, Any] | None:
    meta = resource.get("meta") or {}
    vid = meta.get("versionId")
    if vid is not None and str(vid).isdigit():
        return (1, int(vid))
    updated = meta.get("lastUpdated")
    if updated:
        try:
            return (0, datetime.fromisoformat(str(updated).replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def is_newer(candidate: dict[str, Any], existing: dict[str, Any]) -> bool:
    """True when ``candidate`` is a later version than ``existing`` (by versionId, else lastUpdated)."""
    new, old = _version_key(candidate), _version_key(existing)
    if new is None or old is None:
        return False
    if new[0] != old[0]:  # one has a numeric versionId, the other only lastUpdated: compare lastUpdated
        new_u, old_u = _updated(candidate), _updated(existing)
        return bool(new_u and old_u and new_u > old_u)
    try:
        return new[1] > old[1]
    except TypeError:  # naive vs aware datetimes
        return False


def _updated(resource: dict[str, Any]) -> datetime | None:
    value = (resource.get("meta") or {}).get("lastUpdated")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


class Deduplicator:
    """Remembers (type, id) -> version key across pages; says whether a resource is new or newer."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, Any]] = {}
        self.duplicates = 0

    def admit(self, resource: dict[str, Any]) -> bool:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not rtype or not rid:
            return True  # nothing to key on; let validation downstream deal with it
        key = (str(rtype), str(rid))
        previous = self._seen.get(key)
        if previous is None:
            self._seen[key] = {"meta": resource.get("meta") or {}}
            return True
        self.duplicates += 1
        if is_newer(resource, previous):
            self._seen[key] = {"meta": resource.get("meta") or {}}
            return True
        return False


def split_entries(
    bundle: dict[str, Any], dedupe: Deduplicator | None
) -> tuple[list[dict[str, Any]], list[str], int, list[tuple[str, str]]]:
    """(resources, warnings, duplicates on this page, deleted (type, id) from history entries)."""
    resources: list[dict[str, Any]] = []
    warnings: list[str] = []
    deleted: list[tuple[str, str]] = []
    before = dedupe.duplicates if dedupe else 0
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        mode = (entry.get("search") or {}).get("mode")
        request = entry.get("request") or {}
        if mode == "outcome" or (
            isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome" and mode != "match"
        ):
            text = outcome_diagnostics(resource) if isinstance(resource, dict) else ""
            warnings.append(text or "the server attached an OperationOutcome to the search")
            continue
        if resource is None:
            if str(request.get("method", "")).upper() == "DELETE" and request.get("url"):
                parts = str(request["url"]).split("?")[0].strip("/").split("/")
                if len(parts) >= 2:
                    deleted.append((parts[-2], parts[-1]))
            continue
        if not isinstance(resource, dict):
            continue
        if dedupe is None or dedupe.admit(resource):
            resources.append(resource)
    duplicates = (dedupe.duplicates - before) if dedupe else 0
    return resources, warnings, duplicates, deleted
