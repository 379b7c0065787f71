"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB

# JSON on SQLite, JSONB on PostgreSQL (indexable, and containment queries for later filters).
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class RawJson(str):
    """JSON text passed to the database verbatim.

    A resource body arrives as bytes from the EHR; parsing and re-serialising it would cost time on
    the hot path and could alter it (key order, number spelling). Wrapping it in ``RawJson`` tells
    :func:`json_serializer` to hand the text through untouched.
    """

    __slots__ = ()


def json_serializer(value: object) -> str:
    if isinstance(value, RawJson):
        return value
    return orjson.dumps(value).decode()


def json_deserializer(value: str | bytes) -> object:
    return orjson.loads(value)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex
