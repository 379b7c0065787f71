"""The data model of HoloVitals Sync (SQLAlchemy 2). Migrations in ``store/migrations`` mirror it.

Naming: tables are plural nouns; ids of our own rows are 32-hex UUID strings, except the two
high-volume tables (resources and their versions) which use integer keys. Every row that belongs to
a tenant carries ``org_id`` so every query can be scoped to the caller's organization.
Columns ending in ``_enc`` hold secret-box ciphertext, never plaintext (see ``ENCRYPTED_COLUMNS``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from holovitals.store.types import JsonDoc, UTCDateTime, new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PKs
# FHIR caps ids at 64 characters, but real servers (and one official R4 example) send longer ones;
# refusing them would lose records, so the store accepts up to 255.
ResourceId = String(255)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


def _org() -> Mapped[str]:
    return mapped_column(String(32), ForeignKey("organizations.id", ondelete="CASCADE"), index=True)


# ---------------------------------------------------------------- tenants, people, access


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = _created()


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    permissions: Mapped[list[Permission]] = relationship(secondary="role_permissions", lazy="selectin")


class Permission(Base):
    __tablename__ = "permissions"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")


class RolePermission(Base):
    __tablename__ = "role_permissions"
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    permission_id: Mapped[str] = mapped_column(ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("org_id", "email"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    role: Mapped[Role] = relationship(lazy="joined")


class RetentionPolicy(Base):
    __tablename__ = "retention_policies"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(50), unique=True)
    retention_days: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300), default="")


# ---------------------------------------------------------------- connections and resources


class Connection(Base):
    """A source or destination of records: an EHR over FHIR, an HL7 v2 channel, a file drop."""

    __tablename__ = "connections"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    kind: Mapped[str] = mapped_column(String(20), default="ehr")  # ehr | hl7v2 | file | webhook
    name: Mapped[str] = mapped_column(String(200))
    vendor: Mapped[str | None] = mapped_column(String(50))
    base_url: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str | None] = mapped_column(String(200))
    auth_style: Mapped[str | None] = mapped_column(String(40))  # public | confidential | backend
    scopes: Mapped[str | None] = mapped_column(Text)
    credentials_enc: Mapped[str | None] = mapped_column(Text)  # client secret or private key
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="PENDING")  # PENDING ACTIVE ERROR REVOKED
    patient_id: Mapped[str | None] = mapped_column(ResourceId)  # SMART patient context
    sync_settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Resource(Base):
    """The current copy of one FHIR resource, keyed by (connection, type, id).

    ``body`` is the JSON the source sent. ``local_version`` counts our own writes to the row (1 on
    insert), which tells a batch upsert what it created versus updated. Superseded versions are
    copied to ``resource_versions`` by a database trigger, so no code path can skip history.

    There is deliberately no index on ``last_updated``: it cost a quarter of every write (8 of
    32 us a row, measured with bench/store_upsert.py), and only date filters of the resource list
    use it, which the (connection, type, id) key narrows well enough.
    """

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("connection_id", "resource_type", "resource_id", name="uq_resources_key"),
        Index("ix_resources_patient", "connection_id", "patient_id"),
    )
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(ResourceId)
    version_id: Mapped[str | None] = mapped_column(String(64))
    version_num: Mapped[int | None] = mapped_column(BigInteger)  # versionId when it is numeric
    last_updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_id: Mapped[str | None] = mapped_column(ResourceId)  # compartment, for patient filters
    source: Mapped[str] = mapped_column(String(200))  # provenance: URL, channel or file it came from
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_version: Mapped[int] = mapped_column(Integer, default=1)


class ResourceVersion(Base):
    """A superseded version of a resource, written by trigger when the current row changes."""

    __tablename__ = "resource_versions"
    __table_args__ = (Index("ix_resource_versions_key", "connection_id", "resource_type", "resource_id"),)
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(ResourceId)
    version_id: Mapped[str | None] = mapped_column(String(64))
    last_updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_version: Mapped[int] = mapped_column(Integer)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- sync


class SyncJob(Base):
    __tablename__ = "sync_jobs"
    __table_args__ = (Index("ix_sync_jobs_conn_status", "connection_id", "status"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    job_type: Mapped[str] = mapped_column(String(30))  # FULL_SYNC INCREMENTAL_SYNC PATIENT_SYNC ...
    direction: Mapped[str] = mapped_column(String(20), default="INBOUND")
    priority: Mapped[str] = mapped_column(String(20), default="NORMAL")
    status: Mapped[str] = mapped_column(String(20), default="QUEUED")
    params: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    task_id: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # lease: stale means the worker died
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncJobEvent(Base):
    """Every state change of a job, with its time: the job's history."""

    __tablename__ = "sync_job_events"
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _created()


class SyncCheckpoint(Base):
    """Where a stream (resource type, optionally one patient) of a connection got to."""

    __tablename__ = "sync_checkpoints"
    __table_args__ = (UniqueConstraint("connection_id", "stream", name="uq_sync_checkpoints_stream"),)
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("sync_jobs.id", ondelete="SET NULL"))
    stream: Mapped[str] = mapped_column(String(200))
    bookmark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)  # bulk poll URL, page count...
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SyncError(Base):
    __tablename__ = "sync_errors"
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = _org()
    job_id: Mapped[str | None] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[str | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    stream: Mapped[str | None] = mapped_column(String(200))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(ResourceId)
    kind: Mapped[str] = mapped_column(String(40))  # page_failed, invalid_resource, auth, ...
    http_status: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = _created()


class Conflict(Base):
    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_key", "connection_id", "resource_type", "resource_id"),)
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(ResourceId)
    base_body: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    local_body: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    remote_body: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    fields: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    severity: Mapped[str] = mapped_column(String(20), default="MEDIUM")
    strategy: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="OPEN")  # OPEN RESOLVED IGNORED
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncStatistic(Base):
    """Counters for one job (period JOB) or one connection and day (period DAY)."""

    __tablename__ = "sync_statistics"
    __table_args__ = (Index("ix_sync_statistics_conn_day", "connection_id", "period", "day"),)
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = _org()
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(10))  # JOB | DAY
    day: Mapped[date] = mapped_column(Date)
    queried: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)


# ---------------------------------------------------------------- webhooks, transforms


class WebhookConfig(Base):
    __tablename__ = "webhook_configs"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    direction: Mapped[str] = mapped_column(String(10), default="OUTBOUND")  # INBOUND | OUTBOUND
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(1000))
    secret_enc: Mapped[str | None] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status", "webhook_id", "status"),)
    id: Mapped[str] = _id()
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhook_configs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(20), default="PENDING")  # PENDING DELIVERED FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TransformationRule(Base):
    __tablename__ = "transformation_rules"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    name: Mapped[str] = mapped_column(String(200))
    source_format: Mapped[str] = mapped_column(String(40))  # fhir-r4, hl7v2, csv, json...
    target_format: Mapped[str] = mapped_column(String(40))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class FieldMapping(Base):
    __tablename__ = "field_mappings"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    integration_id: Mapped[str | None] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    rule_id: Mapped[str | None] = mapped_column(ForeignKey("transformation_rules.id", ondelete="CASCADE"))
    source_path: Mapped[str] = mapped_column(String(500))
    target_path: Mapped[str] = mapped_column(String(500))
    function: Mapped[str | None] = mapped_column(String(100))
    default_value: Mapped[str | None] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=False)


# ---------------------------------------------------------------- HL7 v2, integrations, alerts


class Hl7Message(Base):
    """One HL7 v2 message as received (raw text kept verbatim), stored before it is acknowledged."""

    __tablename__ = "hl7_messages"
    __table_args__ = (
        Index("ix_hl7_messages_control", "sending_facility", "control_id"),
        Index("ix_hl7_messages_type", "message_type", "received_at"),
        Index("ix_hl7_messages_org_received", "org_id", "received_at"),
        Index("ix_hl7_messages_org_status", "org_id", "status", "received_at"),
        Index("ix_hl7_messages_org_patient", "org_id", "patient_id"),
    )
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = _org()
    channel: Mapped[str] = mapped_column(String(100), default="default")
    control_id: Mapped[str | None] = mapped_column(String(100))
    message_type: Mapped[str | None] = mapped_column(String(20))  # ADT^A01
    version: Mapped[str | None] = mapped_column(String(10))
    sending_application: Mapped[str | None] = mapped_column(String(200))
    sending_facility: Mapped[str | None] = mapped_column(String(200))
    patient_id: Mapped[str | None] = mapped_column(String(100))
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="RECEIVED")
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    ack_code: Mapped[str | None] = mapped_column(String(2))  # what we answered: AA AE AR CA CE CR, None if no ACK
    received_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Integration(Base):
    __tablename__ = "integrations"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    kind: Mapped[str] = mapped_column(String(30))  # ehr lab eligibility pharmacy ecommerce hl7v2
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    credentials_enc: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="ACTIVE")
    health: Mapped[str] = mapped_column(String(20), default="UNKNOWN")
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    integration_id: Mapped[str | None] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    connection_id: Mapped[str | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="OPEN")
    created_at: Mapped[datetime] = _created()
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Append-only (database triggers refuse UPDATE and DELETE): who did what to which record."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_at", "org_id", "at"),)
    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))  # api key id, user id, or "system"/"cli"
    action: Mapped[str] = mapped_column(String(40))  # read search create update delete export
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(ResourceId)
    patient_id: Mapped[str | None] = mapped_column(ResourceId)
    outcome: Mapped[str] = mapped_column(String(20))  # success denied not_found error
    client_addr: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = _created()


# ---------------------------------------------------------------- OAuth


class OAuthAuthorization(Base):
    """A SMART authorization in flight: started, waiting for the browser to come back with a code.

    Only sha256(state) is stored, so reading the table never yields a state that completes a grant;
    the PKCE verifier and any client secret are sealed. A row lives minutes: deleted when the code is
    redeemed (or the attempt fails), refused once ``expires_at`` has passed.
    """

    __tablename__ = "oauth_authorizations"
    id: Mapped[str] = _id()
    org_id: Mapped[str] = _org()
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    vendor: Mapped[str] = mapped_column(String(50))
    base_url: Mapped[str] = mapped_column(String(500))
    tenant: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    scopes: Mapped[str] = mapped_column(Text)  # as requested; the granted ones come with the token
    name: Mapped[str | None] = mapped_column(String(200))  # the connection's name, when one was asked for
    code_verifier_enc: Mapped[str | None] = mapped_column(Text)
    client_secret_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


# Every column holding secret-box ciphertext. Key rotation walks exactly this list.
ENCRYPTED_COLUMNS: dict[type[Base], tuple[str, ...]] = {
    Connection: ("credentials_enc", "access_token_enc", "refresh_token_enc"),
    WebhookConfig: ("secret_enc",),
    Integration: ("credentials_enc",),
    OAuthAuthorization: ("code_verifier_enc", "client_secret_enc"),
}
