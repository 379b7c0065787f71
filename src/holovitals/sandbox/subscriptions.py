"""R4 Subscriptions Backport rest-hook notifier of the sandbox (the athenahealth flavour offers it).

Routes (mount under the athena base, `/athena/fhir/r4`): `POST /Subscription`,
`GET|DELETE /Subscription/{id}`, `GET /Subscription/{id}/$status`.

The store calls :meth:`SubscriptionNotifier.on_store_event` from inside its write lock, so that
listener only enqueues; one dispatcher thread matches changes to subscriptions in store order and
numbers them, and each subscription's :class:`Channel` thread delivers (see subscription_delivery).

Signing: every POST carries `X-Sandbox-Signature: sha256=<hex HMAC of the body>`. The secret is
the client's own `channel.header` entry `X-Sandbox-Secret: <at least 16 chars>` (never sent back
out, masked on read), or, without one, a generated secret returned once in the create response
as the extension `https://holovitals.dev/fhir/StructureDefinition/subscription-secret`.
"""

from __future__ import annotations

import queue
import threading
import uuid
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from holovitals.sandbox.outcomes import FHIR_JSON, outcome_response
from holovitals.sandbox.store import NotFound, Record, SandboxStore, format_instant
from holovitals.sandbox.subscription_delivery import Channel
from holovitals.sandbox.subscription_spec import (
    SECRET_EXTENSION,
    SUBSCRIPTION_PROFILE,
    SubscriptionInvalid,
    parse_subscription,
    public_view,
)

_STOP = object()


class SubscriptionNotifier:
    """Holds the subscriptions of one sandbox app and turns store changes into notifications."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        retries: int = 2,
        retry_backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.transport = transport
        self._lock = threading.Lock()
        self._subscriptions: dict[str, tuple[dict[str, Any], Channel]] = {}
        self._events: queue.Queue[Any] = queue.Queue()
        self._dispatcher = threading.Thread(target=self._dispatch, name="subscription-dispatch", daemon=True)
        self._dispatcher.start()
        store.listeners.append(self.on_store_event)

    # ------------------------------------------------------------------ store side

    def on_store_event(self, event: str, record: Record) -> None:
        """Store listener: called under the store lock, so it must not block."""
        if self._subscriptions:
            self._events.put((event, record))

    def _dispatch(self) -> None:
        while True:
            item = self._events.get()
            if item is _STOP:
                return
            event, record = item
            with self._lock:
                channels = [c for _, c in self._subscriptions.values() if c.running]
            body: dict[str, Any] | None = None
            for channel in channels:
                if body is None and channel.spec.needs_body():
                    body = self._body_for_matching(record)
                if channel.spec.matches(record, body):
                    channel.enqueue(event, record)

    def _body_for_matching(self, record: Record) -> dict[str, Any]:
        """A deletion's tombstone is empty: filters (code, category...) look at the last live version."""
        if record.raw:
            return record.body
        try:
            versions = self.store.history(record.resource_type, record.id)
        except NotFound:
            return {}
        live = next((v for v in versions if not v.deleted), None)
        return live.body if live else {}

    def close(self) -> None:
        """Stop every channel and the dispatcher; detach from the store."""
        if self.on_store_event in self.store.listeners:
            self.store.listeners.remove(self.on_store_event)
        with self._lock:
            channels = [c for _, c in self._subscriptions.values()]
            self._subscriptions.clear()
        for channel in channels:
            channel.stop()
        self._events.put(_STOP)

    # ------------------------------------------------------------------ operations

    def create(self, body: Any, base_url: str) -> tuple[dict[str, Any], Channel]:
        """Validate, handshake, register. Raises SubscriptionInvalid."""
        spec = parse_subscription(body)
        sub_id = uuid.uuid4().hex[:16]
        channel = Channel(
            sub_id,
            spec,
            base_url,
            retries=self.retries,
            retry_backoff=self.retry_backoff,
            transport=self.transport,
        )
        resource = dict(body)
        resource["id"] = sub_id
        resource["meta"] = {
            "versionId": "1",
            "lastUpdated": format_instant(self.store.now()),
            "profile": [*(body.get("meta") or {}).get("profile", []), SUBSCRIPTION_PROFILE],
        }
        with self._lock:  # registered before the handshake so no change after "active" is missed
            self._subscriptions[sub_id] = (resource, channel)
        channel.handshake()
        if spec.secret_generated:
            resource["extension"] = [
                *resource.get("extension", []),
                {"url": SECRET_EXTENSION, "valueString": spec.secret},
            ]
        return self.current(sub_id, reveal_secret=True), channel

    def get(self, sub_id: str) -> tuple[dict[str, Any], Channel] | None:
        with self._lock:
            return self._subscriptions.get(sub_id)

    def current(self, sub_id: str, *, reveal_secret: bool = False) -> dict[str, Any]:
        resource, channel = self._subscriptions[sub_id]
        out = dict(resource)
        out["status"] = channel.status
        if channel.errors:
            last = channel.errors[-1]
            out["error"] = f"{last['time']} {last['type']}: {last['reason']}"
        else:
            out.pop("error", None)
        return out if reveal_secret else public_view(out)

    def delete(self, sub_id: str) -> bool:
        with self._lock:
            entry = self._subscriptions.pop(sub_id, None)
        if entry is None:
            return False
        entry[1].stop()
        return True

    # ------------------------------------------------------------------ routes

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/Subscription", include_in_schema=False)
        async def create(request: Request) -> Response:
            base = _base_url(request, 1)
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return outcome_response(400, "the body is not JSON; POST an R4 Subscription", code="invalid")
            try:  # the handshake is a blocking HTTP call: keep it off the event loop
                resource, _ = await run_in_threadpool(self.create, body, base)
            except SubscriptionInvalid as exc:
                return outcome_response(400, str(exc), code=exc.code)
            location = f"{base}/Subscription/{resource['id']}/_history/1"
            return _fhir(resource, 201, {"Location": location, "ETag": 'W/"1"'})

        @router.get("/Subscription/{sub_id}/$status", include_in_schema=False)
        def status(request: Request, sub_id: str) -> Response:
            entry = self.get(sub_id)
            if entry is None:
                return _not_found(sub_id)
            parameters = entry[1].status_parameters("query-status", [])
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": 1,
                "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": parameters, "search": {"mode": "match"}}],
            }
            return _fhir(bundle)

        @router.get("/Subscription/{sub_id}", include_in_schema=False)
        def read(sub_id: str) -> Response:
            if self.get(sub_id) is None:
                return _not_found(sub_id)
            return _fhir(self.current(sub_id), headers={"ETag": 'W/"1"'})

        @router.delete("/Subscription/{sub_id}", include_in_schema=False)
        def delete(sub_id: str) -> Response:
            if not self.delete(sub_id):
                return _not_found(sub_id)
            return Response(status_code=204)

        return router


def subscriptions_router(store: SandboxStore, **options: Any) -> APIRouter:
    """A notifier on ``store`` and its routes. ``router.notifier.close()`` stops it (app shutdown)."""
    notifier = SubscriptionNotifier(store, **options)
    router = notifier.router()
    router.notifier = notifier  # type: ignore[attr-defined]
    return router


def _base_url(request: Request, suffix_segments: int) -> str:
    path = request.url.path.rstrip("/")
    base_path = "/".join(path.split("/")[:-suffix_segments])
    return str(request.url.replace(path=base_path, query="", fragment="")).rstrip("/")


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _not_found(sub_id: str) -> Response:
    return outcome_response(404, f"Subscription/{sub_id} is not known", code="not-found")
