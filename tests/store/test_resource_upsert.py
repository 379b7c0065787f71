"""The versioned resource store, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy

import orjson
import pytest
from sqlalchemy import func, select, text

from holovitals.store.db import transaction
from holovitals.store.models import Connection, Resource, ResourceVersion
from holovitals.store.resources import (
    IncomingResource,
    InvalidResource,
    get_resource,
    history,
    mark_deleted,
    upsert_resources,
)


def observation(i: int, version: int = 1, last_updated: str = "2026-03-01T10:00:00Z", **extra) -> dict:
    body = {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": {"versionId": str(version), "lastUpdated": last_updated},
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": f"Patient/pat-{i % 7}"},
        "valueQuantity": {"value": 95 + i, "unit": "mg/dL", "system": "http://unitsofmeasure.org"},
    }
    body.update(extra)
    return body


@pytest.fixture
def conn_id(ctx, tenant) -> str:
    with transaction(ctx.sessions) as session:
        conn = Connection(org_id=tenant.org_id, name="Epic test", kind="ehr", vendor="epic")
        session.add(conn)
        session.flush()
        return conn.id


def store(ctx, conn_id, bodies, source="test"):
    with transaction(ctx.sessions) as session:
        return upsert_resources(session, conn_id, [IncomingResource.from_dict(b) for b in bodies], source=source)


def snapshot(ctx) -> list[tuple]:
    with ctx.sessions() as session:
        rows = session.execute(
            select(
                Resource.resource_type,
                Resource.resource_id,
                Resource.version_id,
                Resource.content_hash,
                Resource.local_version,
                Resource.deleted,
            ).order_by(Resource.resource_id)
        ).all()
        versions = session.execute(select(func.count()).select_from(ResourceVersion)).scalar_one()
    return [*rows, ("versions", versions)]


def test_replaying_a_batch_leaves_the_same_rows(ctx, conn_id):
    batch = [observation(i) for i in range(50)]
    first = store(ctx, conn_id, batch)
    before = snapshot(ctx)
    second = store(ctx, conn_id, batch)
    assert (first.created, first.updated, first.unchanged) == (50, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 50)
    assert snapshot(ctx) == before


def test_newer_version_replaces_and_the_old_one_goes_to_history(ctx, conn_id, tenant):
    store(ctx, conn_id, [observation(1)])
    result = store(ctx, conn_id, [observation(1, 2, "2026-03-02T10:00:00Z", status="amended")])
    assert (result.created, result.updated) == (0, 1)
    with ctx.sessions() as session:
        current = get_resource(session, tenant.org_id, "Observation", "obs-1")
        assert current.body["status"] == "amended"
        assert current.version_id == "2"
        old = history(session, current)
    assert [v.version_id for v in old] == ["1"]
    assert old[0].body["status"] == "final"


def test_older_version_never_overwrites_a_newer_one(ctx, conn_id, tenant):
    store(ctx, conn_id, [observation(1, 3, "2026-03-03T10:00:00Z", status="amended")])
    result = store(ctx, conn_id, [observation(1, 2, "2026-03-02T10:00:00Z", status="preliminary")])
    assert (result.updated, result.unchanged) == (0, 1)
    with ctx.sessions() as session:
        current = get_resource(session, tenant.org_id, "Observation", "obs-1")
    assert (current.version_id, current.body["status"]) == ("3", "amended")


def test_older_last_updated_is_refused_when_the_server_has_no_version_ids(ctx, conn_id, tenant):
    newer = observation(1, status="amended")
    newer["meta"] = {"lastUpdated": "2026-05-01T00:00:00+00:00"}
    older = observation(1, status="preliminary")
    older["meta"] = {"lastUpdated": "2026-04-30T23:59:59.999+00:00"}
    store(ctx, conn_id, [newer])
    assert store(ctx, conn_id, [older]).unchanged == 1
    with ctx.sessions() as session:
        assert get_resource(session, tenant.org_id, "Observation", "obs-1").body["status"] == "amended"


def test_version_ten_is_newer_than_version_nine(ctx, conn_id, tenant):
    store(ctx, conn_id, [observation(1, 10, status="amended")])
    assert store(ctx, conn_id, [observation(1, 9, status="final")]).unchanged == 1


def test_the_same_resource_twice_in_one_batch_keeps_the_newest(ctx, conn_id, tenant):
    result = store(ctx, conn_id, [observation(1, 2, "2026-03-02T00:00:00Z", status="amended"), observation(1, 1)])
    assert result.created == 1
    with ctx.sessions() as session:
        assert get_resource(session, tenant.org_id, "Observation", "obs-1").version_id == "2"


def test_same_id_under_two_connections_are_two_records(ctx, conn_id, tenant):
    with transaction(ctx.sessions) as session:
        other = Connection(org_id=tenant.org_id, name="Cerner", kind="ehr", vendor="cerner")
        session.add(other)
        session.flush()
        other_id = other.id
    store(ctx, conn_id, [observation(1)])
    assert store(ctx, other_id, [observation(1)]).created == 1
    with ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(Resource)).scalar_one() == 2


def test_tombstone_keeps_the_last_content_in_history_and_a_newer_version_revives(ctx, conn_id, tenant):
    store(ctx, conn_id, [observation(1)])
    with transaction(ctx.sessions) as session:
        assert mark_deleted(session, conn_id, [("Observation", "obs-1")], source="bulk-deleted") == 1
        assert mark_deleted(session, conn_id, [("Observation", "obs-1")], source="bulk-deleted") == 0
    with ctx.sessions() as session:
        row = get_resource(session, tenant.org_id, "Observation", "obs-1")
        assert row.deleted
        assert [v.deleted for v in history(session, row)] == [False]
    revived = observation(1, 2, "2030-01-01T00:00:00Z")
    assert store(ctx, conn_id, [revived]).updated == 1
    with ctx.sessions() as session:
        assert not get_resource(session, tenant.org_id, "Observation", "obs-1").deleted


def test_body_is_kept_as_the_source_sent_it(ctx, conn_id, tenant):
    raw = (
        b'{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"birthDate":"1970-01-01",'
        b'"extension":[{"url":"http://x","valueDecimal":1.50}]}'
    )
    with transaction(ctx.sessions) as session:
        upsert_resources(session, conn_id, [IncomingResource.from_json(raw)], source="test")
    with ctx.sessions() as session:
        row = get_resource(session, tenant.org_id, "Patient", "p1")
        assert row.body == orjson.loads(raw)
        assert row.patient_id == "p1"
        if session.get_bind().dialect.name == "sqlite":  # JSONB normalises; SQLite keeps the bytes
            stored = session.execute(text("SELECT body FROM resources")).scalar_one()
            assert stored == raw.decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"id": "x"}', "resourceType is missing"),
        (b'{"resourceType": "Patient"}', "Patient has no id"),
        (b'{"resourceType": "Patient", "id": "p", "meta": {"lastUpdated": "yesterday"}}', "not a FHIR instant"),
        (b'{"resourceType": "Patient", "id": "p", "meta": {"lastUpdated": "2026-01-01T00:00:00"}}', "no time zone"),
    ],
)
def test_malformed_resources_are_refused_with_the_reason(body, message):
    with pytest.raises(InvalidResource, match=message):
        IncomingResource.from_json(body)


def test_a_failed_batch_changes_nothing_already_stored(ctx, conn_id):
    store(ctx, conn_id, [observation(i) for i in range(5)])
    before = snapshot(ctx)
    bad = [observation(i, 2, "2026-04-01T00:00:00Z", status="amended") for i in range(5)]
    with pytest.raises(ValueError), transaction(ctx.sessions) as session:
        upsert_resources(session, conn_id, [IncomingResource.from_dict(b) for b in bad], source="t")
        raise ValueError("the source failed half-way through the page")
    assert snapshot(ctx) == before


def test_upsert_does_not_mutate_the_callers_dicts(ctx, conn_id):
    body = observation(1)
    original = copy.deepcopy(body)
    store(ctx, conn_id, [body])
    assert body == original
