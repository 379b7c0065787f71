"""Every official FHIR R4 example (hl7.fhir.r4.examples@4.0.1, CC0) stores and reads back JSON-equal.

The package is fetched with `npm pack` on first use and cached under tests/.cache (not committed).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from holovitals.config import in_ci
from holovitals.store.db import transaction
from holovitals.store.models import Connection, Resource
from holovitals.store.resources import IncomingResource, upsert_resources

PACKAGE = "hl7.fhir.r4.examples@4.0.1"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "fhir-r4-examples"
EXPECTED_FILES = 5307


def _fetch() -> Path:
    done = CACHE / "package"
    if done.is_dir() and len(list(done.glob("*.json"))) >= EXPECTED_FILES:
        return done
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([npm, "pack", PACKAGE, "--silent"], cwd=CACHE, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"npm pack failed: {proc.stderr.strip()[-300:]}")
    tgz = CACHE / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        tar.extractall(CACHE, filter="data")
    tgz.unlink()
    return done


@pytest.fixture(scope="session")
def examples() -> list[tuple[str, bytes]]:
    try:
        folder = _fetch()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        if in_ci():
            pytest.fail(f"cannot fetch {PACKAGE}: {exc}", pytrace=False)
        pytest.skip(f"cannot fetch {PACKAGE}: {exc}")
    files = sorted(folder.glob("*.json"))
    assert len(files) == EXPECTED_FILES
    return [(f.name, f.read_bytes()) for f in files if f.name != "package.json"]


def test_every_official_r4_example_reads_back_json_equal(ctx, tenant, examples):
    # Two example files share a key (ImplementationGuide/fhir): each copy gets its own connection so
    # both are checked, as two EHRs may well hold the same id.
    by_key: dict[tuple[str, str], list[tuple[str, IncomingResource]]] = defaultdict(list)
    for name, raw in examples:
        item = IncomingResource.from_json(raw)
        by_key[(item.resource_type, item.resource_id)].append((name, item))
    copies = max(len(v) for v in by_key.values())
    with transaction(ctx.sessions) as session:
        conn_ids = []
        for n in range(copies):
            conn = Connection(org_id=tenant.org_id, name=f"examples {n}", kind="file")
            session.add(conn)
            session.flush()
            conn_ids.append(conn.id)
        for n, conn_id in enumerate(conn_ids):
            batch = [entries[n][1] for entries in by_key.values() if len(entries) > n]
            for start in range(0, len(batch), 500):
                result = upsert_resources(session, conn_id, batch[start : start + 500], source="examples")
                assert result.unchanged == 0

    with ctx.sessions() as session:
        stored = {
            (r.connection_id, r.resource_type, r.resource_id): r.body
            for r in session.execute(select(Resource)).scalars()
        }
    raw_by_name = dict(examples)
    mismatched = [
        name
        for key, entries in by_key.items()
        for n, (name, _item) in enumerate(entries)
        if stored.get((conn_ids[n], *key)) != orjson.loads(raw_by_name[name])
    ]
    assert len(stored) == len(examples)
    assert mismatched == []
