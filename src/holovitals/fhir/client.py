"""FhirClient: the R4 REST interactions HoloVitals uses, over the retrying transport.

Reads raise typed errors; searches never raise for a page: each page is yielded as a :class:`Page`
or, when it still fails after retries, as a :class:`PageFailure` carrying the typed error and the
reason, so the sync runner records it instead of silently syncing less than it thinks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from holovitals.fhir.bundle import (
    Deduplicator,
    Page,
    PageFailure,
    SearchResult,
    check_bundle,
    next_link,
    split_entries,
)
from holovitals.fhir.errors import FhirError, MalformedResponse, NotFound, redact_url
from holovitals.fhir.http import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    TokenProvider,
    Transport,
    etag_version,
    parse_json_resource,
)
from holovitals.fhir.ratelimit import RateLimit

Params = Mapping[str, str | int | Sequence[str]] | Sequence[tuple[str, str]]


@dataclass
class WriteResult:
    """What a create/update/delete answered: the server's copy when it sent one, and its version."""

    status: int
    resource: dict[str, Any] | None
    id: str | None
    version_id: str | None
    location: str | None
    last_modified: str | None


@dataclass
class EntryResponse:
    """One entry of a batch/transaction response."""

    status: int
    location: str | None
    etag: str | None
    resource: dict[str, Any] | None
    outcome: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class BatchResult:
    bundle: dict[str, Any]
    entries: list[EntryResponse]

    @property
    def failed(self) -> list[tuple[int, EntryResponse]]:
        return [(i, e) for i, e in enumerate(self.entries) if not e.ok]


def _pairs(params: Params | None) -> list[tuple[str, str]]:
    if not params:
        return []
    if isinstance(params, Mapping):
        out: list[tuple[str, str]] = []
        for key, value in params.items():
            if isinstance(value, (list, tuple)):
                out.extend((key, str(v)) for v in value)
            else:
                out.append((key, str(value)))
        return out
    return [(str(k), str(v)) for k, v in params]


def if_match_header(version: str | int) -> str:
    """``3`` -> ``W/"3"``; a full ETag is passed through."""
    text = str(version).strip()
    if text.startswith(('W/"', '"')):
        return text
    return f'W/"{text}"'


def _segment(value: str) -> str:
    return quote(str(value), safe="-._~")


class FhirClient:
    """An R4 client for one FHIR base URL (one connection of one user)."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        auth: TokenProvider | None = None,
        rate_limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        page_size_param: str = "_count",
        version_conflict_statuses: tuple[int, ...] = (409, 412),
        extra_headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size_param = page_size_param
        self.transport = transport or Transport(
            http,
            auth=auth,
            retry=retry or RetryPolicy(),
            rate_limit=rate_limit,
            extra_headers=extra_headers,
            version_conflict_statuses=version_conflict_statuses,
            timeout=timeout,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled httpx client (pass it to SMART calls so token requests share pool and rate limit)."""
        return self.transport.http

    @property
    def stats(self) -> Any:
        return self.transport.stats

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def url(self, *segments: str) -> str:
        return "/".join([self.base_url, *(_segment(s) for s in segments)])

    # -- reads -------------------------------------------------------------------------------
    async def capabilities(self) -> dict[str, Any]:
        url = self.url("metadata")
        response = await self.transport.send("GET", url)
        return parse_json_resource(response, url=url, expect="CapabilityStatement")

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        url = self.url(resource_type, resource_id)
        response = await self.transport.send("GET", url)
        return parse_json_resource(response, url=url, expect=resource_type)

    async def vread(self, resource_type: str, resource_id: str, version_id: str | int) -> dict[str, Any]:
        url = self.url(resource_type, resource_id, "_history", str(version_id))
        response = await self.transport.send("GET", url)
        return parse_json_resource(response, url=url, expect=resource_type)

    # -- search ------------------------------------------------------------------------------
    async def search_pages(
        self,
        resource_type: str | None,
        params: Params | None = None,
        *,
        page_size: int | None = None,
        max_pages: int | None = None,
        dedupe: bool = True,
        via_post: bool = False,
    ) -> AsyncIterator[Page | PageFailure]:
        """Yield each page of a search; a failing page is yielded as :class:`PageFailure` and ends paging.

        ``resource_type=None`` searches the whole system. ``via_post`` uses ``POST [type]/_search``
        (long queries, or parameters that must not appear in access logs).
        """
        pairs = _pairs(params)
        if page_size is not None:
            pairs = [(k, v) for k, v in pairs if k != self.page_size_param] + [(self.page_size_param, str(page_size))]
        first = self.url(resource_type) if resource_type else self.base_url
        async for page in self._pages(first, pairs, max_pages=max_pages, dedupe=dedupe, via_post=via_post):
            yield page

    search = search_pages

    async def search_all(
        self,
        resource_type: str | None,
        params: Params | None = None,
        *,
        page_size: int | None = None,
        max_pages: int | None = None,
        via_post: bool = False,
    ) -> SearchResult:
        """Every resource of a search (deduplicated), with warnings and any page failures recorded."""
        result = SearchResult()
        pages = self.search_pages(resource_type, params, page_size=page_size, max_pages=max_pages, via_post=via_post)
        await _collect(pages, result)
        return result

    async def history(
        self,
        resource_type: str | None = None,
        resource_id: str | None = None,
        *,
        since: str | None = None,
        count: int | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[Page | PageFailure]:
        """History pages (instance, type or system level). Versions are not de-duplicated: that is the point."""
        segments = [s for s in (resource_type, resource_id) if s]
        url = self.url(*segments, "_history")
        pairs: list[tuple[str, str]] = []
        if since:
            pairs.append(("_since", since))
        if count:
            pairs.append((self.page_size_param, str(count)))
        async for page in self._pages(url, pairs, max_pages=max_pages, dedupe=False, expected=("history",)):
            yield page

    async def history_all(self, *args: Any, **kwargs: Any) -> SearchResult:
        result = SearchResult()
        await _collect(self.history(*args, **kwargs), result)
        return result

    async def _pages(
        self,
        first_url: str,
        params: list[tuple[str, str]],
        *,
        max_pages: int | None,
        dedupe: bool,
        via_post: bool = False,
        expected: tuple[str, ...] = ("searchset",),
    ) -> AsyncIterator[Page | PageFailure]:
        dedup = Deduplicator() if dedupe else None
        seen: set[str] = set()
        url: str | None = first_url
        index = 0
        while url is not None:
            is_next = index > 0
            try:
                if is_next:
                    response = await self.transport.send("GET", url, next_link=True)
                elif via_post:
                    response = await self.transport.send(
                        "POST",
                        url.rstrip("/") + "/_search",
                        content=urlencode(params).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                        idempotent=True,
                    )
                else:
                    response = await self.transport.send("GET", url, params=params or None)
                shown = str(response.request.url)
                seen.add(shown if not is_next else url)
                bundle = check_bundle(
                    parse_json_resource(response, url=shown), url=shown, expected=(*expected, "collection")
                )
            except FhirError as error:
                yield PageFailure(url=error.url or url, index=index, error=error, reason=str(error))
                return
            resources, warnings, duplicates, deleted = split_entries(bundle, dedup)
            total = bundle.get("total")
            yield Page(
                resources=resources,
                url=error_safe(shown),
                index=index,
                warnings=warnings,
                duplicates=duplicates,
                deleted=deleted,
                total=total if isinstance(total, int) else None,
            )
            index += 1
            if max_pages is not None and index >= max_pages:
                return
            following = next_link(bundle, current_url=shown, base_url=self.base_url)
            if following is None:
                return
            if following in seen:
                error = MalformedResponse(
                    "the server returned a next link it had already given (paging loop); stopped", url=following
                )
                yield PageFailure(url=error.url or "", index=index, error=error, reason=str(error))
                return
            seen.add(following)
            url = following

    # -- writes ------------------------------------------------------------------------------
    async def create(
        self, resource: dict[str, Any], *, if_none_exist: str | None = None, return_minimal: bool = False
    ) -> WriteResult:
        """POST a new resource. A timeout here raises ``OutcomeUnknown``: search before creating again."""
        rtype = _resource_type(resource)
        headers = {"Prefer": "return=minimal" if return_minimal else "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        url = self.url(rtype)
        response = await self.transport.send("POST", url, json=resource, headers=headers)
        return _write_result(response, url)

    async def update(
        self, resource: dict[str, Any], *, if_match: str | int | None = None, return_minimal: bool = False
    ) -> WriteResult:
        """PUT a resource; with ``if_match`` the server refuses (409/412 -> ``VersionConflict``) if it changed.

        Send ``if_match`` only where the server versions (the vendor profile says; NextGen and
        Veradigm are ``no-version`` and ignore or reject it).
        """
        rtype = _resource_type(resource)
        rid = resource.get("id")
        if not rid:
            raise ValueError("update needs a resource with an id")
        headers = {"Prefer": "return=minimal" if return_minimal else "return=representation"}
        if if_match is not None:
            headers["If-Match"] = if_match_header(if_match)
        url = self.url(rtype, str(rid))
        response = await self.transport.send("PUT", url, json=resource, headers=headers)
        return _write_result(response, url)

    async def delete(self, resource_type: str, resource_id: str, *, missing_ok: bool = True) -> WriteResult:
        """DELETE; a retried delete that finds nothing already deleted is a success with ``missing_ok``."""
        url = self.url(resource_type, resource_id)
        try:
            response = await self.transport.send("DELETE", url)
        except NotFound as exc:
            if not missing_ok:
                raise
            return WriteResult(exc.status or 404, None, resource_id, None, None, None)
        return _write_result(response, url)

    async def batch(self, bundle: dict[str, Any]) -> BatchResult:
        """POST a batch Bundle; entries succeed or fail one by one (see ``BatchResult.failed``)."""
        return await self._bundle_post(bundle, "batch")

    async def transaction(self, bundle: dict[str, Any]) -> BatchResult:
        """POST a transaction Bundle: all or nothing. A timeout raises ``OutcomeUnknown``."""
        return await self._bundle_post(bundle, "transaction")

    async def _bundle_post(self, bundle: dict[str, Any], kind: str) -> BatchResult:
        if bundle.get("resourceType") != "Bundle":
            raise ValueError(f"{kind} needs a Bundle")
        body = {**bundle, "type": kind}
        response = await self.transport.send("POST", self.base_url, json=body, idempotent=False)
        shown = str(response.request.url)
        answer = check_bundle(parse_json_resource(response, url=shown), url=shown, expected=(f"{kind}-response",))
        entries = [_entry_response(e) for e in answer.get("entry") or [] if isinstance(e, dict)]
        return BatchResult(bundle=answer, entries=entries)


def error_safe(url: str) -> str:
    return redact_url(url) or ""


async def _collect(pages: AsyncIterator[Page | PageFailure], result: SearchResult) -> None:
    async for page in pages:
        if isinstance(page, PageFailure):
            result.failures.append(page)
            continue
        result.pages += 1
        result.resources.extend(page.resources)
        result.duplicates += page.duplicates
        result.warnings.extend(page.warnings)
        result.deleted.extend(page.deleted)
    if result.duplicates:
        # A newer copy seen on a later page replaced the older one in the stream; keep only the newest.
        newest: dict[tuple[str, str], int] = {}
        for i, res in enumerate(result.resources):
            newest[(str(res.get("resourceType")), str(res.get("id")))] = i
        result.resources = [
            r
            for i, r in enumerate(result.resources)
            if not r.get("id") or newest[(str(r.get("resourceType")), str(r.get("id")))] == i
        ]


def _resource_type(resource: dict[str, Any]) -> str:
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if not rtype:
        raise ValueError("a resource needs a resourceType")
    return str(rtype)


def _write_result(response: httpx.Response, url: str) -> WriteResult:
    resource: dict[str, Any] | None = None
    if response.content:
        body = parse_json_resource(response, url=url)
        if body.get("resourceType") != "OperationOutcome":
            resource = body
    location = response.headers.get("Location") or response.headers.get("Content-Location")
    version = etag_version(response.headers.get("ETag"))
    rid = resource.get("id") if resource else None
    if location:
        parts = location.split("/_history/")
        if version is None and len(parts) == 2:
            version = parts[1].strip("/").split("/")[0] or None
        rid = rid or parts[0].rstrip("/").rsplit("/", 1)[-1]
    if version is None and resource:
        version = (resource.get("meta") or {}).get("versionId")
    last_modified = (resource or {}).get("meta", {}).get("lastUpdated") or response.headers.get("Last-Modified")
    return WriteResult(response.status_code, resource, rid, version, location, last_modified)


def _entry_response(entry: dict[str, Any]) -> EntryResponse:
    answer = entry.get("response") or {}
    status_text = str(answer.get("status", "")).strip()
    try:
        status = int(status_text.split()[0])
    except (ValueError, IndexError):
        status = 0
    resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else None
    outcome = answer.get("outcome") if isinstance(answer.get("outcome"), dict) else None
    if resource and resource.get("resourceType") == "OperationOutcome" and outcome is None:
        outcome, resource = resource, None
    return EntryResponse(status, answer.get("location"), answer.get("etag"), resource, outcome)
