"""Fault injection: the sandbox fails on purpose the way real EHRs fail, and only where it is told to."""

from __future__ import annotations

import time

import httpx
import pytest

from holovitals.sandbox.faults import FaultRule, parse_fault_header
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.smart_tokens import TokenContext


def add_fault(box, **rule) -> dict:
    response = box.client.post(box.url + "/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


def test_injected_429_carries_retry_after_for_count_requests_then_recovers(sandbox):
    add_fault(sandbox, kind="429", count=2, retry_after=3, path_contains="Observation")
    url = sandbox.base("plain") + "/Observation"
    for _ in range(2):
        response = sandbox.get(url)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json()["issue"][0]["code"] == "throttled"
    assert sandbox.get(url).status_code == 200


def test_injected_429_without_retry_after_sends_none(sandbox):
    add_fault(sandbox, kind="429")
    response = sandbox.get(sandbox.base("plain") + "/Patient")
    assert response.status_code == 429
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("status", [500, 503])
def test_injected_server_errors_are_operation_outcomes(sandbox, status):
    add_fault(sandbox, kind=str(status), count=1)
    response = sandbox.get(sandbox.base("plain") + "/Patient")
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert sandbox.get(sandbox.base("plain") + "/Patient").status_code == 200


def test_slow_fault_delays_the_answer(sandbox):
    add_fault(sandbox, kind="slow", delay_s=0.4)
    started = time.perf_counter()
    response = sandbox.get(sandbox.base("plain") + "/metadata")
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.4


def test_slow_fault_trips_a_client_read_timeout(sandbox):
    add_fault(sandbox, kind="slow", delay_s=0.5)
    with pytest.raises(httpx.ReadTimeout):
        sandbox.get(sandbox.base("plain") + "/metadata", timeout=0.1)


def test_dropped_connection_gives_the_client_a_protocol_error(sandbox):
    add_fault(sandbox, kind="drop", path_contains="/Condition")
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox.get(sandbox.base("plain") + "/Condition")
    assert sandbox.get(sandbox.base("plain") + "/Condition").status_code == 200


def test_fault_header_fails_just_that_request(sandbox):
    url = sandbox.base("plain") + "/Patient"
    assert sandbox.get(url, headers={"X-Sandbox-Fault": "503"}).status_code == 503
    limited = sandbox.get(url, headers={"X-Sandbox-Fault": "429; retry-after=7"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox.get(url, headers={"X-Sandbox-Fault": "drop"})
    assert sandbox.get(url).status_code == 200


def test_bad_fault_header_is_400(sandbox):
    response = sandbox.get(sandbox.base("plain") + "/Patient", headers={"X-Sandbox-Fault": "meteor"})
    assert response.status_code == 400


def test_fault_applies_only_to_its_flavour_and_path(sandbox):
    add_fault(sandbox, kind="503", count=None, flavour="ecw", path_contains="Observation")
    assert sandbox.get(sandbox.base("ecw") + "/Observation").status_code == 503
    assert sandbox.get(sandbox.base("ecw") + "/Condition").status_code == 200
    assert sandbox.get(sandbox.base("plain") + "/Observation").status_code == 200


def test_fault_after_lets_the_first_requests_through(sandbox):
    add_fault(sandbox, kind="500", after=2)
    url = sandbox.base("plain") + "/metadata"
    assert [sandbox.get(url).status_code for _ in range(4)] == [200, 200, 500, 200]


def test_faults_never_block_the_admin_api(sandbox):
    add_fault(sandbox, kind="drop", count=None)
    assert sandbox.get("/_sandbox/stats").status_code == 200
    assert sandbox.client.delete(sandbox.url + "/_sandbox/faults").status_code == 204
    assert sandbox.get(sandbox.base("plain") + "/metadata").status_code == 200


def test_admin_api_lists_and_clears_faults(sandbox):
    rule = add_fault(sandbox, kind="503", count=5)
    assert [r["id"] for r in sandbox.get("/_sandbox/faults").json()] == [rule["id"]]
    sandbox.client.delete(sandbox.url + "/_sandbox/faults")
    assert sandbox.get("/_sandbox/faults").json() == []


@pytest.mark.parametrize(
    "rule", [{"kind": "meteor"}, {"kind": "429", "count": 0}, {"kind": "500", "colour": "red"}, []]
)
def test_invalid_fault_rule_is_400(sandbox, rule):
    assert sandbox.client.post(sandbox.url + "/_sandbox/faults", json=rule).status_code == 400


def test_faults_can_be_added_from_code(sandbox):
    sandbox.app.state.faults.add(kind="500", path_contains="Encounter")
    assert sandbox.get(sandbox.base("plain") + "/Encounter").status_code == 500


def test_paging_expiry_fault_makes_the_next_link_fail(sandbox):
    first = sandbox.get(sandbox.base("plain") + "/Observation", params={"_count": 5}).json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    add_fault(sandbox, kind="paging-expiry", path_contains="/metadata")
    sandbox.get(sandbox.base("plain") + "/metadata")
    expired = sandbox.get(following)
    assert expired.status_code == 410
    assert "re-issue" in expired.json()["issue"][0]["diagnostics"]


def test_paging_session_expires_after_its_ttl(make_sandbox, clock):
    from holovitals.sandbox.settings import SandboxSettings

    box = make_sandbox(settings=SandboxSettings(clock=clock, paging_ttl_s=60))
    first = box.get(box.base("meditech") + "/Observation", params={"_count": 5}).json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    clock.now += 30
    assert box.get(following).status_code == 200
    clock.now += 31
    assert box.get(following).status_code == 410


def test_stats_count_requests_statuses_and_fired_faults(sandbox):
    add_fault(sandbox, kind="503", count=1)
    sandbox.get(sandbox.base("epic") + "/metadata")
    sandbox.get(sandbox.base("epic") + "/metadata")
    stats = sandbox.get("/_sandbox/stats").json()
    assert stats["requests"]["epic"] == 2
    assert stats["statuses"] == {"503": 1, "200": 1}
    assert stats["faults_fired"] == {"503": 1}
    assert stats["resources"]["Patient"] == len(sandbox.patients)
    assert sandbox.client.post(sandbox.url + "/_sandbox/reset").status_code == 204
    assert sandbox.get("/_sandbox/stats").json()["requests"] == {}


# ---------------------------------------------------------------------------- faults that need auth


class TokenAuth:
    """The SmartAuthServer interface over fixed tokens; expire_all_tokens really expires them."""

    def __init__(self) -> None:
        self.live = {"token-a": "app-a", "token-b": "app-b"}
        self.expired = False

    def router(self):
        from fastapi import APIRouter

        return APIRouter()

    def authenticate(self, authorization_header, *, base_url, resource_type, interaction, patient_id):
        token = (authorization_header or "").removeprefix("Bearer ")
        if self.expired or token not in self.live:
            raise SmartError(401, "invalid_token", "access token has expired")
        return TokenContext(client_id=self.live[token], scopes=["user/*.rs"], patient=None, expires_at=2e9)

    def expire_all_tokens(self) -> None:
        self.expired = True


def test_token_expiry_fault_expires_tokens_mid_sync(make_sandbox):
    box = make_sandbox(auth=TokenAuth())
    headers = {"Authorization": "Bearer token-a"}
    url = box.base("plain") + "/Patient"
    add_fault(box, kind="token-expiry", after=2)
    assert box.get(url, headers=headers).status_code == 200
    assert box.get(url, headers=headers).status_code == 200
    expired = box.get(url, headers=headers)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"].startswith("Bearer")


def test_client_id_fault_hits_only_that_client(make_sandbox):
    box = make_sandbox(auth=TokenAuth())
    add_fault(box, kind="429", count=None, client_id="app-b")
    url = box.base("plain") + "/Patient"
    assert box.get(url, headers={"Authorization": "Bearer token-a"}).status_code == 200
    assert box.get(url, headers={"Authorization": "Bearer token-b"}).status_code == 429


def test_token_fault_hits_only_that_bearer_token(make_sandbox):
    box = make_sandbox(auth=TokenAuth())
    add_fault(box, kind="503", count=None, token="token-a")
    url = box.base("plain") + "/Patient"
    assert box.get(url, headers={"Authorization": "Bearer token-a"}).status_code == 503
    assert box.get(url, headers={"Authorization": "Bearer token-b"}).status_code == 200


def test_fault_header_parses_kind_and_options():
    rule = parse_fault_header("429; retry-after=2")
    assert (rule.kind, rule.retry_after, rule.count) == ("429", 2, 1)
    rule = parse_fault_header("slow; delay=0.25")
    assert (rule.kind, rule.delay_s) == ("slow", 0.25)
    with pytest.raises(ValueError):
        parse_fault_header("slow; speed=3")
    with pytest.raises(ValueError):
        FaultRule(kind="418")
