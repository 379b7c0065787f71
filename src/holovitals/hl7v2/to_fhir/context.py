"""What every mapping function needs to know about the message being converted, in one object.

The context collects the output: resources keyed by ``Type/id`` (so a practitioner named in five
segments is one resource) and warnings (deduplicated, value-free). Converting is still a pure
function of the message and the options: a context lives for one ``convert`` call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, timezone, tzinfo
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import quote

from ..errors import HL7Location
from ..message import Message
from .errors import ConversionError, missing
from .ids import make_id
from .timestamps import V2Time, parse_dtm, to_instant

CONTROL_ID_SYSTEM = "urn:holovitals:hl7v2:control-id"


@dataclass
class Context:
    message: Message
    source: str
    zone: tzinfo
    systems: Mapping[str, str]
    #: What each resource's meta says: lastUpdated (MSH-7), source (MSH-3/4), the MSH-10 tag.
    last_updated: str
    meta_source: str
    control_tag: str | None
    message_time: V2Time
    warnings: list[str] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    _keys: dict[tuple[str, ...], int] = field(default_factory=dict)
    #: What ``datatypes`` made of a person, place or organisation this message already named.
    shared: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    # Read once: the mappings ask for these a dozen times a message, and each read goes back to MSH.
    @cached_property
    def message_type(self) -> str:
        return (self.message.message_type or "").strip()

    @cached_property
    def trigger(self) -> str:
        return (self.message.trigger_event or "").strip()

    @cached_property
    def control_id(self) -> str:
        return (self.message.control_id or "").strip()

    def warn(self, text: str) -> None:
        """Record a value-free warning once (the text must name fields and tables, never values)."""
        if text not in self.warnings:
            self.warnings.append(text)

    def resource_id(self, resource_type: str, *key: str | None) -> str:
        """The deterministic id of a resource known by ``key`` from this message's source."""
        return make_id(resource_type, self.source, *key)

    def unique_id(self, resource_type: str, *key: str | None) -> str:
        """Like ``resource_id``, but a key seen before in this message gets an occurrence number,
        so two OBX a sender numbered alike stay two observations (and stay stable on re-delivery)."""
        full = (resource_type, *key) if None not in key else (resource_type, *(k or "" for k in key))
        seen = self._keys.get(full, 0)
        self._keys[full] = seen + 1
        if seen:
            return make_id(resource_type, self.source, *key, f"#{seen + 1}")
        return make_id(resource_type, self.source, *key)

    def new_meta(self) -> dict[str, Any]:
        """The meta of one resource: each gets its own dicts, so editing one never edits another."""
        # Built as a literal: copying a template dict and its tag list cost twice as much.
        if self.control_tag is None:
            return {"lastUpdated": self.last_updated, "source": self.meta_source}
        return {
            "lastUpdated": self.last_updated,
            "source": self.meta_source,
            "tag": [{"system": CONTROL_ID_SYSTEM, "code": self.control_tag}],
        }

    def add(self, resource: dict[str, Any]) -> str:
        """Stamp meta on a resource, keep it, and return its ``Type/id`` reference.

        A shared resource (practitioner, location...) added twice is merged: what the first
        occurrence lacks, a later one fills in.
        """
        resource_type, resource_id = resource["resourceType"], resource["id"]
        ref = f"{resource_type}/{resource_id}"
        existing = self.resources.get(ref)
        if existing is not None:
            for key, value in resource.items():
                existing.setdefault(key, value)
            return ref
        meta = self.new_meta()
        if "meta" in resource:
            stamped = {"resourceType": resource_type, "id": resource_id, "meta": meta}
            stamped.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
        else:
            # The usual case, in one C-level merge: resourceType and id are overwritten in place
            # by the same values, so the key order is the one above.
            stamped = {"resourceType": resource_type, "id": resource_id, "meta": meta, **resource}
        self.resources[ref] = stamped
        return ref


def build_context(
    message: Message,
    *,
    source_system: str | None,
    zone: tzinfo | None,
    identifier_systems: Mapping[str, str] | None,
) -> Context:
    """Read MSH once: the source, the message time (meta.lastUpdated) and the default time zone."""
    msh = message.msh
    app = _hd_name(msh.component_value(3), msh.component_value(3, 2))
    facility = _hd_name(msh.component_value(4), msh.component_value(4, 2))
    source = source_system or facility or app
    if not source:
        raise ConversionError(
            "MSH-4 sending facility and MSH-3 sending application are both empty", location=HL7Location("MSH", 1, 4)
        )
    clock = _message_clock(msh.component_value(7), zone)
    if clock is None:
        raise missing("MSH", 7, "date/time of message")
    message_time, zone, last_updated, warning = clock
    control_id = message.control_id
    return Context(
        message=message,
        source=source,
        zone=zone,
        systems=dict(identifier_systems or {}),
        last_updated=last_updated,
        meta_source=_meta_source(app, facility),
        control_tag=control_id.strip() if control_id else None,
        message_time=message_time,
        warnings=[warning] if warning else [],
    )


_NO_OFFSET = "MSH-7 has no UTC offset and no time zone is configured: timestamps read as UTC"


def _message_clock(value: str | None, zone: tzinfo | None) -> tuple[V2Time, tzinfo, str, str | None] | None:
    try:
        return _clock(value, zone)
    except TypeError:  # an unhashable tzinfo (dateutil's tzlocal is one): work it out uncached
        return _clock.__wrapped__(value, zone)


# At 2,500 messages a second most messages share their MSH-7 second with the one before: the
# zone and lastUpdated are a pure function of it (and the configured zone), 2.5 us uncached.
@lru_cache(maxsize=256)
def _clock(value: str | None, zone: tzinfo | None) -> tuple[V2Time, tzinfo, str, str | None] | None:
    """(MSH-7 parsed, the zone for values without an offset, meta.lastUpdated, warning); None
    when MSH-7 is no timestamp precise to the day."""
    message_time = parse_dtm(value)
    if message_time is None or message_time.day is None:
        return None
    warning = None
    if zone is None:
        if message_time.offset is not None:
            zone = timezone(message_time.offset)
        else:
            zone = UTC
            warning = _NO_OFFSET
    last_updated = to_instant(message_time, zone)
    assert last_updated is not None  # a day is there
    return message_time, zone, last_updated, warning


@lru_cache(maxsize=256)
def _meta_source(app: str | None, facility: str | None) -> str:
    # A listener hears a few senders; quoting their names cost 1.2 us a message.
    return f"urn:hl7v2:{quote(app or '', safe='')}|{quote(facility or '', safe='')}"


def _hd_name(namespace: str | None, universal: str | None) -> str | None:
    return (namespace or "").strip() or (universal or "").strip() or None
