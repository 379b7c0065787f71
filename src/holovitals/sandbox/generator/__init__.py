"""Deterministic synthetic US Core R4 records for the sandbox EHR, demos, tests and benchmarks.

Public API::

    generate_population(n_patients: int, seed: int = 42, as_of: datetime | None = None) -> Iterator[dict]
        The shared directory (Organization, Location, Practitioner), then every resource of
        patients 0 .. n_patients-1, patient by patient (the Patient first).
    generate_patient(index: int, seed: int = 42, as_of: datetime | None = None) -> list[dict]
        One patient's resources. Depends only on (index, seed, as_of), never on the population
        size, so patients can be made independently or in parallel.
    directory(seed: int = 42, as_of: datetime | None = None) -> list[dict]
        The directory resources alone.
    write_ndjson(folder: str | Path, resources: Iterable[dict]) -> dict[str, int]
        One `<ResourceType>.ndjson` per type; returns counts. `holovitals.sandbox.loader.load_dir`
        reads the folder back.

Per patient: Patient, Encounter, Condition (problem list and encounter diagnoses, SNOMED CT +
ICD-10-CM), Observation (laboratory with LOINC/UCUM, reference ranges and interpretation; US
Core vital signs; smoking status), DiagnosticReport (lab panels whose `result` lists the
Observations), MedicationRequest (RxNorm), AllergyIntolerance, Immunization (CVX), Procedure
(CPT + SNOMED CT), CarePlan, and DocumentReference + Binary pairs (a PDF note and a C-CDA CCD,
with attachment size and SHA-1 hash). About 60-150 resources per patient, more for older and
sicker people.

Resources are plain JSON-ready dicts, built fresh for every call (no shared sub-objects).
Every resource has an `id` ([A-Za-z0-9-.], stable for a seed), `meta.versionId` "1" and a
`meta.lastUpdated` instant within the two years before `as_of` (default
`DEFAULT_AS_OF`, fixed so output never changes with the calendar). References are `Type/id`
and all resolve inside the population. Data are synthetic; codes are real.

From the command line::

    python -m holovitals.sandbox.generator --patients 1000 --seed 42 --out sandbox-data/
"""

from .population import directory, generate_patient, generate_population, write_ndjson
from .rng import DEFAULT_AS_OF

__all__ = ["DEFAULT_AS_OF", "directory", "generate_patient", "generate_population", "write_ndjson"]
