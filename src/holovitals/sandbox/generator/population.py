"""Whole patients and whole populations, and NDJSON output."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import orjson

from .clinical import Chart
from .directory import directory_index, directory_resources
from .documents import write_documents
from .patient import make_person, patient_resource
from .rng import DEFAULT_AS_OF, Clock, patient_key, seeded_rng, to_ms


def directory(seed: int = 42, as_of: datetime | None = None) -> list[dict]:
    """Organizations, Locations and Practitioners shared by every patient of this seed."""
    return directory_resources(seed, to_ms(as_of or DEFAULT_AS_OF))


def generate_patient(index: int, seed: int = 42, as_of: datetime | None = None) -> list[dict]:
    """Every resource of patient `index`: the Patient first, then their records.

    The result depends only on (index, seed, as_of): patient 7 is the same in a population of 10
    or of 10 million, so patients can be generated in any order, in parallel, or one at a time.
    """
    as_of_ms = to_ms(as_of or DEFAULT_AS_OF)
    rng = seeded_rng(seed, "patient", index)
    dir_index = directory_index(seed)
    person = make_person(rng, index, patient_key(seed, index), seed, dir_index, as_of_ms)
    clock = Clock(as_of_ms, rng)
    chart = Chart(person, rng, clock, dir_index)
    chart.plan_problems()
    chart.plan_visits()
    chart.write_problems()
    chart.write_allergies()
    for visit in chart.visits:
        chart.write_visit(visit)
    chart.write_reported_medications()
    chart.write_immunizations()
    chart.write_care_plans()
    write_documents(chart)
    last_seen = chart.visits[-1].end_ms if chart.visits else chart.hist_start
    return [patient_resource(person, rng, clock, last_seen), *chart.out]


def generate_population(n_patients: int, seed: int = 42, as_of: datetime | None = None) -> Iterator[dict]:
    """The directory, then patients 0 .. n_patients-1, each patient's resources together."""
    if n_patients < 0:
        raise ValueError("n_patients must be >= 0")
    yield from directory(seed, as_of)
    for index in range(n_patients):
        yield from generate_patient(index, seed, as_of)


def write_ndjson(folder: str | Path, resources: Iterable[dict]) -> dict[str, int]:
    """Write one `<ResourceType>.ndjson` per type (one resource per line); return counts per type.

    Files of types present in `resources` are replaced; other files in the folder are left alone.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    counts: dict[str, int] = {}
    try:
        for resource in resources:
            kind = resource["resourceType"]
            out = files.get(kind)
            if out is None:
                out = files[kind] = (folder / f"{kind}.ndjson").open("wb")
                counts[kind] = 0
            out.write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))
            counts[kind] += 1
    finally:
        for out in files.values():
            out.close()
    return counts
