"""How the pieces of the sandbox meet: auth on by default when served, runtime client registration,
Subscriptions only on the athenahealth flavour."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from holovitals.sandbox.app import create_sandbox_app
from holovitals.sandbox.server import SandboxServer
from holovitals.sandbox.smart import SmartAuthServer
from holovitals.sandbox.store import SandboxStore

SUBSCRIPTION = {
    "resourceType": "Subscription",
    "status": "requested",
    "criteria": "http://hl7.org/fhir/us/core/SubscriptionTopic/patient-data-change",
    "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook", "payload": "application/fhir+json"},
}


def test_only_the_athena_flavour_offers_subscriptions():
    store = SandboxStore()
    store.load([{"resourceType": "Patient", "id": "p1"}])
    with SandboxServer(create_sandbox_app(store)) as server:
        athena = httpx.post(server.url + "/athena/fhir/r4/Subscription", json=SUBSCRIPTION)
        plain = httpx.post(server.url + "/fhir/r4/Subscription", json=SUBSCRIPTION)
    assert athena.status_code == 201
    assert athena.json()["status"] == "error"  # the handshake to an endpoint nobody listens on failed
    assert plain.status_code == 404


def test_clients_can_be_registered_while_the_sandbox_runs():
    store = SandboxStore()
    store.load([{"resourceType": "Patient", "id": "p1"}])
    auth = SmartAuthServer(default_patient="p1")
    with SandboxServer(create_sandbox_app(store, auth=auth)) as server:
        ok = httpx.post(
            server.url + "/_sandbox/clients",
            json={"client_id": "my-app", "kind": "public", "redirect_uris": ["http://127.0.0.1:8765/cb"]},
        )
        bad = httpx.post(server.url + "/_sandbox/clients", json={"client_id": "x", "kind": "martian"})
        authorize = httpx.get(
            server.url + "/fhir/r4/auth/authorize",
            params={
                "response_type": "code",
                "client_id": "my-app",
                "redirect_uri": "http://127.0.0.1:8765/cb",
                "scope": "launch/patient patient/*.read",
                "state": "s" * 30,
                "aud": server.url + "/fhir/r4",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
    assert ok.status_code == 201
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert authorize.status_code == 302  # the newly registered client can launch
    assert authorize.headers["location"].startswith("http://127.0.0.1:8765/cb?code=")


def test_sandbox_serve_requires_tokens_unless_open():
    def start(*extra: str) -> tuple[subprocess.Popen, str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "holovitals.cli", "sandbox", "serve", "--port", str(port),
                                 "--patients", "2", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=os.environ | {"COLUMNS": "200"})  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/fhir/r4/metadata", timeout=1)
                return proc, url
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)

    guarded, url = start("--client", "my-app=http://127.0.0.1:8765/cb")
    try:
        assert httpx.get(url + "/fhir/r4/Patient").status_code == 401
        assert httpx.get(url + "/fhir/r4/.well-known/smart-configuration").json()[
            "code_challenge_methods_supported"
        ] == ["S256"]
    finally:
        guarded.terminate()
        guarded.wait(timeout=10)
    opened, url = start("--open")
    try:
        assert httpx.get(url + "/fhir/r4/Patient").json()["total"] == 2
    finally:
        opened.terminate()
        opened.wait(timeout=10)
