"""The sandbox change feed: seeded edits, creations and deletions, through the store, the API and the CLI."""

from __future__ import annotations

import socket
import time

import httpx
import orjson
import pytest
import typer
from fastapi import FastAPI
from typer.testing import CliRunner

from holovitals.sandbox.bulk import BulkExporter
from holovitals.sandbox.changes import Mutator, changes_router
from holovitals.sandbox.generator import generate_population
from holovitals.sandbox.mutate_cli import mutate
from holovitals.sandbox.store import SandboxStore, parse_instant


def loaded_store(patients: int = 4) -> SandboxStore:
    store = SandboxStore()
    store.load(generate_population(patients, seed=42))
    return store


@pytest.fixture
def store() -> SandboxStore:
    return loaded_store()


@pytest.fixture
def served_store(server, store: SandboxStore) -> tuple[SandboxStore, str]:
    """``store`` behind the admin API, as `holovitals sandbox serve` mounts it."""
    board, root = server
    app = FastAPI()
    app.include_router(changes_router(store))
    board.app = app
    return store, root


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(mutate)
    return app


# ---------------------------------------------------------------------- the mutator


def test_updates_bump_the_version_and_move_last_updated_forward(store):
    before = {(t, r.id): r for t in store.types() for r in store.scan(t)}
    changes = Mutator(store, seed=1).step(40)
    updates = [c for c in changes if c.action == "update"]
    assert updates
    for change in updates:
        new = store.get_version(change.resource_type, change.id, change.version)
        previous = store.get_version(change.resource_type, change.id, change.version - 1)
        assert previous.version >= before[(change.resource_type, change.id)].version
        assert new.last_updated > previous.last_updated
        assert new.body["meta"]["versionId"] == str(change.version)
        assert new.body["meta"]["lastUpdated"] == change.last_updated


def test_all_three_kinds_of_change_happen_on_the_listed_types(store):
    changes = Mutator(store, seed=3).step(60)
    assert {c.action for c in changes} == {"create", "update", "delete"}
    assert {c.resource_type for c in changes if c.action == "create"} <= {"Observation", "Encounter"}
    assert {c.resource_type for c in changes if c.action == "delete"} <= {
        "Observation",
        "Condition",
        "AllergyIntolerance",
    }
    for change in changes:
        if change.action == "create":
            record = store.get(change.resource_type, change.id)
            assert record.version == 1 and record.patient_id == change.patient_id
            assert store.get("Patient", change.patient_id)


def test_deletions_show_up_in_deleted_since(store):
    mark = store.now()
    changes = Mutator(store, seed=5).step(60)
    deleted = {(c.resource_type, c.id) for c in changes if c.action == "delete"}
    assert deleted
    assert {(t.resource_type, t.id) for t in store.deleted_since(mark)} == deleted


def test_the_same_seed_on_the_same_data_makes_the_same_changes():
    first = Mutator(loaded_store(), seed=7).step(30)
    second = Mutator(loaded_store(), seed=7).step(30)
    assert [(c.resource_type, c.id, c.action, c.version, c.detail) for c in first] == [
        (c.resource_type, c.id, c.action, c.version, c.detail) for c in second
    ]
    other = Mutator(loaded_store(), seed=8).step(30)
    assert [(c.resource_type, c.id) for c in other] != [(c.resource_type, c.id) for c in first]


def test_types_restrict_what_is_touched(store):
    changes = Mutator(store, seed=2, types=["Patient"]).step(5)
    assert len(changes) == 5
    assert {(c.resource_type, c.action) for c in changes} == {("Patient", "update")}
    moved = store.get("Patient", changes[0].id).body
    assert moved["address"][0]["city"] and moved["telecom"][0]["system"] == "phone"


def test_an_unmutable_type_is_refused(store):
    with pytest.raises(ValueError, match="Practitioner"):
        Mutator(store, seed=1, types=["Practitioner"])


def test_every_change_reaches_store_listeners(store):
    seen: list[tuple[str, str]] = []
    store.listeners.append(lambda event, record: seen.append((event, record.id)))
    changes = Mutator(store, seed=4).step(25)
    assert seen == [(c.action, c.id) for c in changes]


def test_an_incremental_bulk_export_sees_exactly_the_mutations(server, store, tmp_path):
    board, root = server
    exporter = BulkExporter(store, files_dir=tmp_path)
    board.app = FastAPI()
    board.app.include_router(exporter.router(), prefix="/fhir/r4")
    headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
    with httpx.Client() as client:

        def export(**params) -> dict:
            status_url = client.get(f"{root}/fhir/r4/$export", params=params, headers=headers).headers[
                "Content-Location"
            ]
            while (poll := client.get(status_url)).status_code == 202:
                time.sleep(0.02)
            return poll.json()

        def read(items: list[dict]) -> list[dict]:
            return [orjson.loads(line) for i in items for line in client.get(i["url"]).content.splitlines()]

        first = export()
        changes = Mutator(store, seed=11).step(40)
        second = export(_since=first["transactionTime"])
        deleted = {f"{c.resource_type}/{c.id}" for c in changes if c.action == "delete"}
        alive = {(c.resource_type, c.id) for c in changes} - {tuple(d.split("/")) for d in deleted}
        assert {(r["resourceType"], r["id"]) for r in read(second["output"])} == alive
        assert {e["request"]["url"] for b in read(second["deleted"]) for e in b["entry"]} == deleted
    exporter.close()


# ---------------------------------------------------------------------- the admin API


def test_mutate_api_applies_changes_and_summarises_them(served_store):
    store, root = served_store
    response = httpx.post(f"{root}/_sandbox/mutate", json={"changes": 20, "seed": 7})
    assert response.status_code == 200
    summary = response.json()
    assert summary["applied"] == 20 and summary["seed"] == 7
    assert sum(summary["counts"].values()) == 20 == sum(summary["by_type"].values())
    last = summary["changes"][-1]
    if last["action"] != "delete":
        assert store.get(last["resource_type"], last["id"]).version == last["version"]
    assert parse_instant(last["last_updated"]) <= store.now()


def test_mutate_api_without_seed_steps_through_seeds_0_1_2(served_store):
    _, root = served_store
    seeds = [httpx.post(f"{root}/_sandbox/mutate", json={"changes": 1}).json()["seed"] for _ in range(3)]
    assert seeds == [0, 1, 2]


def test_mutate_api_refuses_bad_bodies(served_store):
    _, root = served_store
    refused = httpx.post(f"{root}/_sandbox/mutate", json={"changes": 3, "types": ["Binary"]})
    assert refused.status_code == 400
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert httpx.post(f"{root}/_sandbox/mutate", json={"changes": 0}).status_code == 422


# ---------------------------------------------------------------------- the CLI


def test_mutate_cli_posts_each_round_and_prints_totals(served_store):
    store, root = served_store
    mark = store.now()
    result = CliRunner().invoke(
        cli_app(), ["--url", root, "--changes", "5", "--rounds", "3", "--interval", "0", "--seed", "9"]
    )
    assert result.exit_code == 0, result.output
    assert "15 changes in 3 round(s)" in result.output
    changed = sum(len(store.scan(t, updated_after=mark)) for t in store.types()) + len(store.deleted_since(mark))
    assert 0 < changed <= 15  # a record touched twice counts once


def test_mutate_cli_reports_an_unreachable_sandbox_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    result = CliRunner().invoke(cli_app(), ["--url", f"http://127.0.0.1:{port}", "--changes", "1"])
    assert result.exit_code == 1
    assert "cannot reach the sandbox" in result.output
    assert "Traceback" not in result.output
