"""The FHIR client against the HoloVitals sandbox EHR over real HTTP: SMART launches at every vendor
base, refresh-token rotation, injected faults (429, 503, dropped connections, expired tokens and
paging sessions), vendor quirks (Epic 4113, Oracle Health's repeated entries and 409), and bulk export.

One server runs for the module; each test installs a fresh sandbox app (store, auth, exporter)
behind it, so state from one test never leaks into another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from holovitals.fhir import (
    BulkExport,
    FhirClient,
    OutcomeUnknown,
    PageFailure,
    PagingSessionExpired,
    RateLimit,
    RateLimited,
    RetryPolicy,
    StateMismatch,
    TokenError,
    TokenManager,
    TokenSet,
    TransientError,
    Transport,
    VersionConflict,
    backend_token_manager,
    build_authorize_request,
    discover,
    exchange_code,
    generate_private_key,
    parse_callback,
    public_jwks,
    refresh_tokens,
    smart_refresher,
)
from holovitals.fhir.errors import Action, BadRequest
from holovitals.sandbox.app import create_sandbox_app
from holovitals.sandbox.bulk import BulkExporter
from holovitals.sandbox.flavours import BY_KEY
from holovitals.sandbox.generator import generate_population
from holovitals.sandbox.server import SandboxServer
from holovitals.sandbox.settings import SandboxSettings
from holovitals.sandbox.smart import ClientRegistration, SmartAuthServer
from holovitals.sandbox.store import SandboxStore

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:9/callback"
# No openid here: an id_token costs the sandbox an RSA key generation per app; one test asks for it.
LAUNCH_SCOPES = "launch/patient offline_access patient/*.rs"
SECRET = "confidential-secret-0042!"


class Switch:
    """ASGI app forwarding to whichever sandbox app the current test installed."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


class Clock:
    """Real time plus an offset a test can push forward (a minute passes without waiting for it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:  # time passes for the sandbox, instantly for us
        self.advance(seconds)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Switch, str]]:
    switch = Switch()
    with SandboxServer(switch) as running:
        yield switch, running.url


@pytest.fixture(scope="module")
def population() -> list[bytes]:
    return [orjson.dumps(r) for r in generate_population(4, seed=11)]


@pytest.fixture(scope="module")
def backend_key() -> dict:
    return generate_private_key("ES384")


@dataclass
class Ehr:
    url: str
    app: Any
    store: SandboxStore
    auth: SmartAuthServer
    clock: Clock  # the sandbox's wall clock: rate-limit windows, paging expiry
    auth_clock: Clock  # the authorization server's: code and token lifetimes
    patient: str
    backend_key: dict

    def base(self, key: str = "plain") -> str:
        flavour = BY_KEY[key]
        tenant = sorted(flavour.tenants)[0] if flavour.tenants else None
        return self.url + flavour.base_path(tenant)

    @property
    def faults(self) -> Any:
        return self.app.state.faults


@pytest.fixture
def ehr(server, population, backend_key) -> Ehr:
    switch, url = server
    store = SandboxStore()
    store.load(orjson.loads(raw) for raw in population)
    patient = sorted(r.id for r in store.scan("Patient"))[0]
    clock, auth_clock = Clock(), Clock()
    auth = SmartAuthServer(clock=auth_clock, default_patient=patient, code_lifetime=60)
    auth.register_client(ClientRegistration(client_id="app", kind="public", redirect_uris=(REDIRECT,)))
    auth.register_client(
        ClientRegistration(client_id="conf", kind="confidential", redirect_uris=(REDIRECT,), client_secret=SECRET)
    )
    auth.register_client(ClientRegistration(client_id="svc", kind="backend", jwks=public_jwks([backend_key])))
    bulk = BulkExporter(store, auth=auth)
    settings = SandboxSettings(clock=clock, ecw_requests_per_minute=5)
    app = create_sandbox_app(store, auth=auth, bulk=bulk, settings=settings)
    switch.app = app
    return Ehr(url, app, store, auth, clock, auth_clock, patient, backend_key)


def fhir_client(base: str, *, retry: RetryPolicy | None = None, **kwargs: Any) -> tuple[FhirClient, list[float]]:
    """A client whose retry waits are recorded instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = Transport(retry=retry or RetryPolicy(), sleep=sleep, **kwargs)
    return FhirClient(base, transport=transport), slept


async def launch(
    client: FhirClient, base: str, *, client_id: str = "app", secret: str | None = None, scopes: str = LAUNCH_SCOPES
) -> TokenSet:
    """A standalone patient launch: discovery, authorize (auto-approved), callback, code exchange."""
    config = await discover(client.http, base)
    request = build_authorize_request(config, client_id=client_id, redirect_uri=REDIRECT, scopes=scopes, aud=base)
    answer = await client.http.get(request.url, follow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    code = parse_callback(answer.headers["Location"], expected_state=request.state)
    return await exchange_code(
        client.http, config, code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT,
        client_id=client_id, client_secret=secret, requested_scopes=request.scopes,
    )  # fmt: skip


async def system_client(
    ehr: Ehr, key: str = "plain", scopes: str = "system/*.cruds", **kwargs: Any
) -> tuple[FhirClient, list[float]]:
    """A backend-services client (client_credentials with our ES384 key)."""
    base = ehr.base(key)
    client, slept = fhir_client(base, **kwargs)
    config = await discover(client.http, base)
    client.transport.auth = backend_token_manager(
        client.http, config, client_id="svc", private_jwk=ehr.backend_key, alg="ES384", scopes=scopes
    )
    return client, slept


async def signed_in(ehr: Ehr, key: str = "plain", **kwargs: Any) -> tuple[FhirClient, list[float], TokenSet]:
    base = ehr.base(key)
    client, slept = fhir_client(base, **kwargs)
    tokens = await launch(client, base)
    config = await discover(client.http, base)
    client.transport.auth = TokenManager(tokens, smart_refresher(client.http, config, client_id="app"))
    return client, slept, tokens


# -- SMART App Launch ----------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["plain", "epic", "cerner", "meditech", "athena", "ecw", "nextgen", "veradigm"])
async def test_standalone_launch_with_pkce_reads_the_patient_at_every_vendor_base(ehr, flavour):
    client, _slept, tokens = await signed_in(ehr, flavour)
    async with client:
        patient = await client.read("Patient", tokens.patient)
    assert tokens.patient == ehr.patient == patient["id"]
    assert tokens.missing_scopes == []
    assert tokens.refresh_token and tokens.expires_in() > 3000


async def test_openid_launch_tells_who_the_user_is_from_the_id_token(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    async with client:
        tokens = await launch(client, base, scopes=f"openid fhirUser {LAUNCH_SCOPES}")
    assert tokens.id_token and tokens.fhir_user and tokens.fhir_user.endswith(f"Patient/{ehr.patient}")
    assert tokens.id_token not in repr(tokens)


async def test_confidential_client_exchanges_its_code_with_client_secret_basic(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    async with client:
        tokens = await launch(client, base, client_id="conf", secret=SECRET)
    assert tokens.patient == ehr.patient


async def test_a_replayed_authorization_code_is_invalid_grant_and_names_no_secret(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    async with client:
        config = await discover(client.http, base)
        request = build_authorize_request(config, client_id="app", redirect_uri=REDIRECT, scopes="openid", aud=base)
        answer = await client.http.get(request.url, follow_redirects=False)
        code = parse_callback(answer.headers["Location"], expected_state=request.state)
        kwargs = {"code": code, "code_verifier": request.code_verifier, "redirect_uri": REDIRECT, "client_id": "app"}
        await exchange_code(client.http, config, **kwargs)
        with pytest.raises(TokenError) as info:
            await exchange_code(client.http, config, **kwargs)
    assert info.value.error == "invalid_grant"
    assert code not in str(info.value) and request.code_verifier not in str(info.value)


async def test_an_expired_authorization_code_is_invalid_grant(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    async with client:
        config = await discover(client.http, base)
        request = build_authorize_request(config, client_id="app", redirect_uri=REDIRECT, scopes="openid", aud=base)
        answer = await client.http.get(request.url, follow_redirects=False)
        code = parse_callback(answer.headers["Location"], expected_state=request.state)
        ehr.auth_clock.advance(120)  # the user took two minutes to come back; codes live 60 s
        with pytest.raises(TokenError) as info:
            await exchange_code(
                client.http, config, code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT,
                client_id="app",
            )  # fmt: skip
    assert info.value.error == "invalid_grant"
    assert "sign in again" in str(info.value)


async def test_a_callback_with_someone_elses_state_is_refused(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    async with client:
        config = await discover(client.http, base)
        ours = build_authorize_request(config, client_id="app", redirect_uri=REDIRECT, scopes="openid", aud=base)
        theirs = build_authorize_request(config, client_id="app", redirect_uri=REDIRECT, scopes="openid", aud=base)
        answer = await client.http.get(theirs.url, follow_redirects=False)
    with pytest.raises(StateMismatch) as info:
        parse_callback(answer.headers["Location"], expected_state=ours.state)
    assert ours.state not in str(info.value) and theirs.state not in str(info.value)


async def test_refresh_before_expiry_hands_the_rotated_refresh_token_over_for_persisting(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    persisted: list[TokenSet] = []
    async with client:
        tokens = await launch(client, base)
        config = await discover(client.http, base)
        manager = TokenManager(
            tokens,
            smart_refresher(client.http, config, client_id="app"),
            on_rotate=persisted.append,
            skew=60,
            clock=lambda: tokens.expires_at - 30,  # 30 s left: inside the skew, so refresh now
        )
        client.transport.auth = manager
        await client.read("Patient", ehr.patient)
        assert manager.refreshes == 1
        assert [t.refresh_token for t in persisted] == [manager.token_set.refresh_token]
        assert manager.token_set.refresh_token != tokens.refresh_token
        # Why persisting matters: the sandbox, like Oracle Health, revokes a grant whose old refresh
        # token is presented again.
        with pytest.raises(TokenError) as info:
            await refresh_tokens(client.http, config, tokens, client_id="app")
    assert info.value.error == "invalid_grant"


async def test_expired_tokens_mid_sync_are_refreshed_once_and_the_sync_carries_on(ehr):
    client, _slept, _tokens = await signed_in(ehr)
    async with client:
        ehr.faults.add(kind="token-expiry", count=1)
        patient = await client.read("Patient", ehr.patient)
    assert patient["id"] == ehr.patient
    assert client.stats.reauthentications == 1
    assert client.transport.auth.refreshes == 1


async def test_backend_services_token_authorises_a_system_export_with_files_behind_the_token(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    received: list[tuple[str, dict]] = []
    async with client:
        config = await discover(client.http, base)
        client.transport.auth = backend_token_manager(
            client.http, config, client_id="svc", private_jwk=ehr.backend_key, alg="ES384", scopes="system/*.rs"
        )
        export = BulkExport(client, level="system", types=["Patient", "Condition"], poll_interval=0.05)
        result = await export.run(lambda batch: received.extend(batch))
    assert result.manifest["requiresAccessToken"] is True
    assert result.complete
    assert result.counts["Patient"] == 4
    assert {t for t, _ in received} == {"Patient", "Condition"}
    assert len(received) == sum(result.counts.values())


# -- injected faults -----------------------------------------------------------------------------


async def test_429_with_retry_after_waits_as_asked_then_succeeds(ehr):
    client, slept, _tokens = await signed_in(ehr)
    async with client:
        ehr.faults.add(kind="429", retry_after=2, count=1)
        await client.read("Patient", ehr.patient)
    assert slept == [2.0]
    assert client.stats.rate_limited == 1 and client.stats.by_status[429] == 1


async def test_429_without_retry_after_backs_off_at_least_a_second(ehr):
    client, slept, _tokens = await signed_in(ehr)
    async with client:
        ehr.faults.add(kind="429", count=2)
        await client.read("Patient", ehr.patient)
    assert len(slept) == 2 and all(s >= 1.0 for s in slept)


async def test_503_and_500_are_retried_with_backoff(ehr):
    client, slept, _tokens = await signed_in(ehr)
    async with client:
        ehr.faults.add(kind="503", count=1)
        ehr.faults.add(kind="500", count=1)
        patient = await client.read("Patient", ehr.patient)
    assert patient["id"] == ehr.patient
    assert client.stats.retries == 2 and len(slept) == 2


async def test_a_dropped_connection_on_a_read_is_retried(ehr):
    client, _slept, _tokens = await signed_in(ehr)
    async with client:
        ehr.faults.add(kind="drop", count=1)
        patient = await client.read("Patient", ehr.patient)
    assert patient["id"] == ehr.patient
    assert client.stats.retries == 1


async def test_a_dropped_connection_on_a_create_is_outcome_unknown_not_retried(ehr):
    client, _slept = await system_client(ehr)
    async with client:
        await client.capabilities()
        ehr.faults.add(kind="drop", count=1, method="POST", path_contains="/Patient")
        with pytest.raises(OutcomeUnknown) as info:
            await client.create({"resourceType": "Patient", "gender": "other"})
    assert client.stats.retries == 0
    assert info.value.action == Action.RETRY


async def test_persistent_503_gives_up_after_max_attempts_with_a_transient_error(ehr):
    client, slept, _tokens = await signed_in(ehr, retry=RetryPolicy(max_attempts=3))
    async with client:
        ehr.faults.add(kind="503", count=None)
        with pytest.raises(TransientError) as info:
            await client.read("Patient", ehr.patient)
    assert info.value.status == 503 and info.value.retryable
    assert len(slept) == 2


# -- paging and vendor quirks --------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["plain", "epic"])
async def test_an_expired_paging_session_is_a_recorded_failure_asking_to_reissue(ehr, flavour):
    client, _slept, tokens = await signed_in(ehr, flavour)
    params = {"patient": tokens.patient, "category": "laboratory"}
    pages = []
    async with client:
        async for page in client.search_pages("Observation", params, page_size=3):
            pages.append(page)
            if len(pages) == 1:
                ehr.faults.add(kind="paging-expiry", count=1)
    assert pages[0].ok and not pages[-1].ok
    failure = pages[-1]
    assert isinstance(failure, PageFailure) and isinstance(failure.error, PagingSessionExpired)
    assert failure.error.action == Action.REISSUE
    assert failure.index == 1
    if flavour == "epic":
        assert "4113" in failure.error.codes


async def test_oracle_health_entries_repeated_across_pages_are_deduplicated_and_counted(ehr):
    client, _slept, tokens = await signed_in(ehr, "cerner")
    async with client:
        result = await client.search_all("Observation", {"patient": tokens.patient}, page_size=5)
    ids = [r["id"] for r in result]
    assert result.complete and result.pages > 2
    assert len(ids) == len(set(ids))
    assert result.duplicates == result.pages - 1  # one repeated entry at the top of every later page


async def test_epic_observation_search_without_category_is_a_bad_request_with_diagnostics(ehr):
    client, _slept, tokens = await signed_in(ehr, "epic")
    async with client:
        result = await client.search_all("Observation", {"patient": tokens.patient})
    assert not result.complete
    error = result.failures[0].error
    assert isinstance(error, BadRequest)
    assert "4111" in error.codes
    assert client.stats.retries == 0


async def test_oracle_health_answers_a_stale_update_with_409_and_that_is_a_version_conflict(ehr):
    base = ehr.base("cerner")
    client, _ = fhir_client(base)
    async with client:
        config = await discover(client.http, base)
        client.transport.auth = backend_token_manager(
            client.http, config, client_id="svc", private_jwk=ehr.backend_key, alg="ES384", scopes="system/*.cruds"
        )
        condition = (await client.search_all("Condition", {"patient": ehr.patient})).resources[0]
        version = condition["meta"]["versionId"]
        await client.update(dict(condition, note=[{"text": "edited elsewhere"}]), if_match=version)
        with pytest.raises(VersionConflict) as info:
            await client.update(dict(condition, note=[{"text": "our edit"}]), if_match=version)
    assert info.value.status == 409
    assert info.value.action == Action.CONFLICT


async def test_eclinicalworks_limit_is_never_crossed_with_our_rate_limit(ehr):
    # The sandbox allows 5 requests a minute here (eClinicalWorks: 250, no Retry-After, blocked to the
    # minute boundary), token calls included. Our bucket runs on the sandbox's clock and shares the
    # pool with the token calls, so a few minutes pass without sleeping and nothing crosses the line.
    limit = RateLimit(per_minute=5, clock=ehr.clock, sleep=ehr.clock.sleep)
    client, slept = await system_client(ehr, "ecw", "system/*.rs", rate_limit=limit)
    started = ehr.clock()
    async with client:
        for _ in range(10):
            await client.read("Patient", ehr.patient)
    assert 429 not in client.stats.by_status
    assert slept == []
    assert ehr.clock() - started >= 60


async def test_eclinicalworks_without_our_limit_hits_429_with_no_retry_after(ehr):
    client, _slept = await system_client(ehr, "ecw", "system/*.rs", retry=RetryPolicy(max_attempts=1))
    async with client:
        with pytest.raises(RateLimited) as info:
            for _ in range(10):
                await client.read("Patient", ehr.patient)
    assert info.value.retry_after is None
    assert client.stats.by_status[429] == 1


# -- bulk data -----------------------------------------------------------------------------------


async def test_export_reports_deleted_resources_as_tombstones_and_unsupported_requests_as_errors(ehr):
    base = ehr.base()
    client, _ = fhir_client(base)
    async with client:
        config = await discover(client.http, base)
        client.transport.auth = backend_token_manager(
            client.http, config, client_id="svc", private_jwk=ehr.backend_key, alg="ES384", scopes="system/*.cruds"
        )
        first = await BulkExport(client, level="system", types=["Condition"], poll_interval=0.05).run(lambda b: None)
        gone = (await client.search_all("Condition", {"patient": ehr.patient})).resources[0]
        await client.delete("Condition", gone["id"])
        received: list[tuple[str, dict]] = []
        second = BulkExport(
            client, level="system", types=["Condition"], since=first.next_since, poll_interval=0.05,
            extra_params={"_unheard_of": "1"}, lenient=True,
        )  # fmt: skip
        result = await second.run(lambda batch: received.extend(batch))
    assert ("Condition", gone["id"]) in result.deleted
    assert result.errors and "_unheard_of" in orjson.dumps(result.errors).decode()
    assert result.complete  # error lines are the server's report, not a failed download


async def test_a_second_concurrent_epic_export_is_rate_limited_with_the_servers_retry_after(ehr):
    base = ehr.base("epic")
    client, slept = fhir_client(base, retry=RetryPolicy(max_attempts=2))
    async with client:
        config = await discover(client.http, base)
        client.transport.auth = backend_token_manager(
            client.http, config, client_id="svc", private_jwk=ehr.backend_key, alg="ES384", scopes="system/*.rs"
        )
        running = BulkExport(client, level="group", group_id="all-patients")
        await running.kick_off()
        with pytest.raises(RateLimited) as info:
            await BulkExport(client, level="group", group_id="all-patients").kick_off()
        await running.delete()  # Epic: one export at a time until DELETE
        again = await BulkExport(client, level="group", group_id="all-patients", poll_interval=0.05).run(lambda b: None)
    assert info.value.retry_after is not None
    assert len(slept) == 1
    assert again.complete and again.counts["Patient"] == 4
