"""Shared fixtures for the sandbox EHR's conformance tests: a live server over real HTTP.

One uvicorn server runs for the whole session; each test installs the sandbox app it needs behind
it (a switch), so a test with its own settings, store or auth costs an app build, not a server start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from holovitals.sandbox.app import create_sandbox_app
from holovitals.sandbox.flavours import BY_KEY
from holovitals.sandbox.generator import generate_population
from holovitals.sandbox.server import SandboxServer
from holovitals.sandbox.settings import SandboxSettings
from holovitals.sandbox.store import SandboxStore

PATIENTS = 6
SEED = 7


class Switch:
    """ASGI app forwarding to the sandbox app the current test installed."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def live() -> Iterator[tuple[Switch, str, httpx.Client]]:
    """The server, and one client for it (building an httpx client costs ~0.1 s: its TLS context)."""
    switch = Switch()
    with SandboxServer(switch) as server, httpx.Client(timeout=10) as client:
        yield switch, server.url, client


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Switch, str]]:
    """A real HTTP server for one test module; each test plugs its own app into the switch."""
    switch = Switch()
    with SandboxServer(switch) as running:
        yield switch, running.url


@pytest.fixture(scope="module")
def hook_server() -> Iterator[tuple[Switch, str]]:
    """A second server, for the client side of a conversation (a webhook receiver)."""
    switch = Switch()
    with SandboxServer(switch) as running:
        yield switch, running.url


@pytest.fixture(scope="session")
def template_store() -> SandboxStore:
    """The generated population, loaded once; every sandbox gets its own clone."""
    store = SandboxStore()
    store.load(generate_population(PATIENTS, seed=SEED))
    return store


class FakeClock:
    """Wall-clock seconds a test moves by hand (rate-limit windows, paging expiry)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Sandbox:
    """A running sandbox app: its store, its app (faults on app.state) and an httpx client."""

    url: str
    app: Any
    store: SandboxStore
    client: httpx.Client
    patients: list[str] = field(default_factory=list)

    def base(self, key: str) -> str:
        flavour = BY_KEY[key]
        tenant = sorted(flavour.tenants)[0] if flavour.tenants else None
        return self.url + flavour.base_path(tenant)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url if url.startswith("http") else self.url + url, **kwargs)

    def page_through(self, url: str, params: Any = None, **kwargs: Any) -> tuple[list[dict], list[dict]]:
        """(entries, bundles) of a search followed through every next link."""
        entries: list[dict] = []
        bundles: list[dict] = []
        response = self.client.get(url, params=params, **kwargs)
        while True:
            assert response.status_code == 200, response.text
            bundle = response.json()
            bundles.append(bundle)
            entries += [e for e in bundle.get("entry", []) if e.get("search", {}).get("mode") != "outcome"]
            following = next_link(bundle)
            if following is None:
                return entries, bundles
            response = self.client.get(following, **kwargs)


def next_link(bundle: dict) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


@pytest.fixture
def make_sandbox(live, template_store) -> Callable[..., Sandbox]:
    """Build a sandbox with its own store and app: ``make_sandbox(settings=..., auth=...)``."""
    switch, url, client = live

    def build(
        *, settings: SandboxSettings | None = None, auth: Any = None, store: SandboxStore | None = None
    ) -> Sandbox:
        if store is None:
            store = template_store.clone()
        app = create_sandbox_app(store, auth=auth, settings=settings)
        switch.app = app
        patients = [r.id for r in store.scan("Patient")]
        return Sandbox(url=url, app=app, store=store, client=client, patients=patients)

    return build


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    """A fresh sandbox over the standard population, default settings, no auth."""
    return make_sandbox()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
