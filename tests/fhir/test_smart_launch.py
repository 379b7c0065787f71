"""SMART launch pieces that need no server: PKCE, state, token parsing, the token manager's lock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from holovitals.fhir.errors import DiscoveryError, StateMismatch, TokenError
from holovitals.fhir.smart import (
    SmartConfiguration,
    TokenManager,
    TokenSet,
    build_authorize_request,
    check_state,
    configuration_from_document,
    oauth_uris_from_capability,
    parse_callback,
    parse_token_response,
)

pytestmark = pytest.mark.anyio

BASE = "https://ehr.example.org/fhir/r4"


def config(**overrides) -> SmartConfiguration:
    doc = {
        "authorization_endpoint": "https://ehr.example.org/auth/authorize",
        "token_endpoint": "https://ehr.example.org/auth/token",
        "code_challenge_methods_supported": ["S256"],
        "capabilities": ["launch-standalone", "client-public"],
        **overrides,
    }
    return configuration_from_document(BASE, {k: v for k, v in doc.items() if v is not None}, source="test")


def test_authorize_url_carries_pkce_s256_state_and_aud():
    request = build_authorize_request(
        config(), client_id="app", redirect_uri="http://localhost/cb", scopes="launch/patient openid", aud=BASE + "/"
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert query["aud"] == BASE
    assert query["scope"] == "launch/patient openid"
    assert query["state"] == request.state
    digest = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == request.code_challenge == digest
    assert 43 <= len(request.code_verifier) <= 128
    assert len(base64.urlsafe_b64decode(request.state + "==")) * 8 >= 122
    assert request.code_verifier not in repr(request)  # the state is in the URL by design; the verifier never


def test_every_launch_gets_a_fresh_state_and_verifier():
    a = build_authorize_request(config(), client_id="app", redirect_uri="http://x/cb", scopes="openid", aud=BASE)
    b = build_authorize_request(config(), client_id="app", redirect_uri="http://x/cb", scopes="openid", aud=BASE)
    assert a.state != b.state and a.code_verifier != b.code_verifier


def test_a_server_without_s256_is_refused():
    with pytest.raises(DiscoveryError, match="S256"):
        build_authorize_request(
            config(code_challenge_methods_supported=["plain"]),
            client_id="a",
            redirect_uri="http://x/cb",
            scopes="openid",
            aud=BASE,
        )


def test_a_launch_needs_an_authorization_endpoint():
    with pytest.raises(DiscoveryError, match="authorization_endpoint"):
        config(authorization_endpoint=None).require_launch()


def test_capability_statement_oauth_uris_are_read_as_the_fallback():
    capability = {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "security": {
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [
                                {"url": "token", "valueUri": "https://ehr.example.org/token"},
                                {"url": "authorize", "valueUri": "https://ehr.example.org/authorize"},
                            ],
                        }
                    ]
                }
            }
        ],
    }
    assert oauth_uris_from_capability(capability) == {
        "token_endpoint": "https://ehr.example.org/token",
        "authorization_endpoint": "https://ehr.example.org/authorize",
    }


def test_state_mismatch_is_refused_without_echoing_either_value():
    check_state("expected-state-value", "expected-state-value")
    with pytest.raises(StateMismatch) as info:
        check_state("expected-state-value", "attacker-state-value")
    assert "expected-state-value" not in str(info.value) and "attacker-state-value" not in str(info.value)
    with pytest.raises(StateMismatch):
        check_state("expected-state-value", None)


def test_callback_with_an_error_is_a_token_error_with_the_oauth_code():
    with pytest.raises(TokenError) as info:
        parse_callback("http://localhost/cb?error=access_denied&state=s1", expected_state="s1")
    assert info.value.error == "access_denied"


def test_callback_returns_the_code_after_checking_state():
    code = parse_callback("http://localhost/cb?code=auth-code-123456&state=s1", expected_state="s1")
    assert code == "auth-code-123456"
    with pytest.raises(StateMismatch):
        parse_callback("http://localhost/cb?code=auth-code-123456&state=s2", expected_state="s1")


def test_token_response_without_access_token_is_refused():
    with pytest.raises(TokenError, match="token response has no access_token"):
        parse_token_response({"token_type": "Bearer", "refresh_token": "refresh-secret-999"}, "openid")


def test_token_response_parses_context_and_granted_scopes():
    tokens = parse_token_response(
        {
            "access_token": "access-abcdef",
            "token_type": "bearer",
            "expires_in": 3600,
            "scope": "launch/patient patient/Observation.rs",
            "patient": "p-1",
            "encounter": "e-9",
            "refresh_token": "refresh-abcdef",
        },
        "launch/patient patient/Observation.read patient/Condition.read offline_access",
        now=1000.0,
    )
    assert tokens.patient == "p-1" and tokens.encounter == "e-9"
    assert tokens.expires_at == 4600.0
    assert tokens.missing_scopes == ["patient/Condition.read", "offline_access"]
    assert "access-abcdef" not in repr(tokens) and "refresh-abcdef" not in repr(tokens)


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one():
    first = parse_token_response({"access_token": "a-111111", "refresh_token": "r-111111", "patient": "p"}, "x")
    second = parse_token_response({"access_token": "a-222222", "expires_in": 60}, (), previous=first)
    assert second.refresh_token == "r-111111"
    assert second.patient == "p"


def test_non_bearer_token_types_are_refused():
    with pytest.raises(TokenError, match="only Bearer"):
        parse_token_response({"access_token": "a-333333", "token_type": "DPoP"})


def test_token_set_survives_a_round_trip_through_its_dict():
    tokens = TokenSet("a-444444", expires_at=5.0, refresh_token="r-444444", scope=("openid",), patient="p")
    assert TokenSet.from_dict(tokens.to_dict()) == tokens


# -- TokenManager --------------------------------------------------------------------------------


class Refresher:
    def __init__(self, rotate: bool = True) -> None:
        self.calls = 0
        self.rotate = rotate

    async def __call__(self, current: TokenSet | None) -> TokenSet:
        self.calls += 1
        await asyncio.sleep(0.01)  # a slow token endpoint: everyone else piles up meanwhile
        refresh = f"refresh-{self.calls:06d}" if self.rotate else (current.refresh_token if current else None)
        return TokenSet(f"access-{self.calls:06d}", expires_at=10_000.0, refresh_token=refresh)


async def test_concurrent_requests_with_a_stale_token_refresh_once():
    refresher = Refresher()
    manager = TokenManager(TokenSet("access-old", expires_at=1030.0), refresher, skew=60, clock=lambda: 1000.0)
    tokens = await asyncio.gather(*(manager.get_token() for _ in range(20)))
    assert refresher.calls == 1
    assert set(tokens) == {"access-000001"}


async def test_a_token_is_refreshed_before_it_expires_not_after():
    now = [1000.0]
    manager = TokenManager(TokenSet("access-old", expires_at=1100.0), Refresher(), skew=60, clock=lambda: now[0])
    assert await manager.get_token() == "access-old"  # 100 s left
    now[0] = 1045.0  # 55 s left: inside the skew
    assert await manager.get_token() == "access-000001"


async def test_many_401s_for_the_same_token_cause_one_refresh():
    refresher = Refresher()
    manager = TokenManager(TokenSet("access-old", expires_at=10_000.0), refresher, clock=lambda: 1000.0)
    await asyncio.gather(*(manager.force_refresh("access-old") for _ in range(10)))
    assert refresher.calls == 1


async def test_a_rotated_refresh_token_is_handed_over_for_persisting():
    persisted: list[TokenSet] = []

    async def on_rotate(tokens: TokenSet) -> None:
        persisted.append(tokens)

    manager = TokenManager(TokenSet("a", expires_at=0.0, refresh_token="r0"), Refresher(), on_rotate=on_rotate)
    await manager.get_token()
    assert [t.refresh_token for t in persisted] == ["refresh-000001"]


async def test_no_rotation_callback_when_the_refresh_token_stays_the_same():
    persisted: list[TokenSet] = []
    start = TokenSet("a", expires_at=0.0, refresh_token="r0")
    manager = TokenManager(start, Refresher(rotate=False), on_rotate=persisted.append)
    await manager.get_token()
    assert persisted == []
