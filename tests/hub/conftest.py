"""A live sandbox EHR (real HTTP, SMART auth server that auto-approves) and a deliberately broken EHR.

Both servers live for the module; clients are registered once. The sandbox auth server reads a clock
the tests can move forward, so "the code expired" needs no sleeping.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from holovitals.fhir.backend import generate_private_key, public_jwks
from holovitals.sandbox.app import create_sandbox_app
from holovitals.sandbox.server import SandboxServer
from holovitals.sandbox.smart import ClientRegistration, SmartAuthServer
from holovitals.sandbox.store import SandboxStore

PATIENT = "pat-1"
REDIRECT = "http://127.0.0.1:9/callback"  # never listened on: the tests read the 302's Location
PUBLIC_CLIENT = "hv-public"
CONFIDENTIAL_CLIENT = "hv-confidential"
CLIENT_SECRET = "s3cret-Value-for-tests!"
BACKEND_CLIENT = "hv-backend"
CERNER_TENANT = "ec2458f2-1e24-41c8-b71b-0e701af7583d"


class Clock:
    """Wall-clock seconds plus an offset a test may advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Sandbox:
    url: str
    auth: SmartAuthServer
    clock: Clock
    backend_key: dict

    @property
    def epic(self) -> str:
        return f"{self.url}/epic/api/FHIR/R4"

    @property
    def cerner(self) -> str:
        return f"{self.url}/cerner/r4/{CERNER_TENANT}"

    def register_public(self, client_id: str, redirect_uri: str) -> None:
        self.auth.register_client(ClientRegistration(client_id=client_id, kind="public", redirect_uris=(redirect_uri,)))

    def introspect(self, base: str, token: str, client_id: str = PUBLIC_CLIENT) -> dict:
        response = httpx.post(f"{base}/auth/introspect", data={"token": token, "client_id": client_id}, timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    clock = Clock()
    auth = SmartAuthServer(clock=clock, default_patient=PATIENT, code_lifetime=60)
    auth.register_client(ClientRegistration(client_id=PUBLIC_CLIENT, kind="public", redirect_uris=(REDIRECT,)))
    auth.register_client(
        ClientRegistration(
            client_id=CONFIDENTIAL_CLIENT, kind="confidential", redirect_uris=(REDIRECT,), client_secret=CLIENT_SECRET
        )
    )
    key = generate_private_key("RS384")
    auth.register_client(ClientRegistration(client_id=BACKEND_CLIENT, kind="backend", jwks=public_jwks([key])))
    with SandboxServer(create_sandbox_app(SandboxStore(), auth=auth)) as server:
        yield Sandbox(server.url, auth, clock, key)


@pytest.fixture
def clock(sandbox: Sandbox) -> Iterator[Clock]:
    """The sandbox auth server's clock, put back after the test."""
    yield sandbox.clock
    sandbox.clock.offset = 0.0


def broken_ehr_app() -> FastAPI:
    """EHRs that answer, but wrongly: discovery without token_endpoint, PKCE plain only, no access_token."""
    app = FastAPI()

    @app.get("/no-token-endpoint/.well-known/smart-configuration")
    async def no_token_endpoint() -> JSONResponse:
        return JSONResponse({"authorization_endpoint": "http://127.0.0.1:9/authorize", "capabilities": []})

    @app.get("/plain-pkce/.well-known/smart-configuration")
    async def plain_pkce() -> JSONResponse:
        return JSONResponse(
            {
                "authorization_endpoint": "http://127.0.0.1:9/authorize",
                "token_endpoint": "http://127.0.0.1:9/token",
                "code_challenge_methods_supported": ["plain"],
                "capabilities": ["launch-standalone"],
            }
        )

    @app.get("/no-access-token/.well-known/smart-configuration")
    async def no_access_token_config(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/") + "/no-access-token"
        return JSONResponse(
            {
                "authorization_endpoint": f"{base}/auth/authorize",
                "token_endpoint": f"{base}/auth/token",
                "code_challenge_methods_supported": ["S256"],
                "capabilities": ["launch-standalone", "client-public"],
            }
        )

    @app.post("/no-access-token/auth/token")
    async def no_access_token() -> JSONResponse:
        return JSONResponse({"token_type": "Bearer", "scope": "patient/*.read", "patient": PATIENT})

    return app


@pytest.fixture(scope="module")
def broken_ehr() -> Iterator[str]:
    with SandboxServer(broken_ehr_app()) as server:
        yield server.url


@pytest.fixture
def closed_port_url() -> str:
    """A base URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/fhir/r4"


def follow_authorize(url: str) -> tuple[str, str]:
    """Be the browser: the sandbox auto-approves and redirects to the redirect URI with code and state."""
    response = httpx.get(url, follow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "error" not in query, query
    return query["code"][0], query["state"][0]


@pytest.fixture
def browser():
    """``code, state = browser(authorization_url)``."""
    return follow_authorize
