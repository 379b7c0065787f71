"""Reading an R4 Subscription (Subscriptions Backport IG) into what the notifier needs.

The backport squeezes R5 concepts into R4 through extensions; every one of them is read here, in
one place, so the delivery code deals in plain fields. Anything the sandbox cannot honour is a
400 at creation, never a subscription that silently notifies differently than asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from holovitals.sandbox.r4_types import R4_RESOURCE_TYPES
from holovitals.sandbox.resource_filter import FilterError, ResourceFilter
from holovitals.sandbox.store import Record

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
HEARTBEAT_PERIOD = BACKPORT + "backport-heartbeat-period"
TIMEOUT = BACKPORT + "backport-timeout"
MAX_COUNT = BACKPORT + "backport-max-count"
STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"
NOTIFICATION_PROFILE = BACKPORT + "backport-subscription-notification-r4"
SUBSCRIPTION_PROFILE = BACKPORT + "backport-subscription"
# Sandbox-specific: the generated signing secret, returned once in the create response.
SECRET_EXTENSION = "https://holovitals.dev/fhir/StructureDefinition/subscription-secret"
SECRET_HEADER = "x-sandbox-secret"

PATIENT_DATA_CHANGE = "http://hl7.org/fhir/us/core/SubscriptionTopic/patient-data-change"
TYPE_TOPIC_PREFIX = "https://holovitals.dev/fhir/SubscriptionTopic/"  # + resource type, e.g. .../Observation
CONTENTS = ("empty", "id-only", "full-resource")
PAYLOAD_TYPES = ("application/fhir+json", "application/json")
DEFAULT_TIMEOUT_S = 5
MAX_TIMEOUT_S = 30


class SubscriptionInvalid(ValueError):
    """The submitted Subscription cannot be honoured; ``code`` is the OperationOutcome issue code."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SubscriptionSpec:
    topic: str
    filters: tuple[ResourceFilter, ...]
    endpoint: str
    headers: tuple[tuple[str, str], ...]  # sent with every notification (the secret excluded)
    secret: str
    secret_generated: bool
    content: str
    heartbeat_period: int | None
    timeout: float

    def matches(self, record: Record, body: dict[str, Any] | None) -> bool:
        """Does a change to ``record`` belong to this subscription's topic and filters?"""
        if self.topic == PATIENT_DATA_CHANGE:
            if record.patient_id is None:
                return False
        elif record.resource_type != self.topic.removeprefix(TYPE_TOPIC_PREFIX):
            return False
        return all(f.matches(record, body) for f in self.filters)

    def needs_body(self) -> bool:
        return any(f.needs_body() for f in self.filters)


def topic_type(topic: str) -> str | None:
    """The resource type of a sandbox per-type topic, None for patient-data-change; raises if unknown."""
    if topic == PATIENT_DATA_CHANGE:
        return None
    rtype = topic.removeprefix(TYPE_TOPIC_PREFIX)
    if topic.startswith(TYPE_TOPIC_PREFIX) and rtype in R4_RESOURCE_TYPES:
        return rtype
    raise SubscriptionInvalid(
        f"unknown SubscriptionTopic '{topic}'; use {PATIENT_DATA_CHANGE} or {TYPE_TOPIC_PREFIX}<ResourceType>",
        code="not-supported",
    )


def _extension(element: Any, url: str) -> dict[str, Any] | None:
    if isinstance(element, dict):
        for ext in element.get("extension") or []:
            if isinstance(ext, dict) and ext.get("url") == url:
                return ext
    return None


def _unsigned(channel: dict[str, Any], url: str) -> int | None:
    ext = _extension(channel, url)
    if ext is None:
        return None
    value = ext.get("valueUnsignedInt", ext.get("valuePositiveInt", ext.get("valueInteger")))
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SubscriptionInvalid(f"extension {url.rsplit('/', 1)[-1]} needs a non-negative integer value")
    return value


def parse_subscription(body: Any) -> SubscriptionSpec:
    if not isinstance(body, dict) or body.get("resourceType") != "Subscription":
        raise SubscriptionInvalid("the body must be a FHIR R4 Subscription resource")
    topic = body.get("criteria")
    if not isinstance(topic, str) or not topic:
        raise SubscriptionInvalid("Subscription.criteria must hold the SubscriptionTopic canonical URL")
    rtype = topic_type(topic)
    filters = []
    for ext in (body.get("_criteria") or {}).get("extension") or []:
        if ext.get("url") == FILTER_CRITERIA:
            try:
                parsed = ResourceFilter.parse(str(ext.get("valueString", "")))
            except FilterError as exc:
                raise SubscriptionInvalid(f"filter criteria: {exc}", code="not-supported") from None
            if rtype and parsed.resource_type not in (None, rtype):
                raise SubscriptionInvalid(f"filter '{parsed.text}' is for another type than the topic's {rtype}")
            filters.append(parsed)

    channel = body.get("channel")
    if not isinstance(channel, dict) or channel.get("type") != "rest-hook":
        raise SubscriptionInvalid("only channel.type 'rest-hook' is supported", code="not-supported")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or urlparse(endpoint).scheme not in ("http", "https"):
        raise SubscriptionInvalid("channel.endpoint must be an http(s) URL")
    payload = channel.get("payload", "application/fhir+json")
    if payload not in PAYLOAD_TYPES:
        raise SubscriptionInvalid(f"channel.payload '{payload}' is not supported; use application/fhir+json")
    content_ext = _extension(channel.get("_payload"), PAYLOAD_CONTENT)
    content = content_ext.get("valueCode") if content_ext else "id-only"
    if content not in CONTENTS:
        raise SubscriptionInvalid(f"payload content '{content}' is not one of {', '.join(CONTENTS)}")

    headers, secret = _headers(channel.get("header") or [])
    heartbeat = _unsigned(channel, HEARTBEAT_PERIOD) or None
    timeout = _unsigned(channel, TIMEOUT) or DEFAULT_TIMEOUT_S
    return SubscriptionSpec(
        topic=topic,
        filters=tuple(filters),
        endpoint=endpoint,
        headers=headers,
        secret=secret or secrets.token_urlsafe(32),
        secret_generated=secret is None,
        content=content,
        heartbeat_period=heartbeat,
        timeout=float(min(timeout, MAX_TIMEOUT_S)),
    )


def _headers(raw: list[Any]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    headers: list[tuple[str, str]] = []
    secret = None
    for line in raw:
        name, sep, value = str(line).partition(":")
        if not sep or not name.strip():
            raise SubscriptionInvalid(f"channel.header '{line}' is not 'Name: value'")
        if name.strip().lower() == SECRET_HEADER:
            secret = value.strip()
            if len(secret) < 16:
                raise SubscriptionInvalid("X-Sandbox-Secret must be at least 16 characters")
        else:
            headers.append((name.strip(), value.strip()))
    return tuple(headers), secret


def public_view(body: dict[str, Any]) -> dict[str, Any]:
    """The Subscription as GET returns it: the secret header masked, never echoed."""
    out = dict(body)
    channel = dict(out.get("channel") or {})
    if "header" in channel:
        channel["header"] = [
            f"{h.partition(':')[0]}: ****" if h.partition(":")[0].strip().lower() == SECRET_HEADER else h
            for h in channel["header"]
        ]
    out["channel"] = channel
    out["extension"] = [e for e in out.get("extension") or [] if e.get("url") != SECRET_EXTENSION]
    if not out["extension"]:
        del out["extension"]
    return out
