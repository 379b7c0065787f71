"""The sandbox's SMART on FHIR authorization server, over real HTTP and through authenticate().

One uvicorn server runs for the module; each test gets a fresh SmartAuthServer swapped in behind it,
mounted at /fhir/r4 and at /cerner/r4/{tenant} (path parameters in the mount must just work).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import structlog
import uvicorn
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from holovitals.sandbox.smart import JWT_BEARER, ClientRegistration, SmartAuthServer, SmartError, s256

TENANT = "ec2458f2-1e24-41c8-b71b-0e701af7583d"
REDIRECT = "http://127.0.0.1:9999/callback"
PATIENT = "pat-1"
OTHER_PATIENT = "pat-2"


# -- a live server that outlives the tests, with the app swapped per test -----------------------------


class SwitchableApp:
    """ASGI app that forwards to whatever app the current test installed."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


class LiveServer:
    def __init__(self, app: Any):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[SwitchableApp, str]]:
    switch = SwitchableApp()
    with LiveServer(switch) as origin:
        yield switch, origin


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Env:
    server: SmartAuthServer
    clock: FakeClock
    http: httpx.Client
    origin: str

    @property
    def base(self) -> str:
        return f"{self.origin}/fhir/r4"

    @property
    def tenant_base(self) -> str:
        return f"{self.origin}/cerner/r4/{TENANT}"


@pytest.fixture
def make_env(live) -> Iterator[Callable[..., Env]]:
    switch, origin = live
    clients: list[httpx.Client] = []

    def make(**options: Any) -> Env:
        clock = FakeClock()
        server = SmartAuthServer(clock=clock, default_patient=PATIENT, **options)
        server.register_client(
            ClientRegistration(client_id="app", kind="public", redirect_uris=(REDIRECT,), name="Sync app")
        )
        server.register_client(
            ClientRegistration(
                client_id="conf", kind="confidential", redirect_uris=(REDIRECT,), client_secret="s3cret-value!"
            )
        )
        server.register_client(
            ClientRegistration(
                client_id="narrow",
                kind="public",
                redirect_uris=(REDIRECT,),
                allowed_scopes=("patient/Observation.rs", "patient/Condition.read", "launch/patient"),
            )
        )
        app = FastAPI()
        app.include_router(server.router(), prefix="/fhir/r4")
        app.include_router(server.router(), prefix="/cerner/r4/{tenant}")
        switch.app = app
        http = httpx.Client(timeout=10)
        clients.append(http)
        return Env(server, clock, http, origin)

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def env(make_env) -> Env:
    return make_env()


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "ec-1"})


# -- helpers ------------------------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(env: Env, base: str | None = None, **overrides: str | None) -> httpx.Response:
    base = base or env.base
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/*.read offline_access openid fhirUser",
        "state": secrets.token_urlsafe(16),
        "aud": base,
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return env.http.get(f"{base}/auth/authorize", params={k: v for k, v in params.items() if v is not None})


def get_code(env: Env, challenge: str, base: str | None = None, **overrides: str | None) -> str:
    response = authorize(env, base, code_challenge=challenge, **overrides)
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])["code"]


def redeem(env: Env, code: str, verifier: str, base: str | None = None, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "app",
        "code_verifier": verifier,
    }
    form.update(extra)
    return env.http.post(f"{base or env.base}/auth/token", data=form)


def launch(env: Env, scope: str = "launch/patient patient/*.read offline_access", client_id: str = "app") -> dict:
    verifier, challenge = pkce()
    code = get_code(env, challenge, scope=scope, client_id=client_id)
    response = redeem(env, code, verifier, client_id=client_id)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(env: Env, refresh_token: str, **extra: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "app", **extra}
    return env.http.post(f"{env.base}/auth/token", data=form)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def check(env: Env, token: str, resource_type: str, interaction: str, patient_id: str | None = PATIENT):
    return env.server.authenticate(
        bearer(token), base_url=env.base, resource_type=resource_type, interaction=interaction, patient_id=patient_id
    )


def register_backend(env: Env, *keys: Any, jku: str | None = None, client_id: str = "backend") -> None:
    jwks = {"keys": [k.as_dict(private=False) for k in keys]}
    env.server.register_client(ClientRegistration(client_id=client_id, kind="backend", jwks=jwks, jku=jku))


def assertion(
    key: Any,
    alg: str,
    aud: str,
    *,
    client_id: str = "backend",
    exp_in: float = 240,
    now: float,
    jti: str | None = None,
    header_extra: dict[str, Any] | None = None,
    claims_extra: dict[str, Any] | None = None,
) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": key.kid, **(header_extra or {})}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": int(now + exp_in),
        "jti": jti or uuid.uuid4().hex,
        **(claims_extra or {}),
    }
    return jwt.encode(header, claims, key, algorithms=[alg])


def backend_token(env: Env, client_assertion: str, scope: str = "system/*.rs") -> httpx.Response:
    return env.http.post(
        f"{env.base}/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": client_assertion,
        },
    )


# -- discovery ----------------------------------------------------------------------------------------


def test_discovery_lists_endpoints_under_the_fhir_base(env):
    config = env.http.get(f"{env.base}/.well-known/smart-configuration").json()
    assert config["issuer"] == env.base
    assert config["authorization_endpoint"] == f"{env.base}/auth/authorize"
    assert config["token_endpoint"] == f"{env.base}/auth/token"
    assert config["revocation_endpoint"] == f"{env.base}/auth/revoke"
    assert config["introspection_endpoint"] == f"{env.base}/auth/introspect"
    assert set(config["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert config["response_types_supported"] == ["code"]
    assert "system/*.rs" in config["scopes_supported"]
    assert {"launch-standalone", "client-public", "client-confidential-asymmetric", "permission-v2"} <= set(
        config["capabilities"]
    )


def test_discovery_offers_s256_and_never_plain(env):
    config = env.http.get(f"{env.base}/.well-known/smart-configuration").json()
    assert config["code_challenge_methods_supported"] == ["S256"]


def test_discovery_under_a_tenant_path_names_the_tenant_base(env):
    response = env.http.get(f"{env.tenant_base}/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.json()["token_endpoint"] == f"{env.tenant_base}/auth/token"


# -- authorization code with PKCE ---------------------------------------------------------------------


def test_pkce_s256_launch_issues_a_bearer_token_with_patient_context(env):
    verifier, challenge = pkce()
    response = redeem(env, get_code(env, challenge), verifier)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["patient"] == PATIENT
    assert set(body["scope"].split()) == {"launch/patient", "patient/*.read", "offline_access", "openid", "fhirUser"}
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_launch_through_a_tenant_mount_works_and_binds_the_token_to_that_base(env):
    verifier, challenge = pkce()
    code = get_code(env, challenge, base=env.tenant_base)
    body = redeem(env, code, verifier, base=env.tenant_base).json()
    context = env.server.authenticate(
        bearer(body["access_token"]),
        base_url=env.tenant_base,
        resource_type="Observation",
        interaction="search",
        patient_id=PATIENT,
    )
    assert context.patient == PATIENT


def test_authorize_echoes_state_with_the_code(env):
    response = authorize(env, state="opaque-state-123")
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert query["state"] == "opaque-state-123"
    assert query["code"]


def test_plain_code_challenge_method_is_refused(env):
    response = authorize(env, code_challenge="x" * 43, code_challenge_method="plain", state="st")
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert query["state"] == "st"
    assert "code" not in query


def test_missing_code_challenge_is_refused(env):
    response = authorize(env, code_challenge=None, code_challenge_method=None)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_wrong_code_verifier_is_refused(env):
    _verifier, challenge = pkce()
    response = redeem(env, get_code(env, challenge), pkce()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(env):
    _verifier, challenge = pkce()
    form = {"grant_type": "authorization_code", "code": get_code(env, challenge), "redirect_uri": REDIRECT}
    response = env.http.post(f"{env.base}/auth/token", data={**form, "client_id": "app"})
    assert response.json()["error"] == "invalid_request"


def test_aud_other_than_the_fhir_base_is_refused(env):
    response = authorize(env, aud="https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4", state="st")
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert query["state"] == "st"


def test_aud_of_the_other_mount_is_refused(env):
    response = authorize(env, base=env.base, aud=env.tenant_base)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_unregistered_redirect_uri_gets_400_instead_of_a_redirect(env):
    response = authorize(env, redirect_uri="https://attacker.example/cb")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.json()["error"] == "invalid_request"


def test_unknown_client_gets_400_instead_of_a_redirect(env):
    response = authorize(env, client_id="nobody")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_missing_state_is_refused(env):
    response = authorize(env, state=None)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_response_type_other_than_code_is_refused(env):
    response = authorize(env, response_type="token")
    assert query_of(response.headers["location"])["error"] == "unsupported_response_type"


def test_replayed_code_is_refused_and_revokes_the_tokens_it_issued(env):
    verifier, challenge = pkce()
    code = get_code(env, challenge)
    first = redeem(env, code, verifier).json()
    assert check(env, first["access_token"], "Observation", "read")
    replay = redeem(env, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert code not in replay.text
    with pytest.raises(SmartError) as refused:
        check(env, first["access_token"], "Observation", "read")
    assert refused.value.status == 401
    assert refresh(env, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_expired_code_is_refused(env):
    verifier, challenge = pkce()
    code = get_code(env, challenge)
    env.clock.advance(61)
    response = redeem(env, code, verifier)
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


def test_redirect_uri_must_match_at_the_token_endpoint(env):
    verifier, challenge = pkce()
    response = redeem(env, get_code(env, challenge), verifier, redirect_uri="http://127.0.0.1:9999/other")
    assert response.json()["error"] == "invalid_grant"


def test_code_redeemed_at_another_mount_is_refused(env):
    verifier, challenge = pkce()
    response = redeem(env, get_code(env, challenge), verifier, base=env.tenant_base)
    assert response.json()["error"] == "invalid_grant"


def test_no_refresh_token_without_offline_or_online_access(env):
    body = launch(env, scope="launch/patient patient/*.read")
    assert "refresh_token" not in body


def test_public_client_gets_a_refresh_token_for_online_access(env):
    body = launch(env, scope="launch/patient patient/*.read online_access")
    assert body["refresh_token"]


def test_granted_scope_narrower_than_requested_is_reported(env):
    body = launch(env, scope="launch/patient patient/*.read patient/Patient.read", client_id="narrow")
    assert set(body["scope"].split()) == {"launch/patient", "patient/Observation.rs", "patient/Condition.rs"}
    assert check(env, body["access_token"], "Condition", "read")
    with pytest.raises(SmartError):
        check(env, body["access_token"], "Patient", "read")


def test_scope_nothing_of_which_can_be_granted_is_invalid_scope(env):
    response = authorize(env, client_id="narrow", scope="user/Practitioner.read")
    assert query_of(response.headers["location"])["error"] == "invalid_scope"


def test_id_token_is_signed_by_the_published_key_and_names_the_patient(env):
    body = launch(env, scope="launch/patient patient/*.read openid fhirUser")
    keys = KeySet.import_key_set(env.http.get(f"{env.base}/auth/jwks").json())
    token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert token.claims["aud"] == "app"
    assert token.claims["iss"] == env.base
    assert token.claims["fhirUser"] == f"{env.base}/Patient/{PATIENT}"


# -- consent page -------------------------------------------------------------------------------------


def consent_ticket(page: str) -> str:
    marker = 'name="ticket" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_consent_page_lists_scopes_and_approval_redirects_with_a_code(make_env):
    env = make_env(auto_approve=False)
    env.server.set_patient_choices([(PATIENT, "Lan Nguyen"), (OTHER_PATIENT, "Ana Ruiz")])
    verifier, challenge = pkce()
    page = authorize(env, code_challenge=challenge, state="st")
    assert page.status_code == 200
    assert "patient/*.read" in page.text
    assert 'name="patient"' in page.text
    decided = env.http.post(
        f"{env.base}/auth/consent",
        data={"ticket": consent_ticket(page.text), "decision": "approve", "patient": OTHER_PATIENT},
    )
    assert decided.status_code == 302
    query = query_of(decided.headers["location"])
    assert query["state"] == "st"
    assert redeem(env, query["code"], verifier).json()["patient"] == OTHER_PATIENT


def test_denied_consent_redirects_with_access_denied(make_env):
    env = make_env(auto_approve=False)
    page = authorize(env, state="st")
    decided = env.http.post(f"{env.base}/auth/consent", data={"ticket": consent_ticket(page.text), "decision": "deny"})
    query = query_of(decided.headers["location"])
    assert query == {"error": "access_denied", "error_description": "the user denied access", "state": "st"}


def test_consent_ticket_is_single_use(make_env):
    env = make_env(auto_approve=False)
    ticket = consent_ticket(authorize(env).text)
    assert env.http.post(f"{env.base}/auth/consent", data={"ticket": ticket, "decision": "approve"}).status_code == 302
    again = env.http.post(f"{env.base}/auth/consent", data={"ticket": ticket, "decision": "approve"})
    assert again.status_code == 400


def test_set_patient_changes_the_auto_approved_patient(env):
    env.server.set_patient(OTHER_PATIENT)
    assert launch(env)["patient"] == OTHER_PATIENT


# -- refresh ------------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_refused(env):
    first = launch(env)
    second = refresh(env, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["patient"] == PATIENT
    reuse = refresh(env, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"


def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(env):
    first = launch(env)
    rotated = refresh(env, first["refresh_token"]).json()
    refresh(env, first["refresh_token"])
    assert refresh(env, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    with pytest.raises(SmartError):
        check(env, rotated["access_token"], "Observation", "read")


def test_refresh_may_narrow_the_scope_and_keeps_the_patient(env):
    first = launch(env)
    narrowed = refresh(env, first["refresh_token"], scope="patient/Observation.rs").json()
    assert narrowed["scope"] == "patient/Observation.rs"
    assert narrowed["patient"] == PATIENT
    with pytest.raises(SmartError) as refused:
        check(env, narrowed["access_token"], "Condition", "read")
    assert refused.value.code == "insufficient_scope"


def test_refresh_may_not_widen_the_scope(env):
    first = launch(env)
    response = refresh(env, first["refresh_token"], scope="patient/*.cruds")
    assert response.json()["error"] == "invalid_scope"


# -- confidential clients -----------------------------------------------------------------------------


def confidential_code(env: Env) -> tuple[str, str]:
    verifier, challenge = pkce()
    return get_code(env, challenge, client_id="conf"), verifier


def test_confidential_client_authenticates_with_basic(env):
    code, verifier = confidential_code(env)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    response = env.http.post(f"{env.base}/auth/token", data=form, auth=("conf", "s3cret-value!"))
    assert response.status_code == 200


def test_confidential_client_authenticates_with_a_posted_secret(env):
    code, verifier = confidential_code(env)
    response = redeem(env, code, verifier, client_id="conf", client_secret="s3cret-value!")
    assert response.status_code == 200


def test_confidential_client_with_a_wrong_secret_is_invalid_client(env):
    code, verifier = confidential_code(env)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    response = env.http.post(f"{env.base}/auth/token", data=form, auth=("conf", "guess"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "s3cret" not in response.text


def test_confidential_client_without_a_secret_is_invalid_client(env):
    code, verifier = confidential_code(env)
    response = redeem(env, code, verifier, client_id="conf")
    assert response.status_code == 401


def test_confidential_asymmetric_client_redeems_a_code_with_private_key_jwt(env, rsa_key):
    env.server.register_client(
        ClientRegistration(
            client_id="asym",
            kind="confidential",
            redirect_uris=(REDIRECT,),
            jwks={"keys": [rsa_key.as_dict(private=False)]},
        )
    )
    verifier, challenge = pkce()
    code = get_code(env, challenge, client_id="asym")
    signed = assertion(rsa_key, "RS384", f"{env.base}/auth/token", client_id="asym", now=env.clock.now)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": signed,
    }
    assert env.http.post(f"{env.base}/auth/token", data=form).status_code == 200


# -- backend services ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key_fixture", "alg"), [("rsa_key", "RS384"), ("ec_key", "ES384")])
def test_backend_services_token_with_a_registered_key(env, request, key_fixture, alg):
    key = request.getfixturevalue(key_fixture)
    register_backend(env, key)
    response = backend_token(env, assertion(key, alg, f"{env.base}/auth/token", now=env.clock.now))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "system/*.rs"
    assert "refresh_token" not in body and "patient" not in body
    context = env.server.authenticate(
        bearer(body["access_token"]), base_url=env.base, resource_type="Observation", interaction="export"
    )
    assert context.client_id == "backend"
    assert context.patient is None


def test_backend_key_chosen_by_kid_among_several(env, rsa_key, ec_key):
    register_backend(env, rsa_key, ec_key)
    response = backend_token(env, assertion(ec_key, "ES384", f"{env.base}/auth/token", now=env.clock.now))
    assert response.status_code == 200


def test_assertion_expiring_more_than_five_minutes_ahead_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    signed = assertion(rsa_key, "RS384", f"{env.base}/auth/token", exp_in=301, now=env.clock.now)
    response = backend_token(env, signed)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_expired_assertion_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    signed = assertion(rsa_key, "RS384", f"{env.base}/auth/token", exp_in=-1, now=env.clock.now)
    assert backend_token(env, signed).json()["error"] == "invalid_client"


def test_assertion_without_exp_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    header = {"alg": "RS384", "kid": rsa_key.kid}
    claims = {"iss": "backend", "sub": "backend", "aud": f"{env.base}/auth/token", "jti": "j-no-exp"}
    assert backend_token(env, jwt.encode(header, claims, rsa_key, algorithms=["RS384"])).status_code == 401


def test_replayed_jti_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    aud = f"{env.base}/auth/token"
    assert backend_token(env, assertion(rsa_key, "RS384", aud, jti="once", now=env.clock.now)).status_code == 200
    replay = backend_token(env, assertion(rsa_key, "RS384", aud, jti="once", now=env.clock.now))
    assert replay.status_code == 401
    assert "jti" in replay.json()["error_description"]


def test_assertion_signed_by_an_unregistered_key_with_a_known_kid_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    impostor = RSAKey.generate_key(2048, parameters={"kid": rsa_key.kid})
    response = backend_token(env, assertion(impostor, "RS384", f"{env.base}/auth/token", now=env.clock.now))
    assert response.status_code == 401
    assert "signature" in response.json()["error_description"]


def test_assertion_with_an_unknown_kid_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-registered"})
    response = backend_token(env, assertion(stranger, "RS384", f"{env.base}/auth/token", now=env.clock.now))
    assert response.status_code == 401
    assert "kid" in response.json()["error_description"]


def test_jku_other_than_the_registered_one_is_refused(env, rsa_key):
    register_backend(env, rsa_key, jku="https://app.example/jwks.json")
    signed = assertion(
        rsa_key, "RS384", f"{env.base}/auth/token", now=env.clock.now, header_extra={"jku": "https://evil.example/k"}
    )
    response = backend_token(env, signed)
    assert response.status_code == 401
    assert "jku" in response.json()["error_description"]


def test_jku_equal_to_the_registered_one_is_accepted(env, rsa_key):
    register_backend(env, rsa_key, jku="https://app.example/jwks.json")
    signed = assertion(
        rsa_key,
        "RS384",
        f"{env.base}/auth/token",
        now=env.clock.now,
        header_extra={"jku": "https://app.example/jwks.json"},
    )
    assert backend_token(env, signed).status_code == 200


def test_assertion_for_another_audience_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    signed = assertion(rsa_key, "RS384", f"{env.tenant_base}/auth/token", now=env.clock.now)
    assert backend_token(env, signed).status_code == 401


def test_assertion_whose_sub_differs_from_iss_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    signed = assertion(rsa_key, "RS384", f"{env.base}/auth/token", now=env.clock.now, claims_extra={"sub": "x"})
    assert backend_token(env, signed).status_code == 401


def test_hmac_signed_assertion_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    shared = OctKey.generate_key(256, parameters={"kid": rsa_key.kid})
    signed = assertion(shared, "HS256", f"{env.base}/auth/token", now=env.clock.now)
    response = backend_token(env, signed)
    assert response.status_code == 401
    assert "alg" in response.json()["error_description"]


def test_unsigned_assertion_is_refused(env, rsa_key):
    register_backend(env, rsa_key)

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": "backend", "sub": "backend", "aud": f"{env.base}/auth/token", "exp": int(env.clock.now) + 60}
    unsigned = f"{part({'alg': 'none', 'kid': rsa_key.kid})}.{part({**claims, 'jti': 'n'})}."
    assert backend_token(env, unsigned).status_code == 401


def test_backend_request_for_a_non_system_scope_is_refused(env, rsa_key):
    register_backend(env, rsa_key)
    signed = assertion(rsa_key, "RS384", f"{env.base}/auth/token", now=env.clock.now)
    response = backend_token(env, signed, scope="system/*.rs patient/*.read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_public_client_cannot_use_client_credentials(env):
    response = env.http.post(
        f"{env.base}/auth/token", data={"grant_type": "client_credentials", "client_id": "app", "scope": "system/*.rs"}
    )
    assert response.json()["error"] == "unauthorized_client"


# -- scope enforcement --------------------------------------------------------------------------------


@pytest.mark.parametrize("read_scope", ["patient/*.read", "patient/*.rs", "patient/Observation.read"])
def test_patient_read_scope_allows_reading_the_patients_records(env, read_scope):
    token = launch(env, scope=f"launch/patient {read_scope}")["access_token"]
    context = check(env, token, "Observation", "read")
    assert context.patient == PATIENT
    assert context.client_id == "app"
    assert read_scope in context.scopes
    assert check(env, token, "Observation", "search")


@pytest.mark.parametrize("read_scope", ["patient/*.read", "patient/*.rs"])
@pytest.mark.parametrize("interaction", ["create", "update", "delete"])
def test_patient_read_scope_denies_writes(env, read_scope, interaction):
    token = launch(env, scope=f"launch/patient {read_scope}")["access_token"]
    with pytest.raises(SmartError) as refused:
        check(env, token, "Observation", interaction)
    assert refused.value.status == 403
    assert refused.value.code == "insufficient_scope"


@pytest.mark.parametrize("read_scope", ["patient/*.read", "patient/Observation.rs"])
def test_patient_scope_denies_another_patients_records(env, read_scope):
    token = launch(env, scope=f"launch/patient {read_scope}")["access_token"]
    with pytest.raises(SmartError) as refused:
        check(env, token, "Observation", "read", patient_id=OTHER_PATIENT)
    assert refused.value.status == 403
    assert refused.value.code == "forbidden"


def test_patient_scope_denies_an_unnarrowed_search_but_allows_practitioners(env):
    token = launch(env, scope="launch/patient patient/*.rs")["access_token"]
    with pytest.raises(SmartError):
        check(env, token, "Observation", "search", patient_id=None)
    assert check(env, token, "Practitioner", "read", patient_id=None)


@pytest.mark.parametrize(
    ("write_scope", "allowed"), [("patient/*.write", "create"), ("patient/Observation.cu", "update")]
)
def test_patient_write_scopes_allow_writes_for_the_patient(env, write_scope, allowed):
    token = launch(env, scope=f"launch/patient {write_scope}")["access_token"]
    assert check(env, token, "Observation", allowed)
    with pytest.raises(SmartError):
        check(env, token, "Observation", "read")


def test_v2_scope_with_a_query_grants_the_type_unfiltered(env):
    token = launch(env, scope="launch/patient patient/Observation.rs?category=laboratory")["access_token"]
    assert check(env, token, "Observation", "search")
    with pytest.raises(SmartError):
        check(env, token, "Condition", "search")


def test_user_scope_is_not_limited_to_one_patient(env):
    token = launch(env, scope="user/*.*")["access_token"]
    assert check(env, token, "Observation", "delete", patient_id=OTHER_PATIENT)
    assert check(env, token, "Observation", "search", patient_id=None)


def test_export_needs_read_on_the_exported_type(env):
    token = launch(env, scope="user/Observation.s")["access_token"]
    with pytest.raises(SmartError) as refused:
        check(env, token, "Observation", "export", patient_id=None)
    assert refused.value.code == "insufficient_scope"


def test_type_level_export_needs_a_wildcard_scope(env):
    token = launch(env, scope="user/Observation.read")["access_token"]
    with pytest.raises(SmartError):
        check(env, token, "*", "export", patient_id=None)
    assert check(env, launch(env, scope="user/*.read")["access_token"], "*", "export", patient_id=None)


# -- token validity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer unknown-token"])
def test_missing_malformed_or_unknown_bearer_is_invalid_token(env, header):
    with pytest.raises(SmartError) as refused:
        env.server.authenticate(header, base_url=env.base, resource_type="Patient", interaction="read", patient_id=None)
    assert refused.value.status == 401
    assert refused.value.code == "invalid_token"


def test_token_issued_for_another_base_is_invalid_token(env):
    token = launch(env)["access_token"]
    with pytest.raises(SmartError) as refused:
        env.server.authenticate(
            bearer(token), base_url=env.tenant_base, resource_type="Observation", interaction="read", patient_id=PATIENT
        )
    assert refused.value.status == 401


def test_access_token_expires_after_its_lifetime(make_env):
    env = make_env(token_lifetime=300)
    body = launch(env)
    assert body["expires_in"] == 300
    env.clock.advance(299)
    assert check(env, body["access_token"], "Observation", "read").expires_at == pytest.approx(env.clock.now + 1)
    env.clock.advance(1)
    with pytest.raises(SmartError) as refused:
        check(env, body["access_token"], "Observation", "read")
    assert refused.value.code == "invalid_token"


def test_expire_all_tokens_expires_access_tokens_but_refresh_still_works(env):
    body = launch(env)
    env.server.expire_all_tokens()
    with pytest.raises(SmartError) as refused:
        check(env, body["access_token"], "Observation", "read")
    assert refused.value.status == 401
    renewed = refresh(env, body["refresh_token"]).json()
    assert check(env, renewed["access_token"], "Observation", "read")


def test_revoked_access_token_is_refused(env):
    body = launch(env)
    response = env.http.post(f"{env.base}/auth/revoke", data={"token": body["access_token"], "client_id": "app"})
    assert response.status_code == 200
    with pytest.raises(SmartError):
        check(env, body["access_token"], "Observation", "read")
    assert refresh(env, body["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_revokes_its_access_tokens(env):
    body = launch(env)
    env.http.post(f"{env.base}/auth/revoke", data={"token": body["refresh_token"], "client_id": "app"})
    assert refresh(env, body["refresh_token"]).json()["error"] == "invalid_grant"
    with pytest.raises(SmartError):
        check(env, body["access_token"], "Observation", "read")


def test_revoking_an_unknown_token_still_answers_200(env):
    response = env.http.post(f"{env.base}/auth/revoke", data={"token": "never-issued", "client_id": "app"})
    assert response.status_code == 200


def test_introspection_reports_active_then_inactive_after_revocation(env):
    body = launch(env)
    form = {"token": body["access_token"], "client_id": "app"}
    active = env.http.post(f"{env.base}/auth/introspect", data=form).json()
    assert active["active"] is True
    assert active["patient"] == PATIENT
    assert active["client_id"] == "app"
    env.http.post(f"{env.base}/auth/revoke", data=form)
    assert env.http.post(f"{env.base}/auth/introspect", data=form).json() == {"active": False}


def test_no_token_code_or_secret_reaches_the_log(env, rsa_key):
    register_backend(env, rsa_key)
    with structlog.testing.capture_logs() as events:
        verifier, challenge = pkce()
        code = get_code(env, challenge)
        body = redeem(env, code, verifier).json()
        refreshed = refresh(env, body["refresh_token"]).json()
        refresh(env, body["refresh_token"])
        redeem(env, code, verifier)
        signed = assertion(rsa_key, "RS384", f"{env.base}/auth/token", now=env.clock.now)
        backend = backend_token(env, signed).json()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": "v" * 43}
        env.http.post(f"{env.base}/auth/token", data=form, auth=("conf", "s3cret-value!"))
    logged = repr(events)
    assert events
    secrets_seen = [code, verifier, body["access_token"], body["refresh_token"], refreshed["access_token"]]
    secrets_seen += [backend["access_token"], signed, "s3cret-value!"]
    assert not [s for s in secrets_seen if s in logged]


def test_client_registration_repr_hides_the_secret():
    client = ClientRegistration(
        client_id="conf", kind="confidential", redirect_uris=[REDIRECT], client_secret="s3cret-value!"
    )
    assert "s3cret" not in repr(client)


def test_registration_refuses_a_backend_client_without_keys():
    with pytest.raises(ValueError):
        ClientRegistration(client_id="b", kind="backend")


def test_unknown_interaction_is_a_programming_error(env):
    token = launch(env)["access_token"]
    with pytest.raises(ValueError):
        check(env, token, "Observation", "patch")


def test_concurrent_refreshes_of_one_token_yield_exactly_one_success(env):
    body = launch(env)

    async def race() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": "app"}
            responses = await asyncio.gather(*(client.post(f"{env.base}/auth/token", data=form) for _ in range(5)))
        return sorted(r.status_code for r in responses)

    assert asyncio.run(race()) == [200, 400, 400, 400, 400]
