"""The FHIR R4 REST API of one flavour: read, vread, search, create, update, delete, history,
Patient/$everything, Binary and /metadata, answering as that vendor answers.

Handlers are thin: they parse, check the flavour's rules, and paste stored bytes into responses
(see `bundles`). Every failure is a `FhirError` turned into an OperationOutcome carrying the
vendor's own error number where it has one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from .access import Access, Answer
from .bodies import etag_matches, if_match_version, parse_resource
from .bundles import RecordRenderer, history, searchset
from .capability import capability_statement, minimal_smart_configuration
from .dates import parse_fhir_date
from .faults import Faults
from .flavours import US_CORE_TYPES, Flavour
from .outcomes import FHIR_JSON, FhirError, error_response, outcome_bytes, outcome_response
from .paging import PageExpired, PagingSession, PagingSessions
from .search import Searcher, check_practice, parse_query
from .settings import SandboxSettings
from .store import (
    Gone,
    InvalidResource,
    NotFound,
    Record,
    SandboxStore,
    VersionConflict,
    patient_of,
)


@dataclass
class SandboxServices:
    """What every flavour's API shares: the data, paging sessions, faults and collaborators."""

    store: SandboxStore
    settings: SandboxSettings
    paging: PagingSessions
    searcher: Searcher
    faults: Faults
    auth: Any | None = None
    bulk: Any | None = None
    counters: Counter[str] = field(default_factory=Counter)


def _guard(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    @functools.wraps(handler)
    async def wrapper(self: FhirApi, request: Request, **params: str) -> Response:
        try:
            return await handler(self, request, **params)
        except FhirError as exc:
            return error_response(exc, self.flavour)
        except Answer as answer:
            return answer.response

    return wrapper


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in pairs if k == name), None)


def _strict(request: Request) -> bool:
    return "handling=strict" in request.headers.get("prefer", "").replace(" ", "")


def _wants_fhir(request: Request) -> bool:
    fmt = request.query_params.get("_format", "")
    accept = request.headers.get("accept", "")
    return "json" in fmt or "fhir+json" in accept or "application/json" in accept


def _patient_hint(rtype: str, pairs: list[tuple[str, str]], id_aliases: tuple[str, ...]) -> str | None:
    """The one patient a search names, for the SMART check (None when it names none or several)."""
    names = ("_id", *id_aliases) if rtype == "Patient" else ("patient", "subject")
    values = [v for k, v in pairs if k in names]
    if len(values) != 1 or "," in values[0]:
        return None
    return values[0].rstrip("/").split("/")[-1]


class FhirApi:
    """The routes of one flavour (`router()`, paths carry the flavour's prefix) and their handlers."""

    def __init__(self, flavour: Flavour, services: SandboxServices) -> None:
        self.flavour = flavour
        self.s = services
        self.render = RecordRenderer(flavour)
        self.tenant_param = flavour.tenant_param
        self.access = Access(services.auth, services.store, services.faults, flavour.key)

    # ------------------------------------------------------------------ wiring

    def router(self, *, smart_configuration: bool) -> APIRouter:
        """Routes at the flavour's full prefix (mount without one). Plain Starlette routes: no
        per-route signature analysis at start-up, no dependency solving per request."""
        r = APIRouter()
        prefix = self.flavour.prefix

        def add(path: str, handler: Callable[..., Awaitable[Response]], method: str) -> None:
            names = re.findall(r"{(\w+)}", path)

            async def endpoint(request: Request) -> Response:
                return await handler(request, **{name: request.path_params[name] for name in names})

            r.add_route(prefix + path, endpoint, methods=[method], include_in_schema=False)

        add("", self.base, "GET")
        add("/", self.base, "GET")
        add("/metadata", self.metadata, "GET")
        if smart_configuration:
            add("/.well-known/smart-configuration", self.smart_configuration, "GET")
        add("/{rtype}", self.search_get, "GET")
        add("/{rtype}", self.create, "POST")
        add("/{rtype}/_search", self.search_post, "POST")
        add("/{rtype}/{rid}", self.read, "GET")
        add("/{rtype}/{rid}", self.update, "PUT")
        add("/{rtype}/{rid}", self.delete, "DELETE")
        add("/{rtype}/{rid}/_history", self.history, "GET")
        add("/{rtype}/{rid}/_history/{vid}", self.vread, "GET")
        add("/{rtype}/{rid}/{operation}", self.operation, "GET")
        return r

    def base_url(self, request: Request) -> str:
        tenant = request.path_params.get(self.tenant_param) if self.tenant_param else None
        return f"{request.url.scheme}://{request.url.netloc}{self.flavour.base_path(tenant)}"

    # ------------------------------------------------------------------ checks

    def _types(self) -> set[str]:
        return US_CORE_TYPES | set(self.s.store.types())

    def _check_type(self, rtype: str) -> None:
        if rtype not in self._types():
            raise FhirError(404, f"Unknown resource type {rtype!r}", code="not-supported")

    def _check_format(self, request: Request, *, binary: bool = False) -> None:
        if not self.flavour.xml_not_acceptable:
            return
        fmt = request.query_params.get("_format", "")
        accept = request.headers.get("accept", "")
        prefers_xml = "fhir+xml" in accept if binary else ("xml" in accept and "json" not in accept)
        if "xml" in fmt or prefers_xml:
            raise FhirError(406, f"{self.flavour.vendor} answers in JSON only (application/fhir+json)")

    def _writes_allowed(self, allowed: bool, what: str) -> None:
        if self.s.settings.enforce_vendor_write_support and not allowed:
            raise FhirError(405, f"{what} is not supported by {self.flavour.vendor}")

    async def _auth(self, request: Request, interaction: str, rtype: str, patient_id: str | None) -> Any:
        return await self.access.authenticate(request, self.base_url(request), interaction, rtype, patient_id)

    def _get(self, rtype: str, rid: str) -> Record:
        try:
            return self.s.store.get(rtype, rid)
        except NotFound:
            raise FhirError(404, f"{rtype}/{rid} is not known", kind="not-found") from None
        except Gone:
            raise FhirError(410, f"{rtype}/{rid} has been deleted") from None

    # ------------------------------------------------------------------ discovery

    async def metadata(self, request: Request) -> Response:
        base = self.base_url(request)
        security = getattr(self.s.auth, "capability_security", None)
        body = capability_statement(
            self.flavour,
            base,
            self._types(),
            bulk=self.s.bulk is not None,
            write_limits=self.s.settings.enforce_vendor_write_support,
            security=security(base) if callable(security) else None,
        )
        return Response(orjson.dumps(body), media_type=FHIR_JSON)

    async def smart_configuration(self, request: Request) -> Response:
        body = minimal_smart_configuration(self.base_url(request))
        return Response(orjson.dumps(body), media_type="application/json")

    # ------------------------------------------------------------------ search

    @_guard
    async def base(self, request: Request) -> Response:
        token = request.query_params.get(self.flavour.page_param)
        if token is None:
            raise FhirError(400, "searching across all types is not supported; search one resource type")
        return await self._continue(request, token, expected_path=None)

    @_guard
    async def search_get(self, request: Request, rtype: str) -> Response:
        return await self._search(request, rtype, list(request.query_params.multi_items()))

    @_guard
    async def search_post(self, request: Request, rtype: str) -> Response:
        body = await request.body()
        if body and "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            raise FhirError(415, "POST _search takes application/x-www-form-urlencoded parameters")
        pairs = list(request.query_params.multi_items())
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return await self._search(request, rtype, pairs)

    async def _search(self, request: Request, rtype: str, pairs: list[tuple[str, str]]) -> Response:
        self._check_type(rtype)
        self._check_format(request)
        token = _first(pairs, self.flavour.page_param)
        if token is not None:
            return await self._continue(request, token, expected_path=rtype)
        ctx = await self._auth(request, "search", rtype, _patient_hint(rtype, pairs, self.flavour.id_aliases))
        check_practice(self.flavour, pairs)
        q = parse_query(self.flavour, rtype, pairs, strict=_strict(request))
        patient = self.access.confine_search(q, ctx)
        records = self.s.searcher.run(q)
        self._check_caps(rtype, len(records))
        base = self.base_url(request)
        self_url = f"{base}/{rtype}" + (f"?{urlencode(q.applied)}" if q.applied else "")
        if q.summary_count or q.count == 0:
            return self._searchset(base, [], len(records), self_url, None)
        size = min(q.count, self.flavour.max_page_size) if q.count else self.flavour.default_page_size
        if self.flavour.count_ignored_with_id and q.ids is not None:
            size = max(1, len(records))  # Oracle Health ignores _count when _id is given
        return self._first_page(base, rtype, records, size, self_url, q.applied, patient)

    def _check_caps(self, rtype: str, n: int) -> None:
        f = self.flavour
        if rtype == "Patient" and f.patient_search_cap is not None and n > f.patient_search_cap:
            raise FhirError(
                400,
                f"{n} patients match, more than {f.patient_search_cap}; refine the search",
                kind="too-many-patients",
            )
        if rtype != "Patient" and f.result_cap is not None and n > f.result_cap:
            raise FhirError(400, f"{n} results match, more than {f.result_cap}; narrow the search", kind="result-cap")

    def _first_page(
        self,
        base: str,
        path: str,
        records: list[Record],
        size: int,
        self_url: str,
        applied: list[tuple[str, str]],
        patient: str | None,
    ) -> Response:
        if len(records) <= size:
            outcome = None
            if not records and self.flavour.empty_search_outcome:
                message = "No resources match the search"
                outcome = outcome_bytes(
                    message, code="informational", severity="warning", flavour=self.flavour, kind="no-results"
                )
            self.s.counters["resources_served"] += len(records)
            return self._searchset(base, records, len(records), self_url, None, outcome)
        session = self.s.paging.open(
            flavour_key=self.flavour.key,
            path=path,
            records=records,
            page_size=size,
            applied=applied,
            overlap=self.flavour.page_overlap,
            patient=patient,
        )
        return self._page(base, session, 0, self_url)

    def _page(self, base: str, session: PagingSession, offset: int, self_url: str) -> Response:
        chunk = session.records[offset : offset + session.page_size]
        following = session.next_offset(offset, len(chunk))
        next_url = None
        if following is not None:
            token = quote(self.s.paging.token_for(session, following), safe="")
            param = self.flavour.page_param
            next_url = (
                f"{base}?{param}={token}" if self.flavour.next_on_base else f"{base}/{session.path}?{param}={token}"
            )
        self.s.counters["resources_served"] += len(chunk)
        return self._searchset(base, chunk, session.total, self_url, next_url)

    async def _continue(self, request: Request, token: str, *, expected_path: str | None) -> Response:
        try:
            session, offset = self.s.paging.resolve(token)
        except PageExpired as exc:
            raise FhirError(self.flavour.page_expired_status, str(exc), kind="page-expired") from None
        if session.flavour_key != self.flavour.key or (expected_path is not None and session.path != expected_path):
            raise FhirError(400, "this paging token belongs to another search", kind="invalid-param")
        rtype = session.path.split("/")[0]
        interaction = "everything" if session.path.endswith("$everything") else "search"
        ctx = await self._auth(request, interaction, rtype, session.patient)
        patient = getattr(ctx, "patient", None)
        if patient and session.patient != patient:
            raise FhirError(403, f"this token is limited to Patient/{patient}'s records")
        return self._page(self.base_url(request), session, offset, str(request.url))

    @staticmethod
    def _bundle(content: bytes) -> Response:
        return Response(content, media_type=FHIR_JSON)

    def _searchset(
        self,
        base: str,
        records: list[Record],
        total: int,
        self_url: str,
        next_url: str | None,
        outcome: bytes | None = None,
    ) -> Response:
        content = searchset(
            base=base,
            records=records,
            total=total,
            self_url=self_url,
            next_url=next_url,
            render=self.render,
            outcome=outcome,
        )
        return Response(content, media_type=FHIR_JSON)

    # ------------------------------------------------------------------ reads

    def _headers(self, record: Record) -> dict[str, str]:
        headers = {"Last-Modified": format_datetime(record.last_updated, usegmt=True)}
        if self.flavour.versioning:
            headers["ETag"] = f'W/"{record.version}"'
        return headers

    def _current(self, rtype: str, rid: str) -> tuple[Record | None, FhirError | None]:
        """The record, or the error to raise once the caller is authenticated (401 before 404)."""
        try:
            return self._get(rtype, rid), None
        except FhirError as exc:
            return None, exc

    def _patient_of_target(self, rtype: str, rid: str, record: Record | None) -> str | None:
        if rtype == "Patient":
            return rid
        return self.access.owner(record) if record is not None else None

    @_guard
    async def read(self, request: Request, rtype: str, rid: str) -> Response:
        self._check_type(rtype)
        if rid == "_history":
            raise FhirError(405, "type-level history is not supported")
        if rid == "_search":
            return await self._search(request, rtype, list(request.query_params.multi_items()))
        binary = rtype == "Binary"
        self._check_format(request, binary=binary)
        record, missing = self._current(rtype, rid)
        ctx = await self._auth(request, "read", rtype, self._patient_of_target(rtype, rid, record))
        if record is None:
            raise missing or FhirError(404, f"{rtype}/{rid} is not known")
        self.access.confine_record(record, ctx)
        headers = self._headers(record)
        if binary and not _wants_fhir(request):
            body = record.body
            try:
                data = base64.b64decode(body.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise FhirError(500, f"Binary/{rid} holds data that is not base64") from None
            return Response(data, media_type=body.get("contentType") or "application/octet-stream", headers=headers)
        if self.flavour.versioning and etag_matches(request.headers.get("if-none-match"), record.version):
            return Response(status_code=304, headers=headers)
        return Response(self.render.render(record), media_type=FHIR_JSON, headers=headers)

    @_guard
    async def vread(self, request: Request, rtype: str, rid: str, vid: str) -> Response:
        self._check_type(rtype)
        if not self.flavour.history:
            raise FhirError(405, f"{self.flavour.vendor} does not support reading past versions")
        try:
            record = self.s.store.get_version(rtype, rid, int(vid)) if vid.isdigit() else None
        except NotFound:
            record = None
        ctx = await self._auth(request, "vread", rtype, self._patient_of_target(rtype, rid, record))
        if record is None:
            raise FhirError(404, f"{rtype}/{rid} has no version {vid}", kind="not-found")
        if record.deleted:
            raise FhirError(410, f"{rtype}/{rid} version {vid} is a deletion")
        self.access.confine_record(record, ctx)
        return Response(self.render.render(record), media_type=FHIR_JSON, headers=self._headers(record))

    @_guard
    async def history(self, request: Request, rtype: str, rid: str) -> Response:
        self._check_type(rtype)
        if not self.flavour.history:
            raise FhirError(405, f"{self.flavour.vendor} does not support _history")
        try:
            versions = self.s.store.history(rtype, rid)
        except NotFound:
            versions = []
        latest = versions[0] if versions else None
        ctx = await self._auth(request, "history", rtype, self._patient_of_target(rtype, rid, latest))
        if latest is None:
            raise FhirError(404, f"{rtype}/{rid} is not known", kind="not-found")
        self.access.confine_record(latest, ctx)
        base = self.base_url(request)
        return self._bundle(history(base=base, records=versions, self_url=str(request.url), render=self.render))

    @_guard
    async def operation(self, request: Request, rtype: str, rid: str, operation: str) -> Response:
        self._check_type(rtype)
        if rtype != "Patient" or operation != "$everything":
            raise FhirError(404, f"{rtype}/{rid}/{operation} is not supported here", code="not-supported")
        return await self._everything(request, rid)

    async def _everything(self, request: Request, rid: str) -> Response:
        pairs = list(request.query_params.multi_items())
        path = f"Patient/{rid}/$everything"
        token = _first(pairs, self.flavour.page_param)
        if token is not None:
            return await self._continue(request, token, expected_path=path)
        ctx = await self._auth(request, "everything", "Patient", rid)
        patient = getattr(ctx, "patient", None)
        if patient and patient != rid:
            raise FhirError(403, f"this token is limited to Patient/{patient}")
        self._get("Patient", rid)
        records = self.s.store.patient_compartment(rid)
        applied: list[tuple[str, str]] = []
        types = _first(pairs, "_type")
        if types:
            wanted = set(types.split(","))
            records = [r for r in records if r.resource_type in wanted]
            applied.append(("_type", types))
        since = _first(pairs, "_since")
        if since:
            try:
                lo = parse_fhir_date(since).lo
            except ValueError:
                raise FhirError(400, f"_since={since} is not an instant", kind="invalid-param") from None
            records = [r for r in records if r.last_updated >= lo]
            applied.append(("_since", since))
        count = _first(pairs, self.flavour.count_param)
        if count is not None and not count.isdigit():
            raise FhirError(400, f"{self.flavour.count_param}={count} is not a non-negative integer")
        size = min(int(count), self.flavour.max_page_size) if count and int(count) else self.flavour.default_page_size
        base = self.base_url(request)
        self_url = f"{base}/{path}" + (f"?{urlencode(applied)}" if applied else "")
        return self._first_page(base, path, records, size, self_url, applied, rid)

    # ------------------------------------------------------------------ writes

    async def _read_body(self, request: Request, rtype: str) -> dict[str, Any]:
        return parse_resource(
            await request.body(),
            request.headers.get("content-type", ""),
            rtype,
            vendor=self.flavour.vendor,
            reject_modifier_extension=self.flavour.reject_modifier_extension,
        )

    def _if_match(self, request: Request) -> int | None:
        if not self.flavour.versioning:
            return None  # NextGen and Veradigm have no versions and ignore If-Match
        return if_match_version(request.headers.get("if-match"))

    def _written(self, request: Request, record: Record, status: int) -> Response:
        headers = self._headers(record)
        location = f"{self.base_url(request)}/{record.resource_type}/{record.id}"
        headers["Location"] = f"{location}/_history/{record.version}" if self.flavour.versioning else location
        prefer = request.headers.get("prefer", "")
        if "return=minimal" in prefer:
            return Response(status_code=status, headers=headers)
        if "return=OperationOutcome" in prefer:
            message = f"{record.resource_type}/{record.id} stored"
            return outcome_response(status, message, code="informational", headers=headers)
        return Response(self.render.render(record), status_code=status, media_type=FHIR_JSON, headers=headers)

    @_guard
    async def create(self, request: Request, rtype: str) -> Response:
        self._check_type(rtype)
        self._check_format(request)
        self._writes_allowed(self.flavour.can_create(rtype), f"create on {rtype}")
        body = await self._read_body(request, rtype)
        ctx = await self._auth(request, "create", rtype, patient_of(body))
        self.access.confine_write(body, ctx)
        body.pop("id", None)  # the server assigns ids on create
        try:
            record = self.s.store.create(body)
        except InvalidResource as exc:
            raise FhirError(422, str(exc)) from None
        return self._written(request, record, 201)

    @_guard
    async def update(self, request: Request, rtype: str, rid: str) -> Response:
        self._check_type(rtype)
        self._check_format(request)
        self._writes_allowed(self.flavour.can_update(rtype), f"update on {rtype}")
        body = await self._read_body(request, rtype)
        if body.get("id") != rid:
            raise FhirError(400, f"the resource id ({body.get('id')}) must match the URL ({rid})", expression="id")
        if_match = self._if_match(request)
        ctx = await self._auth(request, "update", rtype, patient_of(body))
        self.access.confine_write(body, ctx)
        with contextlib.suppress(NotFound, Gone):
            self.access.confine_record(self.s.store.get(rtype, rid), ctx)
        try:
            record, created = self.s.store.update(body, rid, if_match=if_match)
        except VersionConflict as exc:
            raise FhirError(
                self.flavour.version_conflict_status,
                f"If-Match version {if_match} is not the current version ({exc.current})",
                code="conflict",
            ) from None
        except InvalidResource as exc:
            raise FhirError(422, str(exc)) from None
        return self._written(request, record, 201 if created else 200)

    @_guard
    async def delete(self, request: Request, rtype: str, rid: str) -> Response:
        self._check_type(rtype)
        self._writes_allowed(self.flavour.delete_supported, f"delete on {rtype}")
        current, missing = self._current(rtype, rid)
        ctx = await self._auth(request, "delete", rtype, self._patient_of_target(rtype, rid, current))
        if current is None:
            if missing is not None and missing.status == 410:
                return Response(status_code=204)  # deleting twice is not an error
            raise missing or FhirError(404, f"{rtype}/{rid} is not known")
        self.access.confine_record(current, ctx)
        if_match = self._if_match(request)
        try:
            self.s.store.delete(rtype, rid, if_match=if_match)
        except VersionConflict as exc:
            raise FhirError(
                self.flavour.version_conflict_status, f"If-Match version {if_match} is not current ({exc.current})"
            ) from None
        except Gone:
            pass
        return Response(status_code=204)
