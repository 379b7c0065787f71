"""The FHIR client against sekmet-fhir, a real R4 server we did not write (see conftest)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from holovitals.fhir import (
    AuthenticationRequired,
    BadRequest,
    BulkExport,
    FhirClient,
    Gone,
    NotFound,
    Page,
    PageFailure,
    PolicyDenied,
    RateLimit,
    RetryPolicy,
    ServerUnreachable,
    StaticToken,
    SyncFhirClient,
    TokenError,
    TokenManager,
    TokenSet,
    VersionConflict,
    backend_token,
    backend_token_manager,
    discover,
)
from holovitals.fhir.errors import Action

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=2, base=0.01, cap=0.05)


def new_patient(family: str | None = None) -> dict:
    return {
        "resourceType": "Patient",
        "name": [{"family": family or f"Test{uuid.uuid4().hex[:8]}", "given": ["Pat"]}],
        "gender": "unknown",
    }


async def test_search_pages_follow_next_links_through_every_seeded_patient(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        everyone = await client.search_all("Patient", {"_count": 1000})
        pages = [p async for p in client.search_pages("Patient", page_size=5)]
    assert all(isinstance(p, Page) for p in pages)
    assert len(pages) >= 3
    assert [p.index for p in pages] == list(range(len(pages)))
    ids = [r["id"] for p in pages for r in p.resources]
    assert len(ids) == len(set(ids))
    assert set(ids) == {r["id"] for r in everyone}
    assert len(ids) >= 12
    assert "_offset=5" in pages[1].url  # the server's own next link, followed verbatim


async def test_search_all_reports_pages_and_completeness(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        result = await client.search_all("Patient", page_size=4)
    assert result.complete and result.failures == []
    assert result.pages >= 3
    assert result.duplicates == 0


async def test_read_returns_the_resource_with_its_version(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        created = await client.create(new_patient())
        read = await client.read("Patient", created.id)
    assert created.status == 201
    assert read["id"] == created.id
    assert read["meta"]["versionId"] == created.version_id == "1"


async def test_read_of_a_missing_resource_raises_not_found(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        with pytest.raises(NotFound) as info:
            await client.read("Patient", "does-not-exist-42")
    assert info.value.status == 404
    assert info.value.action == Action.SKIP
    assert "not found" in info.value.diagnostics


async def test_read_of_a_deleted_resource_raises_gone(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        created = await client.create(new_patient())
        await client.delete("Patient", created.id)
        with pytest.raises(Gone):
            await client.read("Patient", created.id)


async def test_last_updated_search_finds_only_recent_changes(sekmet):
    await asyncio.sleep(1.0)  # everything created before this test (the seed, other tests) is now older
    since = (datetime.now(UTC) - timedelta(milliseconds=100)).isoformat(timespec="milliseconds")
    async with FhirClient(sekmet.base_url) as client:
        created = await client.create(new_patient())
        result = await client.search_all("Patient", [("_lastUpdated", f"ge{since}")])
        everyone = await client.search_all("Patient")
    ids = {r["id"] for r in result}
    assert created.id in ids
    # Other tests of this module create patients too; what matters is that the filter narrowed.
    assert len(ids) < len({r["id"] for r in everyone})
    cutoff = datetime.fromisoformat(since)
    assert all(datetime.fromisoformat(r["meta"]["lastUpdated"].replace("Z", "+00:00")) >= cutoff for r in result)


async def test_update_with_current_version_succeeds_and_bumps_the_version(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        created = await client.create(new_patient())
        patient = created.resource
        patient["gender"] = "female"
        updated = await client.update(patient, if_match=created.version_id)
    assert updated.status == 200
    assert updated.version_id == "2"
    assert updated.resource["gender"] == "female"


async def test_update_with_a_stale_version_raises_version_conflict_on_412(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        created = await client.create(new_patient())
        first = dict(created.resource, gender="male")
        await client.update(first, if_match="1")
        stale = dict(created.resource, gender="female")
        with pytest.raises(VersionConflict) as info:
            await client.update(stale, if_match="1")
    assert info.value.status == 412
    assert info.value.action == Action.CONFLICT
    assert not info.value.retryable


async def test_history_lists_every_version_newest_first(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        created = await client.create(new_patient())
        await client.update(dict(created.resource, gender="male"), if_match="1")
        await client.update(dict(created.resource, gender="female"), if_match="2")
        history = await client.history_all("Patient", created.id)
    versions = sorted(int(r["meta"]["versionId"]) for r in history)
    assert versions == [1, 2, 3]
    assert history.duplicates == 0


async def test_delete_of_something_already_gone_is_a_success(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        result = await client.delete("Patient", "never-existed-7", missing_ok=True)
    assert result.status in (200, 204, 404)


async def test_bad_search_parameter_becomes_a_recorded_page_failure_with_diagnostics(sekmet):
    async with FhirClient(sekmet.base_url, retry=FAST) as client:
        pages = [p async for p in client.search_pages("Patient", {"_count": "abc"})]
    assert len(pages) == 1
    failure = pages[0]
    assert isinstance(failure, PageFailure)
    assert isinstance(failure.error, BadRequest)
    assert "_count must be an integer" in failure.reason
    assert client.stats.retries == 0  # a 400 is not worth retrying


async def test_transaction_creates_all_entries_at_once(sekmet):
    tag = uuid.uuid4().hex[:8]
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": new_patient(f"Tx{tag}"),
             "request": {"method": "POST", "url": "Patient"}}
            for _ in range(2)
        ],
    }  # fmt: skip
    async with FhirClient(sekmet.base_url) as client:
        result = await client.transaction(bundle)
        found = await client.search_all("Patient", {"family": f"Tx{tag}"})
    assert [e.status for e in result.entries] == [201, 201]
    assert len(found) == 2


async def test_batch_reports_each_entry_on_its_own(sekmet):
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": new_patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/not-there-99"}},
        ],
    }
    async with FhirClient(sekmet.base_url) as client:
        result = await client.batch(bundle)
    assert result.entries[0].ok
    assert [i for i, _ in result.failed] == [1]
    assert result.failed[0][1].status == 404


async def test_unreachable_base_url_names_the_host_only(closed_port):
    base = f"http://127.0.0.1:{closed_port}/fhir"
    async with FhirClient(base, retry=FAST, auth=StaticToken("secret-token-abc123")) as client:
        with pytest.raises(ServerUnreachable) as info:
            await client.read("Patient", "1")
        with pytest.raises(ServerUnreachable) as discovery:
            await discover(client.http, base)
    for error in (info.value, discovery.value):
        assert f"cannot reach 127.0.0.1:{closed_port}" in error.message
        assert "secret-token-abc123" not in str(error)
        assert error.retryable and error.action == Action.RETRY
    assert client.stats.retries == 1  # connection refused is retried (the request was never sent)


async def test_rate_limit_paces_real_requests(sekmet):
    limit = RateLimit(per_second=20, burst=1)
    async with FhirClient(sekmet.base_url, rate_limit=limit) as client:
        started = time.monotonic()
        for _ in range(8):
            await client.capabilities()
        elapsed = time.monotonic() - started
    assert elapsed >= 7 / 20 - 0.02


def test_sync_wrapper_reads_and_pages_from_a_plain_thread(sekmet):
    with SyncFhirClient(sekmet.base_url) as client:
        created = client.create(new_patient())
        assert client.read("Patient", created.id)["id"] == created.id
        pages = list(client.search_pages("Patient", page_size=5))
        assert all(p.ok for p in pages) and len(pages) >= 3
        assert len(client.search_all("Patient", page_size=50)) >= 12
        assert client.call(lambda c: c.capabilities())["resourceType"] == "CapabilityStatement"


# -- Bulk Data ---------------------------------------------------------------------------------


async def test_patient_level_export_streams_every_patient_and_deletes_the_job(sekmet):
    received: list[tuple[str, dict]] = []
    states: list[dict] = []
    progress: list[str] = []
    async with FhirClient(sekmet.base_url) as client:
        export = BulkExport(
            client,
            level="patient",
            types=["Patient"],
            batch_size=5,
            on_state=states.append,
            on_progress=progress.append,
            poll_interval=0.2,
        )
        result = await export.run(lambda batch: received.extend(batch))
        poll_url = states[0]["poll_url"]
        with pytest.raises(NotFound):
            await client.transport.send("GET", poll_url)  # the export was DELETEd when done
    assert result.complete
    assert result.counts["Patient"] == len(received) >= 12
    assert {t for t, _ in received} == {"Patient"}
    assert result.next_since == result.manifest["transactionTime"]
    assert states[0]["kickoff_time"] and states[-1]["poll_url"] is None
    assert progress  # sekmet reports X-Progress while it works


async def test_export_resumes_from_saved_state_after_a_restart(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        first = BulkExport(client, level="system", types=["Patient", "Encounter"])
        state = await first.kick_off()
    # a new process: new client, only the persisted dict survives
    received: list[tuple[str, dict]] = []
    async with FhirClient(sekmet.base_url) as client:
        resumed = BulkExport.resume(client, state, poll_interval=0.2)
        result = await resumed.run(lambda batch: received.extend(batch))
    assert result.complete
    assert result.counts.get("Patient", 0) >= 12
    assert {t for t, _ in received} <= {"Patient", "Encounter"}


async def test_group_export_posts_parameters_and_reads_only_the_members(sekmet):
    async with FhirClient(sekmet.base_url) as client:
        members = [await client.create(new_patient()) for _ in range(2)]
        group = await client.create(
            {
                "resourceType": "Group",
                "type": "person",
                "actual": True,
                "member": [{"entity": {"reference": f"Patient/{m.id}"}} for m in members],
            }
        )
        received: list[tuple[str, dict]] = []
        export = BulkExport(client, level="group", group_id=group.id, method="POST", poll_interval=0.2)
        result = await export.run(lambda batch: received.extend(batch))
    assert result.complete
    assert {r["id"] for t, r in received if t == "Patient"} == {m.id for m in members}


# -- SMART Backend Services --------------------------------------------------------------------


async def test_backend_token_with_a_key_made_by_sekmet_keys_reads_a_secured_server(sekmet_secured):
    key = sekmet_secured.clients["sekmet-keys-client"]
    async with FhirClient(sekmet_secured.base_url) as client:
        config = await discover(client.http, sekmet_secured.base_url)
        assert config.token_endpoint == sekmet_secured.token_url
        client.transport.auth = backend_token_manager(
            client.http, config, client_id=key.client_id, private_jwk=key.private_jwk, alg="RS384",
            scopes="system/*.read",
        )  # fmt: skip
        result = await client.search_all("Patient")
    assert result.complete
    assert client.transport.auth.token_set.scope == ("system/*.read",)


async def test_backend_token_with_our_own_es384_key(sekmet_secured):
    key = sekmet_secured.clients["holovitals-es384"]
    async with FhirClient(sekmet_secured.base_url) as client:
        config = await discover(client.http, sekmet_secured.base_url)
        tokens = await backend_token(
            client.http, config, client_id=key.client_id, private_jwk=key.private_jwk, alg="ES384",
            scopes=["system/Patient.read", "system/Patient.write"],
        )  # fmt: skip
        client.transport.auth = StaticToken(tokens.access_token)
        created = await client.create(new_patient())
    assert created.status == 201
    assert tokens.expires_in() == pytest.approx(300, abs=5)
    assert tokens.missing_scopes == []


async def test_a_refused_token_is_replaced_once_without_counting_a_retry(sekmet_secured):
    key = sekmet_secured.clients["holovitals-es384"]
    async with FhirClient(sekmet_secured.base_url) as client:
        config = await discover(client.http, sekmet_secured.base_url)
        calls = []

        async def refresher(_current):
            calls.append(1)
            return await backend_token(
                client.http, config, client_id=key.client_id, private_jwk=key.private_jwk, alg="ES384",
                scopes="system/*.read",
            )  # fmt: skip

        # The server restarted, or the clocks disagree: our token looks valid to us but not to it.
        stale = TokenSet(access_token="revoked-token-0123456789", expires_at=time.time() + 3600)
        client.transport.auth = TokenManager(stale, refresher)
        patients = await client.search_all("Patient")
    assert patients.complete
    assert calls == [1]
    assert client.stats.reauthentications == 1
    assert client.stats.retries == 0


async def test_a_token_refused_twice_raises_authentication_required_without_the_token(sekmet_secured):
    async with FhirClient(sekmet_secured.base_url, auth=StaticToken("forged-token-abcdef123")) as client:
        with pytest.raises(AuthenticationRequired) as info:
            await client.read("Patient", "x")
    assert info.value.action == Action.REAUTHENTICATE
    assert "forged-token-abcdef123" not in str(info.value)
    assert "forged-token-abcdef123" not in repr(info.value)


async def test_a_scope_denial_is_policy_denied_and_never_retried(sekmet_secured):
    key = sekmet_secured.clients["patients-only"]
    async with FhirClient(sekmet_secured.base_url) as client:
        config = await discover(client.http, sekmet_secured.base_url)
        client.transport.auth = backend_token_manager(
            client.http, config, client_id=key.client_id, private_jwk=key.private_jwk, alg="ES384",
            scopes="system/Patient.read",
        )  # fmt: skip
        with pytest.raises(PolicyDenied) as info:
            await client.read("Observation", "anything")
    assert info.value.status == 403
    assert client.stats.retries == 0
    assert client.stats.by_status == {403: 1}


async def test_narrower_grant_than_requested_is_exposed_as_missing_scopes(sekmet_secured):
    key = sekmet_secured.clients["patients-only"]
    async with FhirClient(sekmet_secured.base_url) as client:
        config = await discover(client.http, sekmet_secured.base_url)
        tokens = await backend_token(
            client.http, config, client_id=key.client_id, private_jwk=key.private_jwk, alg="ES384",
            scopes="system/Patient.read system/Observation.read",
        )  # fmt: skip
    assert tokens.scope == ("system/Patient.read",)
    assert tokens.missing_scopes == ["system/Observation.read"]


async def test_unknown_client_is_a_token_error_with_the_oauth_code_and_no_assertion(sekmet_secured):
    stranger = {"client_id": "nobody"}
    async with FhirClient(sekmet_secured.base_url) as client:
        config = await discover(client.http, sekmet_secured.base_url)
        key = sekmet_secured.clients["holovitals-es384"]
        with pytest.raises(TokenError) as info:
            await backend_token(
                client.http, config, client_id=stranger["client_id"], private_jwk=key.private_jwk, alg="ES384",
                scopes="system/*.read",
            )  # fmt: skip
    assert info.value.error == "invalid_client"
    assert "eyJ" not in str(info.value)  # no JWT (our assertion) in the message
    assert info.value.action == Action.STOP
