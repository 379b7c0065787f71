"""One subscription's rest-hook channel: notification Bundles, HMAC signing, delivery with retries.

Each active subscription has its own thread and queue, so a slow or dead endpoint delays only its
own notifications, and event numbers reach the endpoint in order. A notification that still fails
after the retries is recorded (Subscription.error, `$status`) and *not* re-queued: its event
number is simply missing at the receiver, which is exactly the gap the Backport IG tells clients
to detect and recover from by polling.
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from holovitals.sandbox.store import Record, format_instant, utcnow
from holovitals.sandbox.subscription_spec import NOTIFICATION_PROFILE, STATUS_PROFILE, SubscriptionSpec

SIGNATURE_HEADER = "X-Sandbox-Signature"
MAX_ERRORS_KEPT = 20
_STOP = object()
_METHODS = {"create": ("POST", "201"), "update": ("PUT", "200"), "delete": ("DELETE", "204")}


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>` of the exact request body; receivers compare with hmac.compare_digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    number: int
    action: str  # create | update | delete
    record: Record
    timestamp: datetime


class Channel:
    """Status, counters and the delivery thread of one subscription."""

    def __init__(
        self,
        subscription_id: str,
        spec: SubscriptionSpec,
        base_url: str,
        *,
        retries: int = 2,
        retry_backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.id = subscription_id
        self.spec = spec
        self.base_url = base_url
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.status = "requested"
        self.events_since_start = 0
        self.errors: deque[dict[str, str]] = deque(maxlen=MAX_ERRORS_KEPT)
        self.delivered = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stopped = threading.Event()
        self._client = httpx.Client(timeout=spec.timeout, transport=transport)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Accepting events: handshake succeeded and not deleted (an `error` status still delivers)."""
        return self._thread is not None and not self._stopped.is_set()

    def handshake(self) -> bool:
        """Synchronous, so the create response already says `active` or `error`."""
        ok = self._deliver(self._bundle("handshake", []), "handshake")
        self._set_status("active" if ok else "error")
        if ok:
            self._thread = threading.Thread(target=self._run, name=f"subscription-{self.id}", daemon=True)
            self._thread.start()
        return ok

    def stop(self) -> None:
        self._stopped.set()
        self._queue.put(_STOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.spec.timeout + 1)
        self._client.close()

    def enqueue(self, action: str, record: Record) -> None:
        """Number the event now (dispatch order = store order) and hand it to the delivery thread."""
        with self._lock:
            self.events_since_start += 1
            event = Event(self.events_since_start, action, record, utcnow())
        self._queue.put(event)

    # ------------------------------------------------------------------ the delivery thread

    def _run(self) -> None:
        period = self.spec.heartbeat_period
        while not self._stopped.is_set():
            try:
                item = self._queue.get(timeout=period)
            except queue.Empty:  # nothing to say for a whole period: prove the channel is alive
                self._send("heartbeat", [])
                continue
            if item is _STOP:
                return
            self._send("event-notification", [item])

    def _send(self, kind: str, events: list[Event]) -> None:
        ok = self._deliver(self._bundle(kind, events), kind, events)
        self._set_status("active" if ok else "error")

    def _deliver(self, bundle: dict[str, Any], kind: str, events: Sequence[Event] = ()) -> bool:
        body = orjson.dumps(bundle)
        headers = {
            **dict(self.spec.headers),
            "Content-Type": "application/fhir+json",
            SIGNATURE_HEADER: sign(self.spec.secret, body),
        }
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt and self._stopped.wait(self.retry_backoff * 2 ** (attempt - 1)):
                return False
            try:
                response = self._client.post(self.spec.endpoint, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}"
                continue
            if 200 <= response.status_code < 300:
                self.delivered += 1
                return True
            reason = f"HTTP {response.status_code}"
        numbers = ",".join(str(e.number) for e in events)
        self.errors.append(
            {
                "time": format_instant(utcnow()),
                "type": kind,
                "events": numbers,
                "reason": f"{reason} after {self.retries + 1} attempt(s)",
            }
        )
        return False

    def _set_status(self, status: str) -> None:
        self.status = status

    # ------------------------------------------------------------------ Bundles

    def status_parameters(self, kind: str, events: list[Event]) -> dict[str, Any]:
        """The backport `subscription-status` Parameters (first entry of every notification)."""
        params: list[dict[str, Any]] = [
            {"name": "subscription", "valueReference": {"reference": f"{self.base_url}/Subscription/{self.id}"}},
            {"name": "topic", "valueCanonical": self.spec.topic},
            {"name": "status", "valueCode": self.status if kind != "handshake" else "requested"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(self._events_reported(kind, events))},
        ]
        for event in events:
            parts: list[dict[str, Any]] = [
                {"name": "event-number", "valueString": str(event.number)},
                {"name": "timestamp", "valueInstant": format_instant(event.timestamp)},
            ]
            if self.spec.content != "empty":
                parts.append({"name": "focus", "valueReference": {"reference": self._focus(event.record)}})
            params.append({"name": "notification-event", "part": parts})
        if kind == "query-status":
            params += [{"name": "error", "valueCodeableConcept": {"text": _error_text(e)}} for e in self.errors]
        return {
            "resourceType": "Parameters",
            "id": uuid.uuid4().hex,
            "meta": {"profile": [STATUS_PROFILE]},
            "parameter": params,
        }

    def _events_reported(self, kind: str, events: list[Event]) -> int:
        if events:
            return events[-1].number
        return 0 if kind == "handshake" else self.events_since_start

    def _bundle(self, kind: str, events: list[Event]) -> dict[str, Any]:
        status_entry = {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": self.status_parameters(kind, events),
            "request": {"method": "GET", "url": f"{self.base_url}/Subscription/{self.id}/$status"},
            "response": {"status": "200"},
        }
        entries = [status_entry]
        if self.spec.content != "empty":
            entries += [self._focus_entry(event) for event in events]
        return {
            "resourceType": "Bundle",
            "id": uuid.uuid4().hex,
            "meta": {"profile": [NOTIFICATION_PROFILE]},
            "type": "history",
            "timestamp": format_instant(utcnow()),
            "entry": entries,
        }

    def _focus(self, record: Record) -> str:
        return f"{self.base_url}/{record.resource_type}/{record.id}"

    def _focus_entry(self, event: Event) -> dict[str, Any]:
        """id-only: fullUrl + request/response, no resource; full-resource adds the version that changed."""
        record = event.record
        method, status = _METHODS[event.action]
        url = record.resource_type if method == "POST" else f"{record.resource_type}/{record.id}"
        entry: dict[str, Any] = {
            "fullUrl": self._focus(record),
            "request": {"method": method, "url": url},
            "response": {
                "status": status,
                "etag": f'W/"{record.version}"',
                "lastModified": format_instant(record.last_updated),
            },
        }
        if self.spec.content == "full-resource" and record.raw:
            entry["resource"] = orjson.loads(record.raw)
        return entry


def _error_text(error: dict[str, str]) -> str:
    events = f" (events {error['events']})" if error["events"] else ""
    return f"{error['time']} {error['type']}{events}: {error['reason']}"
