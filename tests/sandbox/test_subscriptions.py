"""Subscriptions Backport rest-hook notifications from the sandbox, received by a real HTTP endpoint."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from holovitals.sandbox.changes import Mutator
from holovitals.sandbox.generator import generate_population
from holovitals.sandbox.store import SandboxStore
from holovitals.sandbox.subscription_spec import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    PATIENT_DATA_CHANGE,
    PAYLOAD_CONTENT,
    SECRET_EXTENSION,
    TIMEOUT,
    TYPE_TOPIC_PREFIX,
)
from holovitals.sandbox.subscriptions import SubscriptionNotifier

ATHENA = "/athena/fhir/r4"
SECRET = "a-shared-secret-of-32-characters"


@dataclass
class Receiver:
    """The client's webhook endpoint: records every POST and what it answered (``status``)."""

    url: str = ""
    status: int = 200
    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            status = self.status
            self.received.append((dict(request.headers), await request.body(), status))
            return Response(status_code=status)

        return app

    def bundles(self, kind: str | None = None) -> list[dict]:
        """Notifications the endpoint accepted (2xx), oldest first."""
        out = [orjson.loads(body) for _, body, status in self.received if status < 300]
        return [b for b in out if kind is None or notification_type(b) == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.bundles(kind)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {kind} notification(s), got {len(self.bundles(kind))}")


@dataclass
class Sandbox:
    store: SandboxStore
    notifier: SubscriptionNotifier
    receiver: Receiver
    base: str
    client: httpx.Client

    def subscribe(self, **kwargs) -> httpx.Response:
        return self.client.post(f"{self.base}/Subscription", json=subscription(self.receiver.url, **kwargs))


def parameters(bundle: dict) -> dict[str, object]:
    status = bundle["entry"][0]["resource"]
    out: dict[str, object] = {}
    for p in status["parameter"]:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        out.setdefault(p["name"], []).append(value)  # type: ignore[union-attr]
    return out


def notification_type(bundle: dict) -> str:
    return parameters(bundle)["type"][0]  # type: ignore[index]


def event_numbers(bundles: list[dict]) -> list[int]:
    return [
        int(part["valueString"])
        for b in bundles
        for event in parameters(b).get("notification-event", [])  # type: ignore[union-attr]
        for part in event
        if part["name"] == "event-number"
    ]


def subscription(
    endpoint: str,
    *,
    topic: str = PATIENT_DATA_CHANGE,
    filters: tuple[str, ...] = (),
    content: str = "id-only",
    heartbeat: int | None = None,
    secret: str | None = SECRET,
    channel_type: str = "rest-hook",
) -> dict:
    channel: dict = {
        "type": channel_type,
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
        "header": ["X-Client-Tag: sync-42"] + ([f"X-Sandbox-Secret: {secret}"] if secret else []),
        "extension": [{"url": TIMEOUT, "valueUnsignedInt": 2}],
    }
    if heartbeat:
        channel["extension"].append({"url": HEARTBEAT_PERIOD, "valueUnsignedInt": heartbeat})
    body = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "test",
        "criteria": topic,
        "channel": channel,
    }
    if filters:
        body["_criteria"] = {"extension": [{"url": FILTER_CRITERIA, "valueString": f} for f in filters]}
    return body


@pytest.fixture(scope="module")
def servers(server, hook_server):
    """The sandbox and the client's webhook endpoint: two real HTTP servers for the whole module."""
    return (*server, *hook_server)


@pytest.fixture
def sandbox(servers) -> Iterator[Sandbox]:
    sandbox_board, root, hook_board, hook_root = servers
    store = SandboxStore()
    store.load(generate_population(3, seed=42))
    notifier = SubscriptionNotifier(store, retries=1, retry_backoff=0.05)
    receiver = Receiver(url=hook_root + "/hook")
    hook_board.app = receiver.app()
    app = FastAPI()
    app.include_router(notifier.router(), prefix=ATHENA)
    sandbox_board.app = app
    with httpx.Client(timeout=10) as client:
        yield Sandbox(store, notifier, receiver, root + ATHENA, client)
    notifier.close()


def new_observation(store: SandboxStore, patient: str) -> str:
    body = {"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient}"}}
    return store.create(body).id


# ---------------------------------------------------------------------- handshake and status


def test_create_handshakes_and_the_subscription_becomes_active(sandbox):
    response = sandbox.subscribe()
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "active"
    assert response.headers["Location"] == f"{sandbox.base}/Subscription/{created['id']}/_history/1"
    [handshake] = sandbox.receiver.bundles()
    assert len(sandbox.receiver.received) == 1
    assert handshake["type"] == "history"
    status = handshake["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    assert parameters(handshake)["type"] == ["handshake"]
    assert parameters(handshake)["events-since-subscription-start"] == ["0"]
    assert parameters(handshake)["subscription"] == [{"reference": f"{sandbox.base}/Subscription/{created['id']}"}]


def test_every_post_is_signed_with_hmac_sha256_and_carries_the_channel_headers(sandbox):
    sandbox.subscribe()
    headers, body, _ = sandbox.receiver.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-sandbox-signature"], expected)
    assert headers["x-client-tag"] == "sync-42"
    assert "x-sandbox-secret" not in headers
    assert headers["content-type"] == "application/fhir+json"


def test_a_generated_secret_is_returned_once_and_signs_the_posts(sandbox):
    created = sandbox.subscribe(secret=None).json()
    [secret] = [e["valueString"] for e in created["extension"] if e["url"] == SECRET_EXTENSION]
    headers, body, _ = sandbox.receiver.received[0]
    assert headers["x-sandbox-signature"] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    again = sandbox.client.get(f"{sandbox.base}/Subscription/{created['id']}").json()
    assert "extension" not in again


def test_read_masks_the_secret_header(sandbox):
    created = sandbox.subscribe().json()
    read = sandbox.client.get(f"{sandbox.base}/Subscription/{created['id']}").json()
    assert "X-Sandbox-Secret: ****" in read["channel"]["header"]
    assert SECRET not in orjson.dumps(read).decode()


def test_a_refused_handshake_leaves_the_subscription_in_error(sandbox):
    sandbox.receiver.status = 500
    created = sandbox.subscribe().json()
    assert created["status"] == "error"
    assert "HTTP 500" in created["error"]
    status = sandbox.client.get(f"{sandbox.base}/Subscription/{created['id']}/$status").json()
    params = parameters({"entry": [{"resource": status["entry"][0]["resource"]}]})
    assert params["status"] == ["error"] and params["type"] == ["query-status"]
    assert "handshake" in params["error"][0]["text"]  # type: ignore[index]


def test_unsupported_subscriptions_are_refused_with_400(sandbox):
    assert sandbox.subscribe(topic="http://example.org/SubscriptionTopic/unknown").status_code == 400
    assert sandbox.subscribe(channel_type="websocket").status_code == 400
    assert sandbox.subscribe(content="everything").status_code == 400
    refused = sandbox.subscribe(filters=("Observation?value-quantity=5",))
    assert refused.status_code == 400
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert sandbox.receiver.received == []


# ---------------------------------------------------------------------- heartbeats and events


def test_heartbeats_arrive_every_period_while_idle(sandbox):
    sandbox.subscribe(heartbeat=1)
    [beat, *_] = sandbox.receiver.wait_for("heartbeat", timeout=3)
    assert parameters(beat)["status"] == ["active"]
    assert parameters(beat)["events-since-subscription-start"] == ["0"]


def test_a_change_sends_an_id_only_event_notification(sandbox):
    patient = sandbox.store.scan("Patient")[0].id
    sandbox.subscribe(filters=(f"Observation?patient={patient}",))
    obs_id = new_observation(sandbox.store, patient)
    [note] = sandbox.receiver.wait_for("event-notification")
    params = parameters(note)
    assert params["events-since-subscription-start"] == ["1"]
    [event] = params["notification-event"]
    parts = {p["name"]: p for p in event}  # type: ignore[union-attr]
    assert parts["event-number"]["valueString"] == "1"
    assert parts["timestamp"]["valueInstant"].endswith("Z")
    assert parts["focus"]["valueReference"]["reference"] == f"{sandbox.base}/Observation/{obs_id}"
    focus = note["entry"][1]
    assert focus["fullUrl"] == f"{sandbox.base}/Observation/{obs_id}"
    assert focus["request"] == {"method": "POST", "url": "Observation"}
    assert focus["response"]["status"] == "201"
    assert "resource" not in focus


def test_event_numbers_are_consecutive_and_filters_keep_other_patients_out(sandbox):
    first, second = (p.id for p in sandbox.store.scan("Patient")[:2])
    sandbox.subscribe(filters=(f"Observation?patient={first}",))
    for _ in range(3):
        new_observation(sandbox.store, second)  # not ours
        new_observation(sandbox.store, first)
    record = sandbox.store.scan("Observation", patient=first)[0]
    body = record.body
    body["status"] = "amended"
    sandbox.store.update(body, record.id)
    sandbox.store.delete("Observation", record.id)
    sandbox.receiver.wait_for("event-notification", 5)
    time.sleep(0.2)  # anything about the other patient would have arrived by now
    notes = sandbox.receiver.bundles("event-notification")
    assert event_numbers(notes) == [1, 2, 3, 4, 5]
    assert [n["entry"][1]["request"]["method"] for n in notes] == ["POST", "POST", "POST", "PUT", "DELETE"]


def test_full_resource_content_carries_the_changed_version(sandbox):
    sandbox.subscribe(topic=TYPE_TOPIC_PREFIX + "Patient", content="full-resource")
    patient = sandbox.store.scan("Patient")[0]
    body = patient.body
    body["gender"] = "other"
    sandbox.store.update(body, patient.id)
    [note] = sandbox.receiver.wait_for("event-notification")
    resource = note["entry"][1]["resource"]
    assert resource["gender"] == "other"
    assert resource["meta"]["versionId"] == str(patient.version + 1)


def test_mutations_notify_a_patient_data_change_subscription(sandbox):
    sandbox.subscribe()
    changes = Mutator(sandbox.store, seed=3).step(10)
    notes = sandbox.receiver.wait_for("event-notification", 10)
    assert event_numbers(notes) == list(range(1, 11))
    focus = [n["entry"][1]["fullUrl"] for n in notes]
    assert focus == [f"{sandbox.base}/{c.resource_type}/{c.id}" for c in changes]


def test_failed_deliveries_are_recorded_and_show_as_a_gap(sandbox):
    patient = sandbox.store.scan("Patient")[0].id
    created = sandbox.subscribe(filters=(f"patient={patient}",)).json()
    sandbox.receiver.status = 503
    new_observation(sandbox.store, patient)
    status_url = f"{sandbox.base}/Subscription/{created['id']}/$status"
    deadline = time.monotonic() + 5
    while sandbox.client.get(f"{sandbox.base}/Subscription/{created['id']}").json()["status"] != "error":
        assert time.monotonic() < deadline, "delivery failure was not recorded"
        time.sleep(0.02)
    status = sandbox.client.get(status_url).json()["entry"][0]["resource"]
    errors = [p["valueCodeableConcept"]["text"] for p in status["parameter"] if p["name"] == "error"]
    assert "HTTP 503 after 2 attempt(s)" in errors[0] and "events 1" in errors[0]
    sandbox.receiver.status = 200
    new_observation(sandbox.store, patient)
    notes = [n for n in sandbox.receiver.wait_for("event-notification", 1) if event_numbers([n]) == [2]]
    assert notes, "event 2 was not delivered after the endpoint recovered"
    assert parameters(notes[0])["events-since-subscription-start"] == ["2"]  # the client sees event 1 is missing
    assert sandbox.client.get(f"{sandbox.base}/Subscription/{created['id']}").json()["status"] == "active"


def test_delete_stops_notifications(sandbox):
    patient = sandbox.store.scan("Patient")[0].id
    created = sandbox.subscribe().json()
    url = f"{sandbox.base}/Subscription/{created['id']}"
    assert sandbox.client.delete(url).status_code == 204
    assert sandbox.client.get(url).status_code == 404
    assert sandbox.client.delete(url).status_code == 404
    new_observation(sandbox.store, patient)
    time.sleep(0.2)
    assert sandbox.receiver.bundles("event-notification") == []
