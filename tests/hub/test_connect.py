"""The EHR connect flow over our API and real HTTP to the sandbox EHR, on SQLite and PostgreSQL.

Every failure path must leave no Connection row behind and answer without any secret in it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from holovitals.fhir.backend import generate_private_key
from holovitals.hub.connect import (
    BackendRequest,
    EhrConnector,
    choose_scopes,
    ehr_http_client,
    hash_state,
    resolve_base_url,
)
from holovitals.hub.connect_errors import InvalidConnectRequest
from holovitals.hub.connect_inputs import load_private_jwk
from holovitals.security.principals import issue_api_key
from holovitals.store.db import transaction
from holovitals.store.models import AuditEntry, Connection, OAuthAuthorization
from holovitals.store.types import utcnow
from holovitals.vendors.registry import get_profile

PATIENT = "pat-1"
REDIRECT = "http://127.0.0.1:9/callback"
PUBLIC_CLIENT = "hv-public"
CONFIDENTIAL_CLIENT = "hv-confidential"
CLIENT_SECRET = "s3cret-Value-for-tests!"
BACKEND_CLIENT = "hv-backend"


def headers(tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.owner_key}"}


def connections(ctx) -> list[Connection]:
    with ctx.sessions() as session:
        return list(session.execute(select(Connection)).scalars())


def pending(ctx) -> list[OAuthAuthorization]:
    with ctx.sessions() as session:
        return list(session.execute(select(OAuthAuthorization)).scalars())


def audit_rows(ctx) -> list[tuple[str, str, str | None]]:
    with ctx.sessions() as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.pk)).scalars()
        return [(e.action, e.outcome, e.detail) for e in rows]


def assert_secret_free(text: str, *secrets: str | None) -> None:
    for secret in secrets:
        if secret:
            assert secret not in text
    assert "hv1:" not in text  # no ciphertext either


def start(client, caller, base_url: str, **extra) -> dict:
    body = {"vendor": "epic", "baseUrl": base_url, "clientId": PUBLIC_CLIENT, "redirectUri": REDIRECT, **extra}
    response = client.post("/api/ehr/connect", json=body, headers=headers(caller))
    assert response.status_code == 200, response.text
    return response.json()


def authorize(client, tenant, code: str, state: str):
    return client.post("/api/ehr/authorize", json={"code": code, "state": state}, headers=headers(tenant))


def connect(client, tenant, sandbox, browser, **extra) -> dict:
    started = start(client, tenant, sandbox.epic, **extra)
    code, state = browser(started["authorizationUrl"])
    response = authorize(client, tenant, code, state)
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- the happy path


def test_connect_returns_the_authorize_url_and_keeps_only_a_hash_of_the_state(client, tenant, ctx, sandbox):
    body = start(client, tenant, sandbox.epic)

    assert set(body) == {"authorizationUrl", "state", "expiresAt"}
    query = parse_qs(urlsplit(body["authorizationUrl"]).query)
    assert query["aud"] == [sandbox.epic]
    assert query["state"] == [body["state"]]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == [" ".join(get_profile("epic").auth.default_scopes)]
    [row] = pending(ctx)
    assert row.state_hash == hashlib.sha256(body["state"].encode()).hexdigest()
    assert body["state"] not in {str(v) for v in vars(row).values()}
    verifier = ctx.vault.open(row, "code_verifier_enc")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [challenge]
    assert connections(ctx) == []
    assert ("connect", "success", f"authorization started: epic at {urlsplit(sandbox.url).netloc}") in audit_rows(ctx)


def test_authorize_creates_an_active_connection_with_sealed_tokens(client, tenant, ctx, sandbox, browser):
    started = start(client, tenant, sandbox.epic)
    code, state = browser(started["authorizationUrl"])

    response = authorize(client, tenant, code, state)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "ACTIVE"
    assert body["vendor"] == "epic"
    assert body["base_url"] == sandbox.epic
    assert body["patient_id"] == PATIENT
    assert body["auth_style"] == "public"
    assert body["has_tokens"] is True
    assert "launch/patient" in body["scopes"].split()
    [conn] = connections(ctx)
    access = ctx.vault.open(conn, "access_token_enc")
    refresh = ctx.vault.open(conn, "refresh_token_enc")
    assert access and refresh
    assert sandbox.introspect(sandbox.epic, access)["active"] is True
    assert conn.token_expires_at > utcnow()
    assert_secret_free(response.text, access, refresh, code, state)
    assert pending(ctx) == []
    listed = client.get("/api/ehr/connections", headers=headers(tenant)).json()
    assert [c["id"] for c in listed] == [body["id"]]
    assert ("create", "success") in [(a, o) for a, o, _ in audit_rows(ctx)]


def test_confidential_client_secret_is_sealed_on_the_connection(client, tenant, ctx, sandbox, browser):
    started = start(client, tenant, sandbox.epic, clientId=CONFIDENTIAL_CLIENT, clientSecret=CLIENT_SECRET)
    assert_secret_free(json.dumps(started), CLIENT_SECRET)
    code, state = browser(started["authorizationUrl"])

    response = authorize(client, tenant, code, state)

    assert response.status_code == 201, response.text
    assert response.json()["auth_style"] == "confidential"
    assert response.json()["has_credentials"] is True
    assert_secret_free(response.text, CLIENT_SECRET)
    [conn] = connections(ctx)
    assert ctx.vault.open(conn, "credentials_enc") == CLIENT_SECRET


def test_tenant_vendors_connect_at_their_tenant_base(client, tenant, ctx, sandbox, browser):
    started = start(client, tenant, sandbox.cerner, vendor="cerner", tenant="ec2458f2-1e24-41c8-b71b-0e701af7583d")
    code, state = browser(started["authorizationUrl"])

    response = authorize(client, tenant, code, state)

    assert response.status_code == 201, response.text
    [conn] = connections(ctx)
    assert conn.vendor == "oracle_health"
    assert conn.sync_settings == {"tenant": "ec2458f2-1e24-41c8-b71b-0e701af7583d"}


# ---------------------------------------------------------------- failures leave nothing behind


def test_unreachable_base_url_answers_502_and_stores_nothing(client, tenant, ctx, closed_port_url):
    body = {"vendor": "generic", "baseUrl": closed_port_url, "clientId": PUBLIC_CLIENT, "redirectUri": REDIRECT}
    response = client.post("/api/ehr/connect", json=body, headers=headers(tenant))

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "SMART discovery at 127.0.0.1" in response.json()["detail"]
    assert pending(ctx) == [] and connections(ctx) == []
    assert ("connect", "error") in [(a, o) for a, o, _ in audit_rows(ctx)]


@pytest.mark.parametrize(
    ("path", "named"),
    [("/no-token-endpoint", "token_endpoint"), ("/plain-pkce", "S256")],
    ids=["discovery-without-token-endpoint", "no-pkce-s256"],
)
def test_unusable_discovery_answers_502_naming_what_is_missing(client, tenant, ctx, broken_ehr, path, named):
    body = {"vendor": "generic", "baseUrl": broken_ehr + path, "clientId": PUBLIC_CLIENT, "redirectUri": REDIRECT}
    response = client.post("/api/ehr/connect", json=body, headers=headers(tenant))

    assert response.status_code == 502, response.text
    assert named in response.json()["detail"]
    assert pending(ctx) == [] and connections(ctx) == []


def test_token_response_without_access_token_leaves_no_connection(client, tenant, ctx, broken_ehr):
    started = start(client, tenant, broken_ehr + "/no-access-token", vendor="generic")

    response = authorize(client, tenant, "a-code-from-the-ehr", started["state"])

    assert response.status_code == 502, response.text
    assert "access_token" in response.json()["detail"]
    assert_secret_free(response.text, "a-code-from-the-ehr", started["state"])
    assert connections(ctx) == [] and pending(ctx) == []


def test_unknown_state_is_refused_as_a_state_mismatch(client, tenant, ctx):
    response = authorize(client, tenant, "some-code-value", "a-state-we-never-issued")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("state mismatch or expired")
    assert_secret_free(response.text, "some-code-value", "a-state-we-never-issued")
    assert connections(ctx) == []


def test_expired_pending_authorization_is_refused_and_removed(client, tenant, ctx, sandbox, browser):
    started = start(client, tenant, sandbox.epic)
    code, state = browser(started["authorizationUrl"])
    with transaction(ctx.sessions) as session:
        session.execute(select(OAuthAuthorization)).scalar_one().expires_at = utcnow() - timedelta(seconds=1)

    response = authorize(client, tenant, code, state)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("state mismatch or expired")
    assert connections(ctx) == [] and pending(ctx) == []


def test_replayed_authorization_is_refused_and_keeps_the_one_connection(client, tenant, ctx, sandbox, browser):
    started = start(client, tenant, sandbox.epic)
    code, state = browser(started["authorizationUrl"])
    assert authorize(client, tenant, code, state).status_code == 201

    again = authorize(client, tenant, code, state)

    assert again.status_code == 400
    assert again.json()["detail"].startswith("state mismatch or expired")
    assert len(connections(ctx)) == 1


def test_spent_code_is_refused_by_the_ehr_and_creates_nothing(client, tenant, ctx, sandbox, browser):
    first = start(client, tenant, sandbox.epic)
    code, state = browser(first["authorizationUrl"])
    assert authorize(client, tenant, code, state).status_code == 201
    second = start(client, tenant, sandbox.epic)

    response = authorize(client, tenant, code, second["state"])  # an old code with a live state

    assert response.status_code == 400, response.text
    assert "refused the authorization code" in response.json()["detail"]
    assert_secret_free(response.text, code, second["state"])
    assert len(connections(ctx)) == 1 and pending(ctx) == []


def test_expired_code_is_refused_and_leaves_no_connection(client, tenant, ctx, sandbox, browser, clock):
    started = start(client, tenant, sandbox.epic)
    code, state = browser(started["authorizationUrl"])
    clock.offset += 120  # past the sandbox's 60 s code lifetime

    response = authorize(client, tenant, code, state)

    assert response.status_code == 400
    assert "refused the authorization code" in response.json()["detail"]
    assert connections(ctx) == [] and pending(ctx) == []


def test_wrong_client_secret_is_refused_without_echoing_it(client, tenant, ctx, sandbox, browser):
    wrong = "not-the-Registered-secret"
    started = start(client, tenant, sandbox.epic, clientId=CONFIDENTIAL_CLIENT, clientSecret=wrong)
    code, state = browser(started["authorizationUrl"])

    response = authorize(client, tenant, code, state)

    assert response.status_code == 400
    assert "invalid_client" in response.json()["detail"]
    assert_secret_free(response.text, wrong, code, state)
    assert connections(ctx) == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"vendor": "nosuchehr"}, 400, "unknown vendor"),
        ({"vendor": "epic"}, 400, "open.epic.com/Endpoints/R4"),
        ({"vendor": "cerner"}, 400, "needs a tenant"),
        ({"vendor": "nextgen", "scopes": ["patient/Observation.read"]}, 400, "patient/*.*"),
        ({"vendor": "generic", "baseUrl": "ftp://example.org/fhir"}, 400, "http(s)"),
        ({"vendor": "generic", "baseUrl": "http://127.0.0.1:9/fhir", "redirectUri": "/callback"}, 400, "redirect"),
        ({"vendor": "cerner", "tenant": "../admin"}, 422, "tenant"),
    ],
    ids=[
        "unknown-vendor",
        "epic-needs-base",
        "cerner-needs-tenant",
        "nextgen-scopes",
        "ftp",
        "relative-redirect",
        "tenant-path",
    ],
)
def test_bad_connect_requests_are_refused_before_any_network_call(client, tenant, ctx, body, status, says):
    payload = {"clientId": PUBLIC_CLIENT, "redirectUri": REDIRECT, **body}
    response = client.post("/api/ehr/connect", json=payload, headers=headers(tenant))

    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert pending(ctx) == [] and connections(ctx) == []


def test_connecting_needs_the_manage_ehr_permission(client, tenant, ctx, sandbox):
    with transaction(ctx.sessions) as session:
        _, analyst_key = issue_api_key(session, org_id=tenant.org_id, role="ANALYST", name="analyst")
    body = {"vendor": "epic", "baseUrl": sandbox.epic, "clientId": PUBLIC_CLIENT, "redirectUri": REDIRECT}

    response = client.post("/api/ehr/connect", json=body, headers={"Authorization": f"Bearer {analyst_key}"})

    assert response.status_code == 403
    assert pending(ctx) == []


# ---------------------------------------------------------------- disconnect


def test_disconnect_revokes_the_tokens_at_the_ehr_then_deletes(client, tenant, ctx, sandbox, browser):
    created = connect(client, tenant, sandbox, browser)
    [conn] = connections(ctx)
    access = ctx.vault.open(conn, "access_token_enc")

    response = client.delete(f"/api/ehr/connections/{created['id']}", headers=headers(tenant))

    assert response.status_code == 204
    assert connections(ctx) == []
    assert sandbox.introspect(sandbox.epic, access)["active"] is False
    assert ("delete", "success", "revoked refresh_token, access_token") in audit_rows(ctx)


def test_disconnect_without_a_reachable_ehr_still_deletes_and_records_why(client, tenant, ctx, closed_port_url):
    with transaction(ctx.sessions) as session:
        conn = Connection(
            org_id=tenant.org_id, name="gone", vendor="generic", base_url=closed_port_url, status="ACTIVE"
        )
        session.add(conn)
        session.flush()
        ctx.vault.seal(conn, "access_token_enc", "an-access-token-value")
        connection_id = conn.id

    response = client.delete(f"/api/ehr/connections/{connection_id}", headers=headers(tenant))

    assert response.status_code == 204
    assert connections(ctx) == []
    [(_, outcome, detail)] = [row for row in audit_rows(ctx) if row[0] == "delete"]
    assert outcome == "success"
    assert detail.startswith("revocation failed: SMART discovery at 127.0.0.1")


def test_disconnect_of_an_unknown_connection_is_404(client, tenant):
    response = client.delete("/api/ehr/connections/0123456789abcdef0123456789abcdef", headers=headers(tenant))

    assert response.status_code == 404


# ---------------------------------------------------------------- backend services (the service itself)


class RecordingAudit:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []

    def __call__(self, action, outcome="success", *, detail=None, session=None, **_fields) -> None:
        self.events.append((action, outcome, detail))


async def _backend_connect_and_disconnect(ctx, tenant, sandbox, audit):
    async with ehr_http_client() as http:
        connector = EhrConnector(ctx.sessions, ctx.vault, http, org_id=tenant.org_id, audit=audit)
        request = BackendRequest(
            vendor="epic",
            base_url=sandbox.epic,
            client_id=BACKEND_CLIENT,
            private_key=json.dumps(sandbox.backend_key),
            alg="RS384",
        )
        conn = await connector.connect_backend(request)
        stored = connections(ctx)
        report = await connector.disconnect(conn.id)
        return conn, stored, report


def test_backend_services_connection_stores_the_key_sealed_and_revokes_on_disconnect(ctx, tenant, sandbox):
    audit = RecordingAudit()

    conn, [stored], report = asyncio.run(_backend_connect_and_disconnect(ctx, tenant, sandbox, audit))

    assert conn.auth_style == "backend" and conn.status == "ACTIVE"
    assert conn.scopes.startswith("system/")
    assert json.loads(ctx.vault.open(stored, "credentials_enc"))["d"] == sandbox.backend_key["d"]
    assert stored.sync_settings["backend"]["kid"] == sandbox.backend_key["kid"]
    assert ctx.vault.open(stored, "refresh_token_enc") is None
    assert report.revoked == ["access_token"] and report.failures == []
    assert connections(ctx) == []
    assert [a for a, _, _ in audit.events] == ["create", "delete"]


def test_backend_refuses_an_algorithm_the_vendor_does_not_accept(ctx, tenant, sandbox):
    async def attempt() -> None:
        async with ehr_http_client() as http:
            connector = EhrConnector(ctx.sessions, ctx.vault, http, org_id=tenant.org_id, audit=RecordingAudit())
            request = BackendRequest(
                vendor="ecw", tenant="demo", client_id=BACKEND_CLIENT, private_key="{}", alg="ES384"
            )
            await connector.connect_backend(request)

    with pytest.raises(InvalidConnectRequest, match="RS384"):
        asyncio.run(attempt())
    assert connections(ctx) == []


# ---------------------------------------------------------------- pure pieces


def test_base_url_comes_from_the_vendor_template_and_the_tenant():
    assert resolve_base_url(get_profile("cerner"), None, "t1") == "https://fhir-ehr.cerner.com/r4/t1"
    assert resolve_base_url(get_profile("ecw"), None, "p9") == "https://fhir4.eclinicalworks.com/fhir/r4/p9"
    assert resolve_base_url(get_profile("epic"), "https://ehr.example.org/api/FHIR/R4/", None) == (
        "https://ehr.example.org/api/FHIR/R4"
    )


def test_nextgen_enterprise_scopes_default_to_its_only_wildcard():
    assert "patient/*.*" in choose_scopes(get_profile("nextgen"), None)
    with pytest.raises(InvalidConnectRequest):
        choose_scopes(get_profile("nextgen"), ("patient/*.rs",))


def test_private_keys_load_from_pem_or_jwk_with_the_thumbprint_as_default_kid():
    jwk = generate_private_key("RS384")
    kid = jwk.pop("kid")
    pem = RSAKey.import_key(jwk).as_pem(private=True).decode()
    assert load_private_jwk(json.dumps(jwk), alg="RS384")["kid"] == kid
    assert load_private_jwk(pem, alg="RS384")["kid"] == kid
    assert load_private_jwk(pem, alg="RS384", kid="mine")["kid"] == "mine"
    with pytest.raises(InvalidConnectRequest, match="not a RS384 private key"):
        load_private_jwk("-----BEGIN NONSENSE-----", alg="RS384")


def test_state_is_stored_as_its_sha256():
    assert hash_state("abc") == hashlib.sha256(b"abc").hexdigest()
