"""HL7 v2 channels, Mirth-style: source (an MLLP port) → filters → transformer (v2 → FHIR) → destinations.

A channel is data: it comes from a YAML/JSON file (``holovitals hl7 listen --channels FILE``) or
from the ``integrations`` table (kind ``hl7v2``, the channel in ``config``) through the API.
Secrets never live in a channel: a destination that needs a bearer token names the environment
variable holding it (``token_env``), so neither the file nor the database carries the token.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from holovitals.store.models import Integration

from .mllp import DEFAULT_MAX_FRAME_SIZE

INTEGRATION_KIND = "hl7v2"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ChannelConfigError(ValueError):
    """A channels file or body that cannot be used; the message names the file and the field."""


class Filter(BaseModel):
    """One filter rule: every condition given must hold (a list matches when any pattern does).

    Patterns are shell-style (``ADT^A0*``, ``ORU^R0?``) and case-sensitive, like HL7 codes.
    """

    model_config = ConfigDict(extra="forbid")

    message_types: list[str] = Field(default_factory=list, description="Patterns on TYPE^TRIGGER")
    sending_facilities: list[str] = Field(default_factory=list, description="Patterns on MSH-4")
    sending_applications: list[str] = Field(default_factory=list, description="Patterns on MSH-3")
    exclude_message_types: list[str] = Field(default_factory=list, description="Refuse these even if listed")

    def rule(self) -> FilterRule:
        return FilterRule(
            tuple(self.message_types),
            tuple(self.sending_facilities),
            tuple(self.sending_applications),
            tuple(self.exclude_message_types),
        )


@dataclass(frozen=True, slots=True)
class FilterRule:
    """A filter in plain tuples: cheap to evaluate for every frame."""

    message_types: tuple[str, ...] = ()
    sending_facilities: tuple[str, ...] = ()
    sending_applications: tuple[str, ...] = ()
    exclude_message_types: tuple[str, ...] = ()

    def matches(self, message_type: str, facility: str, application: str) -> bool:
        if any(fnmatch.fnmatchcase(message_type, p) for p in self.exclude_message_types):
            return False
        return (
            _any(self.message_types, message_type)
            and _any(self.sending_facilities, facility)
            and _any(self.sending_applications, application)
        )


def _any(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)


def passes(rules: tuple[FilterRule, ...], message_type: str, facility: str, application: str) -> bool:
    """No rules: everything passes. Otherwise a message passes when any rule matches it."""
    return not rules or any(r.matches(message_type, facility, application) for r in rules)


# ---------------------------------------------------------------- destinations


class StoreDestination(BaseModel):
    """Convert to FHIR and upsert into the local store, under the channel's hl7v2 connection."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["store"] = "store"


class FhirDestination(BaseModel):
    """Convert to FHIR and POST a transaction Bundle (PUT per resource) to a FHIR server base URL."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["fhir"]
    url: str = Field(pattern=r"^https?://", max_length=1000)
    token_env: str | None = Field(None, max_length=100, description="Env variable with a bearer token")
    timeout: float = Field(30.0, gt=0, le=600)


class MllpDestination(BaseModel):
    """Forward the raw message unchanged to another MLLP endpoint and require its AA."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["mllp"]
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    timeout: float = Field(30.0, gt=0, le=600)


class WebhookDestination(BaseModel):
    """POST JSON to a URL: a summary of the message, plus the FHIR Bundle when ``payload: bundle``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", max_length=1000)
    payload: Literal["summary", "bundle"] = "summary"
    token_env: str | None = Field(None, max_length=100, description="Env variable with a bearer token")
    timeout: float = Field(30.0, gt=0, le=600)


Destination = Annotated[
    StoreDestination | FhirDestination | MllpDestination | WebhookDestination, Field(discriminator="type")
]


# ---------------------------------------------------------------- the channel


class Channel(BaseModel):
    """One MLLP listener and what happens to each message it receives."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", description="Letters, digits, _ . -; stored on every message")
    host: str | None = Field(None, description="Listen address (default HOLOVITALS_MLLP_HOST)")
    port: int | None = Field(None, ge=0, le=65535, description="Listen port (default HOLOVITALS_MLLP_PORT)")
    org: str = Field("default", description="Slug of the organization the messages belong to")
    strict: bool = Field(True, description="Validate every message (required fields, tables); AE/AR if not")
    filters: list[Filter] = Field(default_factory=list, description="A message passes when any filter matches")
    destinations: list[Destination] = Field(default_factory=lambda: [StoreDestination()])
    tls_cert: str | None = None
    tls_key: str | None = None
    idle_timeout: float = Field(300.0, gt=0, le=86400, description="Seconds before a silent connection is closed")
    max_frame_size: int = Field(DEFAULT_MAX_FRAME_SIZE, ge=1024, le=1024 * 1024 * 1024)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use 1-100 letters, digits, '_', '.' or '-'")
        return value

    @property
    def needs_conversion(self) -> bool:
        """Whether any destination needs FHIR (a pure MLLP router never converts)."""
        return any(d.type in ("store", "fhir") or (d.type == "webhook" and d.payload == "bundle")
                   for d in self.destinations)  # fmt: skip

    @property
    def stores(self) -> bool:
        return any(d.type == "store" for d in self.destinations)

    @property
    def network_destinations(self) -> list[FhirDestination | MllpDestination | WebhookDestination]:
        return [d for d in self.destinations if d.type != "store"]  # type: ignore[misc]

    def rules(self) -> tuple[FilterRule, ...]:
        return tuple(f.rule() for f in self.filters)

    def passes(self, message_type: str, facility: str, application: str) -> bool:
        return passes(self.rules(), message_type, facility, application)


def connection_name(channel: str) -> str:
    """Name of the store connection a channel writes FHIR under (one per channel and tenant)."""
    return f"hl7v2:{channel}"


# ---------------------------------------------------------------- files


def parse_channels(data: Any, *, source: str = "channels") -> list[Channel]:
    """Channels from decoded YAML/JSON: ``{"channels": [...]}``, a list, or one channel object."""
    if isinstance(data, dict) and "channels" in data:
        data = data["channels"]
    items = data if isinstance(data, list) else [data]
    channels: list[Channel] = []
    for index, item in enumerate(items):
        try:
            channels.append(Channel.model_validate(item))
        except ValidationError as exc:
            raise ChannelConfigError(f"{source}: channel {index + 1}: {_first_error(exc)}") from None
    if not channels:
        raise ChannelConfigError(f"{source}: no channels defined")
    names = [c.name for c in channels]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ChannelConfigError(f"{source}: channel names must be unique ({', '.join(duplicates)})")
    return channels


def load_channels(path: str | Path) -> list[Channel]:
    """Read a channels file (``.yaml``/``.yml`` or ``.json``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChannelConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ChannelConfigError(f"{path}: not valid YAML{where}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ChannelConfigError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return parse_channels(data, source=str(path))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


# ---------------------------------------------------------------- the integrations table


def channel_of(row: Integration) -> Channel:
    return Channel.model_validate(row.config)


def list_db_channels(session: Session, org_id: str) -> list[Integration]:
    stmt = select(Integration).where(Integration.org_id == org_id, Integration.kind == INTEGRATION_KIND)
    return list(session.execute(stmt.order_by(Integration.name)).scalars())


def find_db_channel(session: Session, org_id: str, *, channel_id: str | None = None, name: str | None = None):
    stmt = select(Integration).where(Integration.org_id == org_id, Integration.kind == INTEGRATION_KIND)
    if channel_id is not None:
        stmt = stmt.where(Integration.id == channel_id)
    if name is not None:
        stmt = stmt.where(Integration.name == name)
    return session.execute(stmt).scalars().first()


def save_db_channel(session: Session, org_id: str, channel: Channel, row: Integration | None = None) -> Integration:
    """Insert or update the integration row holding a channel (the name must stay unique per tenant)."""
    clash = find_db_channel(session, org_id, name=channel.name)
    if clash is not None and (row is None or clash.id != row.id):
        raise ChannelConfigError(f"a channel named {channel.name!r} already exists")
    if row is None:
        row = Integration(org_id=org_id, kind=INTEGRATION_KIND, name=channel.name)
        session.add(row)
    row.name = channel.name
    row.config = channel.model_dump(mode="json", exclude_none=True)
    session.flush()
    return row
