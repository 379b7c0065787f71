"""Resource upserts per second into the versioned store, on SQLite and PostgreSQL.

    .venv/bin/python bench/store_upsert.py [--resources 100000] [--batch 1000] [--runs 3]

Each run stores N realistic FHIR resources (Patient, Encounter, Observation, Condition,
MedicationRequest) into an empty, migrated database in batches, one transaction per batch, the way
a sync commits pages: building the store record (key, version guard, hash) is part of the timing.
A replay of the same resources (all unchanged) is measured too. Medians over the runs; the last
line is JSON with ``sqlite_per_s`` and ``postgres_per_s``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from holovitals.store import migrate
from holovitals.store.db import make_engine, session_factory, transaction
from holovitals.store.models import Connection, Organization
from holovitals.store.resources import IncomingResource, upsert_resources

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
FAMILIES = ["Nguyen", "Smith", "García", "Okafor", "Müller", "Johansson", "Kowalski", "Haddad", "Tanaka", "Brown"]
GIVEN = ["Ana", "James", "Zoë", "Mohammed", "Li", "Olga", "Pedro", "Grace", "Ravi", "Ingrid"]
LABS = [
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 110),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12, 17.5),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145),
]
CONDITIONS = [
    ("44054006", "Diabetes mellitus type 2", "E11.9"),
    ("38341003", "Hypertensive disorder", "I10"),
    ("195967001", "Asthma", "J45.909"),
    ("55822004", "Hyperlipidemia", "E78.5"),
]


def _instant(rng: random.Random) -> str:
    t = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(1000):03d}Z"


def make_resources(n: int, seed: int = 7) -> list[dict]:
    """A realistic mix: per patient one Patient, two Encounters, eight labs, two Conditions, one MedRequest."""
    rng = random.Random(seed)
    out: list[dict] = []
    p = 0
    while len(out) < n:
        pid = f"pat-{p:06d}"
        meta = lambda: {"versionId": "1", "lastUpdated": _instant(rng)}  # noqa: E731
        out.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "meta": meta(),
                "identifier": [
                    {
                        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                        "system": "http://hospital.example.org/mrn",
                        "value": f"MRN{p:08d}",
                    }
                ],
                "name": [{"use": "official", "family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
                "telecom": [{"system": "phone", "value": f"555-{rng.randrange(1000, 9999)}", "use": "home"}],
                "gender": rng.choice(["male", "female"]),
                "birthDate": f"{rng.randrange(1930, 2020)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
                "address": [
                    {
                        "line": [f"{rng.randrange(1, 999)} Main St"],
                        "city": "Springfield",
                        "state": "MA",
                        "postalCode": "01103",
                        "country": "US",
                    }
                ],
            }
        )
        subject = {"reference": f"Patient/{pid}"}
        for e in range(2):
            out.append(
                {
                    "resourceType": "Encounter",
                    "id": f"enc-{p}-{e}",
                    "meta": meta(),
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "type": [
                        {
                            "coding": [
                                {
                                    "system": "http://snomed.info/sct",
                                    "code": "185349003",
                                    "display": "Encounter for check up",
                                }
                            ]
                        }
                    ],
                    "subject": subject,
                    "period": {"start": _instant(rng), "end": _instant(rng)},
                    "serviceProvider": {"reference": "Organization/org-1"},
                }
            )
        for o in range(8):
            code, display, unit, low, high = rng.choice(LABS)
            out.append(
                {
                    "resourceType": "Observation",
                    "id": f"obs-{p}-{o}",
                    "meta": meta(),
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "laboratory",
                                    "display": "Laboratory",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [{"system": "http://loinc.org", "code": code, "display": display}],
                        "text": display,
                    },
                    "subject": subject,
                    "encounter": {"reference": f"Encounter/enc-{p}-0"},
                    "effectiveDateTime": _instant(rng),
                    "issued": _instant(rng),
                    "valueQuantity": {
                        "value": round(rng.uniform(low * 0.8, high * 1.2), 2),
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                    "referenceRange": [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}],
                }
            )
        for c in range(2):
            snomed, display, icd = rng.choice(CONDITIONS)
            out.append(
                {
                    "resourceType": "Condition",
                    "id": f"cond-{p}-{c}",
                    "meta": meta(),
                    "clinicalStatus": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                    "code": "problem-list-item",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [
                            {"system": "http://snomed.info/sct", "code": snomed, "display": display},
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": icd},
                        ]
                    },
                    "subject": subject,
                    "onsetDateTime": _instant(rng),
                    "recordedDate": _instant(rng),
                }
            )
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"med-{p}",
                "meta": meta(),
                "status": "active",
                "intent": "order",
                "subject": subject,
                "authoredOn": _instant(rng),
                "medicationCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": "860975",
                            "display": "metformin 500 MG Oral Tablet",
                        }
                    ]
                },
                "dosageInstruction": [{"text": "Take 1 tablet by mouth twice daily"}],
            }
        )
        p += 1
    return out[:n]


def run_once(url: str, resources: list[dict], batch: int) -> tuple[float, float]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        org = Organization(name="bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
        session.add(org)
        session.flush()
        conn = Connection(org_id=org.id, name="bench", kind="ehr")
        session.add(conn)
        session.flush()
        conn_id = conn.id

    def store_all() -> float:
        start = time.perf_counter()
        for i in range(0, len(resources), batch):
            items = [IncomingResource.from_dict(r) for r in resources[i : i + batch]]
            with transaction(sessions) as session:
                upsert_resources(session, conn_id, items, source="bench")
        return len(resources) / (time.perf_counter() - start)

    first = store_all()
    replay = store_all()
    engine.dispose()
    return first, replay


def fresh_postgres() -> tuple[str, callable] | None:
    try:
        import psycopg

        name = f"hv_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"PostgreSQL unavailable: {exc}")
        return None

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    resources = make_resources(args.resources)
    size = sum(len(json.dumps(r)) for r in resources[:1000]) / 1000
    print(f"{len(resources)} resources, average {size:.0f} bytes, batches of {args.batch}")
    results: dict[str, list[tuple[float, float]]] = {"sqlite": [], "postgres": []}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"].append(run_once(f"sqlite:///{Path(tmp) / 'bench.db'}", resources, args.batch))
        print(
            f"run {run + 1} sqlite: {results['sqlite'][-1][0]:,.0f}/s insert, {results['sqlite'][-1][1]:,.0f}/s replay"
        )
        pg = fresh_postgres()
        if pg:
            url, drop = pg
            try:
                results["postgres"].append(run_once(url, resources, args.batch))
            finally:
                drop()
            print(
                f"run {run + 1} postgres: {results['postgres'][-1][0]:,.0f}/s insert, "
                f"{results['postgres'][-1][1]:,.0f}/s replay"
            )

    def med(name: str, idx: int) -> float | None:
        values = [r[idx] for r in results[name]]
        return round(statistics.median(values)) if values else None

    print(
        json.dumps(
            {
                "resources": len(resources),
                "batch": args.batch,
                "runs": args.runs,
                "sqlite_per_s": med("sqlite", 0),
                "postgres_per_s": med("postgres", 0),
                "sqlite_replay_per_s": med("sqlite", 1),
                "postgres_replay_per_s": med("postgres", 1),
            }
        )
    )


if __name__ == "__main__":
    main()
