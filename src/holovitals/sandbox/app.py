"""The sandbox EHR as one ASGI app: every vendor flavour at its own base path, plus admin routes.

`create_sandbox_app(store)` mounts each flavour (`/epic/api/FHIR/R4`, `/cerner/r4/{tenant}`, ...,
and the plain `/fhir/r4`). Optional collaborators plug in by interface: a SMART auth server
(`auth.router()` under every base, `auth.authenticate(...)` before every FHIR request) and a Bulk
Data exporter (`bulk.router()` under every base). Without `auth` the FHIR API is open.

A gate in front of everything checks tenants, injects faults and enforces vendor rate limits, so
those apply to the auth and bulk routes too (eClinicalWorks counts token calls against its limit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .changes import changes_router
from .faults import RAW_SEND_KEY, DropConnection, FaultRule, Faults, drop_connection, parse_fault_header
from .fhir_api import FhirApi, SandboxServices
from .flavours import Flavour, configured_flavours
from .outcomes import outcome_response
from .paging import PagingSessions
from .ratelimit import RateLimiter
from .search import Searcher
from .settings import SandboxSettings
from .store import SandboxStore

ADMIN_PREFIX = "/_sandbox"
__all__ = ["SandboxSettings", "create_sandbox_app"]


class SandboxApp(FastAPI):
    """FastAPI that keeps the server's own send() in the scope, so the `drop` fault can hang up."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND_KEY] = send
        await super().__call__(scope, receive, send)


class SandboxGate:
    """Pure-ASGI front door: tenant check, faults, rate limits, counters. Cheap on the hot path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        flavours: Iterable[Flavour],
        faults: Faults,
        limiter: RateLimiter,
        services: SandboxServices,
    ) -> None:
        self.app = app
        self.faults = faults
        self.limiter = limiter
        self.counters = services.counters
        self.matchers = []
        for flavour in flavours:
            pattern = re.escape(flavour.prefix)
            if flavour.tenant_param:
                pattern = pattern.replace(re.escape("{" + flavour.tenant_param + "}"), "([^/]+)")
            self.matchers.append((re.compile(f"^{pattern}(?=/|$)"), flavour))

    def match(self, path: str) -> tuple[Flavour | None, str | None]:
        for pattern, flavour in self.matchers:
            found = pattern.match(path)
            if found:
                return flavour, found.group(1) if flavour.tenant_param else None
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        flavour, tenant = self.match(scope["path"])
        self.counters[f"requests.{flavour.key if flavour else 'other'}"] += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counters[f"status.{message['status']}"] += 1
            await send(message)

        try:
            response = await self._intercept(scope, flavour, tenant)
            if response is not None:
                await response(scope, receive, counting_send)
                return
            await self.app(scope, receive, counting_send)
        except DropConnection:
            self.counters["dropped"] += 1
            await drop_connection(scope, send)

    async def _intercept(self, scope: Scope, flavour: Flavour | None, tenant: str | None) -> Response | None:
        if flavour is not None and flavour.tenants and tenant not in flavour.tenants:
            return outcome_response(403, f"{tenant} is not a known tenant of this {flavour.vendor} server")
        headers = Headers(scope=scope)
        one_off = headers.get("x-sandbox-fault")
        rule: FaultRule | None
        if one_off:
            try:
                rule = self.faults.one_off(parse_fault_header(one_off))
            except ValueError as exc:
                return outcome_response(400, f"X-Sandbox-Fault: {exc}")
        else:
            authorization = headers.get("authorization", "")
            rule = self.faults.take(
                path=scope["path"],
                method=scope["method"],
                flavour=flavour.key if flavour else None,
                token=authorization[7:].strip() if authorization[:7].lower() == "bearer " else None,
            )
        if rule is not None:
            response = await self.faults.perform(rule)
            if response is not None:
                return response
        limit = flavour.rate_limit_per_minute if flavour else None
        if flavour is not None and limit is not None and not self.limiter.allow(flavour.base_path(tenant), limit):
            retry = {"Retry-After": str(self.limiter.seconds_to_boundary())} if flavour.rate_limit_retry_after else {}
            message = f"more than {limit} requests this minute to this base URL"
            return outcome_response(429, message, headers=retry)
        return None


def _admin_routes(app: FastAPI, services: SandboxServices, limiter: RateLimiter) -> None:
    faults = services.faults

    @app.post(ADMIN_PREFIX + "/faults", status_code=201, include_in_schema=False)
    async def add_fault(request: Request) -> Response:
        try:
            rule = faults.add(FaultRule.from_json(orjson.loads(await request.body())))
        except (orjson.JSONDecodeError, ValueError) as exc:
            return outcome_response(400, f"not a fault rule: {exc}")
        return JSONResponse(rule.to_json(), status_code=201)

    @app.get(ADMIN_PREFIX + "/faults", include_in_schema=False)
    async def list_faults() -> Response:
        return JSONResponse([rule.to_json() for rule in faults.rules()])

    @app.delete(ADMIN_PREFIX + "/faults", status_code=204, include_in_schema=False)
    async def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @app.post(ADMIN_PREFIX + "/clients", status_code=201, include_in_schema=False)
    async def register_client(request: Request) -> Response:
        """Register a SMART client at run time, so any app can be pointed at a running sandbox."""
        auth = services.auth
        if auth is None:
            return outcome_response(404, "this sandbox runs without authorization (started with --open)")
        from .smart import ClientRegistration

        try:
            body = orjson.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            fields = {k: body[k] for k in ("client_id", "kind", "client_secret", "jwks", "jku", "name") if k in body}
            for name in ("redirect_uris", "allowed_scopes"):
                if name in body:
                    fields[name] = tuple(body[name])
            client = ClientRegistration(**fields)
            auth.register_client(client)
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            return outcome_response(400, f"not a client registration: {exc}")
        return JSONResponse({"client_id": client.client_id, "kind": client.kind}, status_code=201)

    @app.get(ADMIN_PREFIX + "/stats", include_in_schema=False)
    async def stats() -> Response:
        counters = services.counters
        return JSONResponse(
            {
                "requests": {k[9:]: v for k, v in counters.items() if k.startswith("requests.")},
                "statuses": {k[7:]: v for k, v in counters.items() if k.startswith("status.")},
                "resources_served": counters["resources_served"],
                "dropped_connections": counters["dropped"],
                "faults_fired": dict(faults.fired),
                "rate_limited": limiter.refused,
                "paging_sessions": len(services.paging),
                "resources": {t: services.store.count(t) for t in services.store.types()},
            }
        )

    @app.post(ADMIN_PREFIX + "/reset", status_code=204, include_in_schema=False)
    async def reset() -> Response:
        """Clear faults, paging sessions, rate-limit windows and counters (the data stays)."""
        faults.clear()
        faults.fired.clear()
        services.paging.clear()
        services.counters.clear()
        limiter.reset()
        return Response(status_code=204)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        if exc.status_code == 405:
            message = f"{request.method} is not supported on {request.url.path}"
        return outcome_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return outcome_response(400, "the request is malformed")


def create_sandbox_app(
    store: SandboxStore,
    *,
    auth: Any | None = None,
    bulk: Any | None = None,
    settings: SandboxSettings | None = None,
) -> FastAPI:
    """Every flavour over one store. ``app.state`` holds store, faults, paging, settings and flavours."""
    settings = settings or SandboxSettings()
    flavours = configured_flavours(settings.flavour_overrides, ecw_requests_per_minute=settings.ecw_requests_per_minute)
    paging = PagingSessions(
        ttl_s=settings.paging_ttl_s, clock=settings.clock, max_sessions=settings.max_paging_sessions
    )
    faults = Faults(expire_tokens=getattr(auth, "expire_all_tokens", None), expire_paging=paging.expire_all)
    services = SandboxServices(store, settings, paging, Searcher(store), faults, auth=auth, bulk=bulk)
    limiter = RateLimiter(settings.clock)

    app = SandboxApp(title="HoloVitals sandbox EHR", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.faults = faults
    app.state.paging = paging
    app.state.settings = settings
    app.state.services = services
    app.state.flavours = {f.key: f for f in flavours}
    app.state.auth = auth
    app.state.bulk = bulk

    auth_router = auth.router() if auth is not None else None
    bulk_router = bulk.router() if bulk is not None else None
    if bulk is not None:
        from .bulk_policy import VENDOR_BULK_POLICIES

        # The exporter looks its per-flavour rules up here, keyed by base path template.
        app.state.bulk_policies = {
            f.prefix: VENDOR_BULK_POLICIES[f.key] for f in flavours if f.key in VENDOR_BULK_POLICIES
        }
    for flavour in flavours:
        # Order matters: the collaborators' fixed paths (/auth/token, /Patient/$export) must win
        # over the FHIR API's /{type}/{id} patterns.
        if auth_router is not None:
            app.include_router(auth_router, prefix=flavour.prefix)
        if bulk_router is not None:
            app.include_router(bulk_router, prefix=flavour.prefix)
        if flavour.subscriptions:
            from .subscriptions import SubscriptionNotifier

            notifier = SubscriptionNotifier(store)
            app.state.subscriptions = notifier
            app.include_router(notifier.router(), prefix=flavour.prefix)
        app.include_router(FhirApi(flavour, services).router(smart_configuration=auth is None))
    _admin_routes(app, services, limiter)
    app.include_router(changes_router(store))  # POST /_sandbox/mutate, for `holovitals sandbox mutate`
    _error_handlers(app)
    app.add_middleware(SandboxGate, flavours=flavours, faults=faults, limiter=limiter, services=services)
    return app
