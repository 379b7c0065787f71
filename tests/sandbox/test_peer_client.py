"""A FHIR client nobody here wrote (fhirpy) reads from the sandbox: proof it speaks FHIR, not just our dialect."""

from __future__ import annotations

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOperationOutcome
from fhirpy.base.exceptions import ResourceNotFound


def fhirpy_client(box, key: str = "plain") -> SyncFHIRClient:
    return SyncFHIRClient(box.base(key), requests_config={"timeout": 10})


def is_lab(resource: dict) -> bool:
    return any(c["code"] == "laboratory" for concept in resource.get("category", []) for c in concept["coding"])


def test_fhirpy_reads_every_patient_through_paging(sandbox):
    client = fhirpy_client(sandbox)
    patients = client.resources("Patient").limit(2).fetch_all()
    assert sorted(p.id for p in patients) == sorted(sandbox.patients)
    assert all(p.resourceType == "Patient" and p.get("birthDate") for p in patients)


def test_fhirpy_reads_one_patient_by_reference(sandbox):
    client = fhirpy_client(sandbox)
    patient = client.reference("Patient", sandbox.patients[0]).to_resource()
    assert patient.id == sandbox.patients[0]
    assert patient["meta"]["versionId"] == "1"


def test_fhirpy_searches_and_counts_observations(sandbox):
    client = fhirpy_client(sandbox)
    patient = sandbox.patients[0]
    search = client.resources("Observation").search(patient=patient, category="laboratory")
    expected = [r for r in sandbox.store.scan("Observation", patient=patient) if is_lab(r.body)]
    assert search.count() == len(expected)
    labs = search.limit(10).fetch_all()
    assert sorted(o.id for o in labs) == sorted(r.id for r in expected)


def test_fhirpy_follows_a_vendor_cursor(sandbox):
    client = fhirpy_client(sandbox, "athena")
    search = client.resources("Condition").search(**{"ah-practice": "195900"}).limit(5)
    assert sorted(c.id for c in search.fetch_all()) == sorted(r.id for r in sandbox.store.scan("Condition"))


def test_fhirpy_sees_missing_resources_and_vendor_refusals(sandbox):
    client = fhirpy_client(sandbox)
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", "nobody").to_resource()
    epic = fhirpy_client(sandbox, "epic")
    with pytest.raises(FhirpyOperationOutcome):
        epic.resources("Observation").search(patient=sandbox.patients[0]).fetch()


def test_fhirpy_creates_and_updates_a_resource(sandbox):
    client = fhirpy_client(sandbox)
    patient = client.resource("Patient", name=[{"family": "Okafor", "given": ["Ada"]}], gender="female")
    patient.save()
    assert patient.id and patient["meta"]["versionId"] == "1"
    patient["birthDate"] = "1980-02-03"
    patient.save()
    assert patient["meta"]["versionId"] == "2"
    assert sandbox.store.get("Patient", patient.id).body["birthDate"] == "1980-02-03"
