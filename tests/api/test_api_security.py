"""The API's guard rails: authentication, permissions, tenant isolation, audit, problem details."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from holovitals.security.principals import issue_api_key
from holovitals.store.db import transaction
from holovitals.store.models import AuditEntry, Connection, Organization, Resource
from holovitals.store.resources import IncomingResource, upsert_resources

PATIENT = {
    "resourceType": "Patient",
    "id": "pat-1",
    "meta": {"versionId": "1", "lastUpdated": "2026-02-01T00:00:00Z"},
    "name": [{"family": "Example", "given": ["Pat"]}],
    "birthDate": "1980-02-03",
}
OBS = {
    "resourceType": "Observation",
    "id": "obs-1",
    "meta": {"versionId": "1", "lastUpdated": "2026-02-01T00:00:00Z"},
    "status": "final",
    "code": {"text": "glucose"},
    "subject": {"reference": "Patient/pat-1"},
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def stored(ctx, tenant):
    """A connection of the default tenant holding a patient and an observation."""
    with transaction(ctx.sessions) as session:
        conn = Connection(org_id=tenant.org_id, name="Epic", vendor="epic")
        session.add(conn)
        session.flush()
        upsert_resources(
            session, conn.id, [IncomingResource.from_dict(PATIENT), IncomingResource.from_dict(OBS)], source="test"
        )
        return conn.id


def key_for(ctx, org_id: str, role: str) -> str:
    with transaction(ctx.sessions) as session:
        return issue_api_key(session, org_id=org_id, role=role, name=f"{role} key")[1]


@pytest.fixture
def other_tenant(ctx):
    with transaction(ctx.sessions) as session:
        org = Organization(name="Other clinic", slug="other")
        session.add(org)
        session.flush()
        org_id = org.id
    return org_id, key_for(ctx, org_id, "OWNER")


def audit_rows(ctx) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.pk)).scalars())


def resource_count(ctx) -> int:
    with ctx.sessions() as session:
        return session.execute(select(func.count()).select_from(Resource)).scalar_one()


def test_health_and_readiness(client, tenant):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "queue": "ok"}


def test_openapi_document_is_served(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/ehr/resources/{resource_type}/{resource_id}" in paths


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Bearer hv_000000000000_notarealkeyatall"}, "invalid API key"),
        ({"X-API-Key": "garbage"}, "invalid API key"),
    ],
)
def test_requests_without_a_valid_key_get_401_problem(client, tenant, stored, headers, detail):
    res = client.get("/api/ehr/resources/Patient/pat-1", headers=headers)
    assert res.status_code == 401
    assert res.headers["content-type"] == "application/problem+json"
    assert res.headers["www-authenticate"] == "Bearer"
    assert res.json()["detail"].startswith(detail)
    assert "Example" not in res.text


def test_a_revoked_key_stops_working(client, ctx, tenant, stored):
    key = key_for(ctx, tenant.org_id, "DOCTOR")
    assert client.get("/api/ehr/resources/Patient/pat-1", headers=auth(key)).status_code == 200
    key_id = next(
        k["id"] for k in client.get("/api/keys", headers=auth(tenant.owner_key)).json() if k["name"] == "DOCTOR key"
    )
    assert client.delete(f"/api/keys/{key_id}", headers=auth(tenant.owner_key)).status_code == 204
    res = client.get("/api/ehr/resources/Patient/pat-1", headers=auth(key))
    assert (res.status_code, res.json()["detail"]) == (401, "API key has been revoked")


def test_a_role_without_the_permission_gets_403_and_the_denial_is_audited(client, ctx, tenant, stored):
    support = key_for(ctx, tenant.org_id, "SUPPORT")  # runs connections, sees no PHI
    res = client.get("/api/ehr/resources/Patient/pat-1", headers=auth(support))
    assert res.status_code == 403
    assert "READ_PHI" in res.json()["detail"]
    assert [(a.action, a.outcome) for a in audit_rows(ctx)] == [("access", "denied")]


def test_analyst_reads_but_cannot_write(client, ctx, tenant, stored):
    analyst = key_for(ctx, tenant.org_id, "ANALYST")
    assert client.get("/api/ehr/resources/Observation/obs-1", headers=auth(analyst)).status_code == 200
    res = client.put(
        f"/api/ehr/resources/Observation/obs-1?connectionId={stored}", headers=auth(analyst), content=orjson.dumps(OBS)
    )
    assert res.status_code == 403


def test_another_tenants_records_are_404_not_403(client, ctx, tenant, stored, other_tenant):
    _, other_key = other_tenant
    assert client.get("/api/ehr/resources/Patient/pat-1", headers=auth(other_key)).status_code == 404
    assert client.get(f"/api/ehr/connections/{stored}", headers=auth(other_key)).status_code == 404
    assert client.get("/api/ehr/resources", headers=auth(other_key)).json()["total"] == 0
    assert client.get("/api/ehr/connections", headers=auth(other_key)).json() == []
    res = client.put(
        f"/api/ehr/resources/Patient/pat-1?connectionId={stored}",
        headers=auth(other_key),
        content=orjson.dumps(PATIENT | {"birthDate": "1999-01-01"}),
    )
    assert res.status_code == 404
    assert client.delete(f"/api/ehr/connections/{stored}", headers=auth(other_key)).status_code == 404
    # The owner still sees the untouched record.
    mine = client.get("/api/ehr/resources/Patient/pat-1", headers=auth(tenant.owner_key))
    assert mine.json()["birthDate"] == "1980-02-03"


def test_one_audit_row_per_patient_data_access(client, ctx, tenant, stored):
    key = tenant.owner_key
    client.get("/api/ehr/resources/Patient/pat-1", headers=auth(key))
    client.get("/api/ehr/resources?type=Observation&patient=pat-1", headers=auth(key))
    client.get("/api/ehr/resources/Observation/nope", headers=auth(key))
    client.get("/api/ehr/resources/Observation/obs-1/_history", headers=auth(key))
    rows = audit_rows(ctx)
    assert [(r.action, r.outcome, r.resource_type, r.resource_id, r.patient_id) for r in rows] == [
        ("read", "success", "Patient", "pat-1", "pat-1"),
        ("search", "success", "Observation", None, "pat-1"),
        ("read", "not_found", "Observation", "nope", None),
        ("history", "success", "Observation", "obs-1", "pat-1"),
    ]
    assert all(r.org_id == tenant.org_id and r.actor.startswith("apikey:") for r in rows)
    assert all(r.client_addr == "203.0.113.7" and r.request_id for r in rows)


def test_read_returns_the_stored_json_with_an_etag(client, tenant, stored):
    res = client.get("/api/ehr/resources/Patient/pat-1", headers=auth(tenant.owner_key))
    assert res.headers["content-type"] == "application/fhir+json"
    assert res.headers["etag"] == 'W/"1"'
    assert res.json() == PATIENT


def test_put_stores_through_the_guarded_upsert_and_is_audited_with_it(client, ctx, tenant, stored):
    newer = OBS | {"meta": {"versionId": "2", "lastUpdated": "2026-03-01T00:00:00Z"}, "status": "amended"}
    url = f"/api/ehr/resources/Observation/obs-1?connectionId={stored}"
    assert client.put(url, headers=auth(tenant.owner_key), content=orjson.dumps(newer)).status_code == 200
    older = OBS | {"status": "cancelled"}
    res = client.put(url, headers=auth(tenant.owner_key), content=orjson.dumps(older))
    assert res.json()["status"] == "amended"  # the older version did not win
    versions = client.get("/api/ehr/resources/Observation/obs-1/_history", headers=auth(tenant.owner_key)).json()
    assert [v["versionId"] for v in versions["versions"]] == ["2", "1"]
    assert [(r.action, r.detail) for r in audit_rows(ctx)][:2] == [("update", None), ("update", "unchanged")]


def test_delete_tombstones_and_read_then_says_404(client, ctx, tenant, stored):
    url = f"/api/ehr/resources/Observation/obs-1?connectionId={stored}"
    assert client.delete(url, headers=auth(tenant.owner_key)).status_code == 204
    assert client.get("/api/ehr/resources/Observation/obs-1", headers=auth(tenant.owner_key)).status_code == 404
    assert resource_count(ctx) == 2  # kept as a tombstone, content in history


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "body: not valid JSON"),
        (b'{"resourceType": "Observation"}', "body: Observation has no id"),
        (orjson.dumps(OBS | {"id": "other"}), "body: resourceType and id must match the URL"),
    ],
)
def test_malformed_resource_bodies_get_422_and_change_nothing(client, ctx, tenant, stored, body, detail):
    before = client.get("/api/ehr/resources/Observation/obs-1", headers=auth(tenant.owner_key)).json()
    res = client.put(
        f"/api/ehr/resources/Observation/obs-1?connectionId={stored}", headers=auth(tenant.owner_key), content=body
    )
    assert res.status_code == 422
    assert res.headers["content-type"] == "application/problem+json"
    assert res.json()["detail"].startswith(detail)
    assert client.get("/api/ehr/resources/Observation/obs-1", headers=auth(tenant.owner_key)).json() == before
    assert resource_count(ctx) == 2


def test_malformed_json_request_bodies_get_422_with_the_path(client, tenant):
    res = client.post(
        "/api/ehr/connections",
        headers=auth(tenant.owner_key),
        json={"name": "x", "base_url": "not a url", "kind": "ehr"},
    )
    assert res.status_code == 422
    problem = res.json()
    assert problem["detail"].startswith("body.base_url:")
    assert problem["errors"][0]["path"] == "body.base_url"
    res = client.post(
        "/api/ehr/connections",
        headers={**auth(tenant.owner_key), "content-type": "application/json"},
        content=b"{broken",
    )
    assert res.status_code == 422
    assert client.get("/api/ehr/connections", headers=auth(tenant.owner_key)).json() == []


def test_bad_query_parameters_get_422_with_the_path(client, tenant):
    res = client.get("/api/ehr/resources?limit=0", headers=auth(tenant.owner_key))
    assert (res.status_code, res.json()["errors"][0]["path"]) == (422, "query.limit")
    res = client.get("/api/ehr/resources?since=2026-01-01T00:00:00", headers=auth(tenant.owner_key))
    assert res.status_code == 422 and "time zone" in res.json()["detail"]


def test_connection_secrets_are_never_returned(client, ctx, tenant):
    res = client.post(
        "/api/ehr/connections",
        headers=auth(tenant.owner_key),
        json={
            "name": "Cerner",
            "vendor": "cerner",
            "base_url": "https://fhir.example.org/r4",
            "client_secret": "very-secret-client-value",
        },
    )
    assert res.status_code == 201
    assert res.json()["has_credentials"] is True
    listed = client.get("/api/ehr/connections", headers=auth(tenant.owner_key)).text
    assert "very-secret-client-value" not in res.text + listed
    with ctx.sessions() as session:
        conn = session.get(Connection, res.json()["id"])
        assert conn.credentials_enc.startswith("hv1:")
        assert ctx.vault.open(conn, "credentials_enc") == "very-secret-client-value"


def test_new_api_key_is_shown_once_and_stored_hashed(client, ctx, tenant):
    res = client.post("/api/keys", headers=auth(tenant.owner_key), json={"name": "nurse station", "role": "NURSE"})
    assert res.status_code == 201
    key = res.json()["key"]
    assert key.startswith("hv_")
    listed = client.get("/api/keys", headers=auth(tenant.owner_key)).text
    assert key not in listed
    with ctx.engine.connect() as db:
        from sqlalchemy import text

        assert key not in str(db.execute(text("SELECT * FROM api_keys")).all())
    assert client.get("/api/ehr/resources", headers=auth(key)).status_code == 200


def test_unknown_role_for_a_new_key_is_422(client, tenant):
    res = client.post("/api/keys", headers=auth(tenant.owner_key), json={"name": "x", "role": "GOD"})
    assert (res.status_code, res.json()["errors"][0]["path"]) == (422, "body.role")


def test_audit_log_is_readable_only_with_permission(client, ctx, tenant, stored):
    client.get("/api/ehr/resources/Patient/pat-1", headers=auth(tenant.owner_key))
    items = client.get("/api/audit?patient=pat-1", headers=auth(tenant.owner_key)).json()["items"]
    assert [(i["action"], i["resourceId"]) for i in items] == [("read", "pat-1")]
    doctor = key_for(ctx, tenant.org_id, "DOCTOR")
    assert client.get("/api/audit", headers=auth(doctor)).status_code == 403
