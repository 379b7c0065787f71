"""Full-sync throughput: HoloVitals against a straightforward fhirpy script, same sandbox, same run.

    .venv/bin/python bench/sync_throughput.py [--patients 1000] [--runs 3]

One process tree over loopback: the sandbox EHR runs in its own process (bench/sandbox_serve.py's
server) over a generated population; in this process, in turn and repeated ``--runs`` times:

* ceiling: the sandbox's own serving rate (a lean client that only pages and counts);
* ours: a HoloVitals FULL_SYNC into a fresh SQLite store (planner, paging, validation, the guarded
  batch upsert, checkpoints and the referenced directory resources), with attachment downloads off
  so it does the same work as the fhirpy script; ``ours_with_documents`` is the same sync with
  every DocumentReference/DiagnosticReport attachment downloaded into the file store;
* fhirpy: the way people use fhirpy today, ``for r in client.resources(T).limit(1000)``, storing
  each resource as JSON in SQLite with INSERT OR REPLACE, one commit per type;
* bulk ingest: the same population as NDJSON files through the BULK_SYNC consumer path
  (pipeline + batch upsert) into SQLite.

Resources per second are stored resources over wall time; medians over the runs. The last line is
JSON with ``ours_per_s``, ``fhirpy_per_s``, ``ratio``, ``bulk_ingest_per_s`` and ``ceiling_per_s``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent
TYPES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "AllergyIntolerance",
         "Immunization", "Procedure", "DiagnosticReport", "DocumentReference", "CarePlan")  # fmt: skip
PAGE = 1000
BULK_BATCH = 5000  # what BULK_SYNC hands the pipeline per transaction (holovitals.sync.bulk_sync)


def _sandbox_module():
    spec = importlib.util.spec_from_file_location("sandbox_serve", HERE / "sandbox_serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_sandbox(patients: int, seed: int) -> tuple[subprocess.Popen, str, int]:
    child = subprocess.Popen(
        [sys.executable, str(HERE / "sandbox_serve.py"), "--serve", "--patients", str(patients), "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = child.stdout.readline().split()
    if len(first) != 2:
        child.kill()
        raise SystemExit("the sandbox process did not start")
    url = f"http://127.0.0.1:{first[0]}"
    for _ in range(600):
        try:
            if httpx.get(url + "/fhir/r4/metadata", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return child, url, int(first[1])


def ceiling(url: str, sweep) -> float:
    with httpx.Client(base_url=url, timeout=60) as client:
        counts = client.get("/_sandbox/stats").json()["resources"]
        seen, seconds = sweep(client, counts, PAGE, False)
    return seen / seconds


def ours(url: str, *, documents: bool, concurrency: int) -> tuple[float, int]:
    """A HoloVitals full sync of the sandbox's plain R4 base into a fresh SQLite store."""
    from holovitals.config import load_settings
    from holovitals.context import AppContext
    from holovitals.security.secretbox import Keyring
    from holovitals.store import migrate
    from holovitals.store.db import transaction
    from holovitals.store.models import Connection, Organization
    from holovitals.sync.jobs import JobType, create_job
    from holovitals.sync.tasks import execute_job

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        Keyring.generate().save(home / "keyring.json")
        ctx = AppContext(load_settings(home=home, keyring_file=home / "keyring.json", sync_concurrency=concurrency))
        migrate.upgrade(ctx.engine)
        with transaction(ctx.sessions) as session:
            org = Organization(name="bench", slug="bench")
            session.add(org)
            session.flush()
            conn = Connection(org_id=org.id, name="bench", vendor="generic", base_url=url + "/fhir/r4",
                              status="ACTIVE", sync_settings={"page_size": PAGE, "documents": documents})  # fmt: skip
            session.add(conn)
            session.flush()
            job_id = create_job(session, org_id=org.id, connection_id=conn.id, job_type=JobType.FULL_SYNC).id
        started = time.perf_counter()
        state = execute_job(ctx, None, job_id)
        seconds = time.perf_counter() - started
        if state != "COMPLETED":
            raise SystemExit(f"our sync ended {state}")
        with ctx.engine.connect() as db:
            stored = db.exec_driver_sql("SELECT count(*) FROM resources").scalar_one()
        ctx.close()
    return stored / seconds, stored


def fhirpy_script(url: str) -> tuple[float, int]:
    """What a developer writes with fhirpy: iterate each search, keep every resource in SQLite."""
    from fhirpy import SyncFHIRClient

    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "fhirpy.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE resources (type TEXT, id TEXT, json TEXT, PRIMARY KEY (type, id))")
        client = SyncFHIRClient(url + "/fhir/r4")
        started = time.perf_counter()
        stored = 0
        for rtype in TYPES:
            for resource in client.resources(rtype).limit(PAGE):
                db.execute("INSERT OR REPLACE INTO resources VALUES (?, ?, ?)",
                           (rtype, resource.id, json.dumps(resource.serialize())))  # fmt: skip
                stored += 1
            db.commit()
        seconds = time.perf_counter() - started
        db.close()
    return stored / seconds, stored


def fhirpy_in_fresh_interpreter(url: str) -> tuple[float, int]:
    """The fhirpy script in its own plain interpreter, with none of our process tuning."""
    out = subprocess.run([sys.executable, __file__, "--fhirpy-only", url], capture_output=True, text=True, check=True)
    rate, stored = out.stdout.split()
    return float(rate), int(stored)


def bulk_ingest(patients: int, seed: int) -> tuple[float, int]:
    """NDJSON files (as a $export delivers them) through the BULK_SYNC consumer path into SQLite."""
    from holovitals.sandbox.generator import generate_population, write_ndjson
    from holovitals.store import migrate
    from holovitals.store.db import make_engine, session_factory, transaction
    from holovitals.store.models import Connection, Organization
    from holovitals.sync.pipeline import Pipeline

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ndjson"
        write_ndjson(folder, generate_population(patients, seed))
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bulk.db'}")
        migrate.upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            org = Organization(name="bench", slug="bench")
            session.add(org)
            session.flush()
            conn = Connection(org_id=org.id, name="bulk", vendor="generic", status="ACTIVE")
            session.add(conn)
            session.flush()
            conn_id = conn.id
        pipeline = Pipeline()
        stored = 0
        started = time.perf_counter()
        for path in sorted(folder.glob("*.ndjson")):
            with path.open(encoding="utf-8") as fh:
                lines: list[str] = []
                for line in fh:
                    lines.append(line.rstrip("\n"))
                    if len(lines) == BULK_BATCH:
                        stored += _store(sessions, pipeline, conn_id, lines)
                        lines = []
                if lines:
                    stored += _store(sessions, pipeline, conn_id, lines)
        seconds = time.perf_counter() - started
        engine.dispose()
    return stored / seconds, stored


def _store(sessions, pipeline, conn_id: str, lines: list[str]) -> int:
    """As BULK_SYNC's consumer: parse each line, keep its text, validate, upsert in one transaction."""
    from holovitals.store.db import transaction

    outcome = pipeline.prepare([orjson.loads(line) for line in lines], lines)
    with transaction(sessions) as session:
        pipeline.store(session, conn_id, outcome, source="bench")
    return outcome.result.created + outcome.result.updated + outcome.result.unchanged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=2, help="concurrent searches of our sync")
    ap.add_argument("--fhirpy-only", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fhirpy_only:
        rate, stored = fhirpy_script(args.fhirpy_only)
        print(rate, stored)
        return 0
    sweep = _sandbox_module().sweep
    from holovitals.tuning import tune_for_throughput

    tune_for_throughput()  # as `holovitals worker` and `holovitals sync run` do
    print(f"starting the sandbox with {args.patients} patients ...", file=sys.stderr)
    child, url, loaded = start_sandbox(args.patients, args.seed)
    results: dict[str, list[float]] = {"ceiling": [], "ours": [], "ours_docs": [], "fhirpy": [], "bulk": []}
    counts: dict[str, int] = {}
    try:
        for run in range(1, args.runs + 1):
            results["ceiling"].append(ceiling(url, sweep))
            rate, counts["ours"] = ours(url, documents=False, concurrency=args.concurrency)
            results["ours"].append(rate)
            rate, counts["ours_docs"] = ours(url, documents=True, concurrency=args.concurrency)
            results["ours_docs"].append(rate)
            rate, counts["fhirpy"] = fhirpy_in_fresh_interpreter(url)
            results["fhirpy"].append(rate)
            rate, counts["bulk"] = bulk_ingest(args.patients, args.seed)
            results["bulk"].append(rate)
            print(f"run {run}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in results.items()), file=sys.stderr)
    finally:
        child.terminate()
        child.wait(10)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(json.dumps({
        "ours_per_s": round(med["ours"]),
        "fhirpy_per_s": round(med["fhirpy"]),
        "ratio": round(med["ours"] / med["fhirpy"], 1),
        "bulk_ingest_per_s": round(med["bulk"]),
        "ours_with_documents_per_s": round(med["ours_docs"]),
        "concurrency": args.concurrency,
        "ceiling_per_s": round(med["ceiling"]),
        "patients": args.patients,
        "sandbox_resources": loaded,
        "stored": counts,
        "runs": {k: [round(x) for x in v] for k, v in results.items()},
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
