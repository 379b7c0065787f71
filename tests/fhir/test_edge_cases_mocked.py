"""Edge cases no real server here can be made to produce, so respx plays the server.

Everything else is tested against sekmet-fhir and the HoloVitals sandbox over real HTTP.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import respx

from holovitals.fhir import (
    DiscoveryError,
    FhirClient,
    MalformedResponse,
    PageFailure,
    RetryPolicy,
    TokenError,
    TokenManager,
    TokenSet,
    Transport,
    discover,
    exchange_code,
)
from holovitals.fhir.smart import configuration_from_document

pytestmark = pytest.mark.anyio

BASE = "https://ehr.example.org/fhir"


def bundle(entries: list[dict], next_url: str | None = None, **extra) -> dict:
    body = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in entries], **extra}
    if next_url:
        body["link"] = [{"relation": "next", "url": next_url}]
    return body


def patient(pid: str) -> dict:
    return {"resourceType": "Patient", "id": pid, "meta": {"versionId": "1"}}


def client_with_recorded_sleeps(**kwargs) -> tuple[FhirClient, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = Transport(retry=RetryPolicy(max_retry_after=120), sleep=sleep, **kwargs)
    return FhirClient(BASE, transport=transport), slept


@respx.mock
async def test_retry_after_as_an_http_date_is_waited_out_then_retried():
    when = format_datetime(datetime.fromtimestamp(time.time() + 45, UTC), usegmt=True)
    respx.get(f"{BASE}/Patient/1").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200, json=patient("1"))]
    )
    client, slept = client_with_recorded_sleeps()
    async with client:
        assert (await client.read("Patient", "1"))["id"] == "1"
    assert len(slept) == 1 and 40 <= slept[0] <= 46
    assert client.stats.rate_limited == 1


@respx.mock
async def test_retry_after_sent_as_an_absolute_epoch_waits_until_then_not_for_decades():
    epoch = str(int(time.time()) + 20)  # e.g. "1767225600": a timestamp, not a number of seconds
    respx.get(f"{BASE}/Patient/1").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": epoch}), httpx.Response(200, json=patient("1"))]
    )
    client, slept = client_with_recorded_sleeps()
    async with client:
        await client.read("Patient", "1")
    assert len(slept) == 1 and 15 <= slept[0] <= 21


@respx.mock
async def test_a_next_link_loop_stops_with_a_recorded_failure():
    first = f"{BASE}/Patient?_count=1"
    second = f"{BASE}/Patient?page=2"
    respx.get(first).mock(return_value=httpx.Response(200, json=bundle([patient("a")], second)))
    respx.get(second).mock(return_value=httpx.Response(200, json=bundle([patient("b")], first)))
    async with FhirClient(BASE) as client:
        pages = [p async for p in client.search_pages("Patient", {"_count": 1})]
    assert [p.ok for p in pages] == [True, True, False]
    assert [r["id"] for p in pages[:2] for r in p.resources] == ["a", "b"]
    failure = pages[2]
    assert isinstance(failure, PageFailure) and isinstance(failure.error, MalformedResponse)
    assert "paging loop" in failure.reason
    assert failure.index == 2


@respx.mock
async def test_a_401_gets_one_fresh_token_and_the_request_succeeds():
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer access-old-000":
            return httpx.Response(401)
        return httpx.Response(200, json=patient("1"))

    respx.get(f"{BASE}/Patient/1").mock(side_effect=answer)

    async def refresher(_current):
        return TokenSet("access-new-111", expires_at=time.time() + 3600)

    manager = TokenManager(TokenSet("access-old-000", expires_at=time.time() + 3600), refresher)
    async with FhirClient(BASE, auth=manager) as client:
        await client.read("Patient", "1")
    assert seen == ["Bearer access-old-000", "Bearer access-new-111"]
    assert client.stats.reauthentications == 1 and client.stats.retries == 0


@respx.mock
async def test_a_bundle_without_type_is_a_malformed_response_page_failure():
    body = {"resourceType": "Bundle", "entry": [{"resource": patient("a")}]}
    respx.get(f"{BASE}/Patient").mock(return_value=httpx.Response(200, json=body))
    async with FhirClient(BASE) as client:
        result = await client.search_all("Patient")
    assert len(result) == 0 and not result.complete
    failure = result.failures[0]
    assert isinstance(failure.error, MalformedResponse)
    assert "Bundle has no type" in failure.reason


@respx.mock
async def test_a_token_response_without_access_token_is_a_clear_error_without_secrets():
    cfg = configuration_from_document(BASE, {"token_endpoint": f"{BASE}/auth/token"}, source="test")
    respx.post(f"{BASE}/auth/token").mock(
        return_value=httpx.Response(200, json={"token_type": "Bearer", "refresh_token": "refresh-leak-424242"})
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(TokenError) as info:
            await exchange_code(
                http, cfg, code="code-leak-123456", code_verifier="verifier-leak-7890", redirect_uri="http://x/cb",
                client_id="app", client_secret="secret-leak-555555",
            )  # fmt: skip
    text = str(info.value)
    assert "token response has no access_token" in text
    for secret in ("refresh-leak-424242", "code-leak-123456", "verifier-leak-7890", "secret-leak-555555"):
        assert secret not in text


@respx.mock
async def test_a_discovery_document_without_token_endpoint_names_the_missing_field():
    respx.get(f"{BASE}/.well-known/smart-configuration").mock(
        return_value=httpx.Response(200, json={"authorization_endpoint": f"{BASE}/auth/authorize"})
    )
    respx.get(f"{BASE}/metadata").mock(return_value=httpx.Response(404))
    async with httpx.AsyncClient() as http:
        with pytest.raises(DiscoveryError) as info:
            await discover(http, BASE)
    assert "token_endpoint" in str(info.value)
    assert "ehr.example.org" in str(info.value)
