"""Channel destinations: the local FHIR store, a FHIR server, another MLLP endpoint, a webhook.

The store destination is a database write (done by whoever holds the transaction); the others are
network calls made by a ``Deliverer``. A failing destination raises ``DestinationError`` with a
reason that names the destination and the failure, never message content, because the reason is
stored on the message and logged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.store.models import Connection
from holovitals.store.resources import IncomingResource, UpsertResult, upsert_resources

from .channels import FhirDestination, MllpDestination, WebhookDestination, connection_name
from .client import MllpClient, MllpError, NegativeAck

NetworkDestination = FhirDestination | MllpDestination | WebhookDestination


class DestinationError(Exception):
    """A destination refused the message or could not be reached (value-free reason)."""


@dataclass(slots=True)
class Delivery:
    """What a network destination gets: the raw message, its header, and the converted resources."""

    pk: int
    channel: str
    raw: str
    control_id: str | None = None
    message_type: str | None = None
    sending_facility: str | None = None
    patient_id: str | None = None
    resources: list[IncomingResource] = field(default_factory=list)

    def bundle(self) -> dict[str, Any]:
        """A transaction Bundle: one PUT per resource, so the receiving server upserts like our store."""
        entries = []
        for r in self.resources:
            body = orjson.loads(r.text)
            url = f"{r.resource_type}/{r.resource_id}"
            entries.append({"fullUrl": url, "resource": body, "request": {"method": "PUT", "url": url}})
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    def summary(self) -> dict[str, Any]:
        return {
            "event": "hl7v2.message",
            "channel": self.channel,
            "messageId": self.pk,
            "controlId": self.control_id,
            "messageType": self.message_type,
            "sendingFacility": self.sending_facility,
            "patientId": self.patient_id,
            "resources": [f"{r.resource_type}/{r.resource_id}" for r in self.resources],
        }


# ---------------------------------------------------------------- store


def ensure_connection(session: Session, org_id: str, channel: str) -> str:
    """The id of the channel's hl7v2 connection in this tenant, created on first use."""
    name = connection_name(channel)
    found = session.execute(
        select(Connection.id).where(Connection.org_id == org_id, Connection.kind == "hl7v2", Connection.name == name)
    ).scalar()
    if found:
        return found
    conn = Connection(org_id=org_id, kind="hl7v2", name=name, status="ACTIVE")
    session.add(conn)
    session.flush()
    return conn.id


def store(session: Session, connection_id: str, channel: str, resources: Sequence[IncomingResource]) -> UpsertResult:
    """Upsert converted resources through the one write path (idempotent: a reprocess changes nothing)."""
    return upsert_resources(session, connection_id, resources, source=f"hl7v2:{channel}")


# ---------------------------------------------------------------- network


class Deliverer:
    """Sends deliveries to network destinations; keeps HTTP and MLLP connections between messages.

    One per thread: neither the HTTP client's connection pool use here nor MLLP clients are shared.
    """

    def __init__(self, *, attempts: int = 3, backoff: float = 1.0) -> None:
        self.attempts, self.backoff = attempts, backoff
        self._http: httpx.Client | None = None
        self._mllp: dict[tuple[str, int, bool], MllpClient] = {}

    def deliver(self, destination: NetworkDestination, delivery: Delivery) -> None:
        """Deliver with retries (transient failures); raises DestinationError when all attempts fail."""
        for attempt in range(1, self.attempts + 1):
            try:
                self._once(destination, delivery)
                return
            except _Permanent as exc:
                raise DestinationError(str(exc)) from None
            except DestinationError:
                if attempt == self.attempts:
                    raise
                time.sleep(self.backoff * 2 ** (attempt - 1))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        for client in self._mllp.values():
            client.close()
        self._mllp.clear()

    def _once(self, destination: NetworkDestination, delivery: Delivery) -> None:
        if isinstance(destination, MllpDestination):
            self._send_mllp(destination, delivery)
        elif isinstance(destination, FhirDestination):
            body = orjson.dumps(delivery.bundle())
            self._post(destination.url.rstrip("/"), body, "application/fhir+json", destination.token_env,
                       destination.timeout, "fhir")  # fmt: skip
        else:
            payload = delivery.summary()
            if destination.payload == "bundle":
                payload["bundle"] = delivery.bundle()
            self._post(destination.url, orjson.dumps(payload), "application/json", destination.token_env,
                       destination.timeout, "webhook")  # fmt: skip

    def _send_mllp(self, destination: MllpDestination, delivery: Delivery) -> None:
        key = (destination.host, destination.port, destination.tls)
        client = self._mllp.get(key)
        if client is None:
            client = self._mllp[key] = MllpClient(
                destination.host, destination.port, tls=destination.tls or None, timeout=destination.timeout,
                retries=1, backoff=0.2,
            )  # fmt: skip
        where = f"mllp {destination.host}:{destination.port}"
        try:
            client.send(delivery.raw)
        except NegativeAck as exc:
            # The receiver's MSA-3 text is not ours to store: it may quote the message.
            raise _Permanent(f"{where} answered {exc.ack.code}") from None
        except MllpError as exc:
            client.close()
            raise DestinationError(f"{where}: {type(exc).__name__}") from None

    def _post(self, url: str, body: bytes, media: str, token_env: str | None, timeout: float, kind: str) -> None:
        if self._http is None:
            self._http = httpx.Client(follow_redirects=False)
        headers = {"Content-Type": media, "Accept": media}
        if token_env:
            token = os.environ.get(token_env)
            if not token:
                raise _Permanent(f"{kind} destination: environment variable {token_env} is not set")
            headers["Authorization"] = f"Bearer {token}"
        where = f"{kind} {urlsplit(url).netloc}"
        try:
            response = self._http.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise DestinationError(f"{where}: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise DestinationError(f"{where}: HTTP {response.status_code}")
        if response.status_code >= 300:
            raise _Permanent(f"{where}: HTTP {response.status_code}")


class _Permanent(DestinationError):
    """A refusal that a retry would not change (4xx, NAK, missing token)."""
