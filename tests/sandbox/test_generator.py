"""The synthetic population: valid US Core-shaped FHIR R4, deterministic, and realistic enough to demo."""

from __future__ import annotations

import base64
import hashlib
import importlib
import re
import statistics
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from holovitals.sandbox.generator import (
    DEFAULT_AS_OF,
    directory,
    generate_patient,
    generate_population,
    write_ndjson,
)
from holovitals.sandbox.generator.__main__ import main as cli_main
from holovitals.sandbox.generator.documents import asset_bytes

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture(scope="module")
def population() -> list[dict]:
    return list(generate_population(10, seed=42))


@pytest.fixture(scope="module")
def large_population() -> list[dict]:
    return list(generate_population(200, seed=7))


def of_type(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["resourceType"] == kind]


def codings(concept: dict, system: str) -> list[dict]:
    return [c for c in concept.get("coding", []) if c.get("system") == system]


def references(node: object) -> list[str]:
    """Every Reference.reference (and Attachment.url pointing at a Binary) anywhere in a resource."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            is_binary_url = key == "url" and isinstance(value, str) and value.startswith("Binary/")
            if (key == "reference" and isinstance(value, str)) or is_binary_url:
                found.append(value)
            else:
                found.extend(references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(references(item))
    return found


def serialize(resources: list[dict]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in resources)


# --- validity -----------------------------------------------------------------------------------


def test_every_resource_validates_against_its_fhir_r4b_model(population):
    for resource in population:
        kind = resource["resourceType"]
        model = getattr(importlib.import_module(f"fhir.resources.R4B.{kind.lower()}"), kind)
        model.model_validate(resource)


def test_population_covers_every_resource_type_the_sandbox_serves(population):
    kinds = {r["resourceType"] for r in population}
    assert kinds >= {
        "Patient",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "AllergyIntolerance",
        "Immunization",
        "Procedure",
        "DiagnosticReport",
        "DocumentReference",
        "Binary",
        "CarePlan",
        "Practitioner",
        "Organization",
        "Location",
    }


def test_ids_are_fhir_ids_and_unique_per_type(population):
    seen = Counter((r["resourceType"], r["id"]) for r in population)
    assert all(FHIR_ID.match(r["id"]) for r in population)
    assert max(seen.values()) == 1


def test_every_resource_has_version_one_and_a_last_updated_in_the_two_years_before_as_of(population):
    earliest = DEFAULT_AS_OF - timedelta(days=731)
    for resource in population:
        meta = resource["meta"]
        assert meta["versionId"] == "1"
        assert INSTANT.match(meta["lastUpdated"]), meta["lastUpdated"]
        stamp = datetime.fromisoformat(meta["lastUpdated"])
        assert earliest <= stamp < DEFAULT_AS_OF


def test_last_updated_spreads_over_the_window_for_incremental_sync(large_population):
    months = {r["meta"]["lastUpdated"][:7] for r in large_population}
    assert len(months) >= 20


def test_every_reference_resolves_within_the_population(population):
    present = {f"{r['resourceType']}/{r['id']}" for r in population}
    dangling = [ref for r in population for ref in references(r) if ref not in present]
    assert dangling == []


def test_patient_records_point_at_their_patient(population):
    for patient in of_type(population, "Patient"):
        records = [r for r in population if r["id"].startswith(patient["id"] + "-")]
        assert records
        for record in records:
            if record["resourceType"] == "Binary":
                continue
            owner = record.get("subject") or record.get("patient")
            assert owner == {"reference": f"Patient/{patient['id']}"}, record["resourceType"]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31), index=st.integers(min_value=0, max_value=10**6))
def test_any_patient_only_references_itself_and_the_directory(seed, index):
    resources = generate_patient(index, seed) + directory(seed)
    present = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert all(ref in present for r in resources for ref in references(r))


def test_resources_share_no_mutable_parts(population):
    """Callers (the sandbox store) may edit a resource in place without changing another."""
    seen: set[int] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict | list):
            assert id(node) not in seen
            seen.add(id(node))
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    for resource in population:
        walk(resource)


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_output(population):
    assert serialize(list(generate_population(10, seed=42))) == serialize(population)


def test_different_seed_gives_a_different_population(population):
    other = list(generate_population(10, seed=43))
    assert serialize(other) != serialize(population)
    assert {r["id"] for r in of_type(other, "Patient")}.isdisjoint(r["id"] for r in of_type(population, "Patient"))


def test_patient_n_is_the_same_whatever_the_population_size():
    small = list(generate_population(5, seed=11))
    large = list(generate_population(20, seed=11))
    patient_3 = generate_patient(3, seed=11)
    ids = {r["id"] for r in patient_3}
    assert serialize([r for r in small if r["id"] in ids]) == serialize(patient_3)
    assert serialize([r for r in large if r["id"] in ids]) == serialize(patient_3)


def test_as_of_moves_the_whole_timeline():
    as_of = datetime(2030, 6, 1, tzinfo=UTC)
    resources = generate_patient(0, seed=1, as_of=as_of)
    stamps = [datetime.fromisoformat(r["meta"]["lastUpdated"]) for r in resources]
    assert max(stamps) < as_of
    assert min(stamps) >= as_of - timedelta(days=731)


def test_negative_population_size_is_refused():
    with pytest.raises(ValueError, match="n_patients"):
        list(generate_population(-1))


# --- realism ------------------------------------------------------------------------------------


def test_patients_have_mrn_second_identifier_name_telecom_and_address(population):
    for patient in of_type(population, "Patient"):
        mrn = [i for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "MR"]
        assert len(mrn) == 1 and mrn[0]["system"].startswith("http") and mrn[0]["value"]
        assert any(i["type"]["coding"][0]["code"] in ("SS", "DL") for i in patient["identifier"])
        name = patient["name"][0]
        assert name["family"] and name["given"]
        assert any(t["system"] == "phone" for t in patient["telecom"])
        assert patient["address"][0]["postalCode"]
        assert patient["gender"] in ("male", "female")
        assert 0 <= DEFAULT_AS_OF.year - int(patient["birthDate"][:4]) <= 96


def test_mrns_are_unique_across_the_population(large_population):
    mrns = [
        i["value"]
        for p in of_type(large_population, "Patient")
        for i in p["identifier"]
        if i["type"]["coding"][0]["code"] == "MR"
    ]
    assert len(mrns) == len(set(mrns)) == 200


def test_names_include_non_ascii_spellings(large_population):
    names = [n["family"] + " " + " ".join(n["given"]) for p in of_type(large_population, "Patient") for n in p["name"]]
    assert any(not name.isascii() for name in names)
    assert len({p["name"][0]["family"] for p in of_type(large_population, "Patient")}) > 80


def test_ages_span_infants_to_the_very_old(large_population):
    ages = [DEFAULT_AS_OF.year - int(p["birthDate"][:4]) for p in of_type(large_population, "Patient")]
    assert min(ages) <= 4 and max(ages) >= 80


def test_labs_have_loinc_codes_ucum_quantities_ranges_and_interpretation(population):
    labs = [o for o in of_type(population, "Observation") if o["category"][0]["coding"][0]["code"] == "laboratory"]
    assert labs
    for lab in labs:
        assert codings(lab["code"], LOINC)
        quantity = lab["valueQuantity"]
        assert quantity["system"] == UCUM and quantity["code"] and isinstance(quantity["value"], int | float)
        assert lab["referenceRange"] and lab["interpretation"][0]["coding"][0]["code"] in ("N", "H", "L")
        assert lab["encounter"]["reference"].startswith("Encounter/")


def test_vital_signs_follow_the_us_core_vital_signs_profile(large_population):
    vitals = [
        o for o in of_type(large_population, "Observation") if o["category"][0]["coding"][0]["code"] == "vital-signs"
    ]
    codes = Counter(codings(v["code"], LOINC)[0]["code"] for v in vitals)
    assert set(codes) >= {"8867-4", "85354-9", "29463-7", "8302-2", "39156-5", "8310-5", "9279-1", "59408-5"}
    for v in vitals:
        assert v["category"][0]["coding"][0]["system"] == "http://terminology.hl7.org/CodeSystem/observation-category"
        assert v["effectiveDateTime"]
        if codings(v["code"], LOINC)[0]["code"] == "85354-9":
            parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in v["component"]}
            assert set(parts) == {"8480-6", "8462-4"}
            assert all(q["code"] == "mm[Hg]" for q in parts.values())
            assert parts["8480-6"]["value"] > parts["8462-4"]["value"]
        else:
            assert v["valueQuantity"]["system"] == UCUM


def test_conditions_carry_snomed_and_icd10cm_with_status_and_category(population):
    conditions = of_type(population, "Condition")
    assert conditions
    categories = set()
    for condition in conditions:
        assert codings(condition["code"], SNOMED)
        assert codings(condition["code"], "http://hl7.org/fhir/sid/icd-10-cm")
        assert condition["clinicalStatus"]["coding"][0]["code"] in ("active", "resolved", "inactive", "remission")
        assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
        assert condition["recordedDate"] and condition["onsetDateTime"]
        categories.add(condition["category"][0]["coding"][0]["code"])
        if "abatementDateTime" in condition:
            assert condition["clinicalStatus"]["coding"][0]["code"] != "active"
    assert categories == {"problem-list-item", "encounter-diagnosis"}


def test_lab_reports_are_panels_that_reference_their_observations(large_population):
    by_ref = {f"Observation/{o['id']}": o for o in of_type(large_population, "Observation")}
    reports = of_type(large_population, "DiagnosticReport")
    panels = Counter(r["code"]["coding"][0]["code"] for r in reports)
    assert panels["24323-8"] and panels["58410-2"]
    for report in reports:
        assert report["category"][0]["coding"][0]["code"] == "LAB"
        results = [by_ref[ref["reference"]] for ref in report["result"]]
        assert all(r["encounter"] == report["encounter"] for r in results)
        if report["code"]["coding"][0]["code"] == "24323-8":
            assert len(results) == 14


def test_medication_requests_are_rxnorm_orders_or_plans_with_dosage_text(large_population):
    requests = of_type(large_population, "MedicationRequest")
    assert {r["intent"] for r in requests} == {"order", "plan"}
    for request in requests:
        assert codings(request["medicationCodeableConcept"], "http://www.nlm.nih.gov/research/umls/rxnorm")
        assert request["status"] in ("active", "completed", "stopped")
        assert request["authoredOn"] and request["dosageInstruction"][0]["text"]
        assert request["requester"]["reference"].startswith("Practitioner/")


def test_long_term_medicines_have_one_active_order_at_a_time(large_population):
    active = Counter(
        (r["subject"]["reference"], r["medicationCodeableConcept"]["coding"][0]["code"])
        for r in of_type(large_population, "MedicationRequest")
        if r["status"] == "active" and r.get("dispenseRequest")
    )
    assert active and max(active.values()) == 1


def test_allergies_immunizations_and_procedures_use_their_code_systems(large_population):
    for allergy in of_type(large_population, "AllergyIntolerance"):
        assert allergy["code"]["coding"][0]["system"] in (SNOMED, "http://www.nlm.nih.gov/research/umls/rxnorm")
        assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"
        assert allergy["verificationStatus"]["coding"][0]["code"] in ("confirmed", "unconfirmed")
    for immunization in of_type(large_population, "Immunization"):
        assert codings(immunization["vaccineCode"], "http://hl7.org/fhir/sid/cvx")
        assert immunization["status"] == "completed" and immunization["occurrenceDateTime"]
    for procedure in of_type(large_population, "Procedure"):
        assert codings(procedure["code"], "http://www.ama-assn.org/go/cpt") and codings(procedure["code"], SNOMED)
        assert procedure["performedDateTime"]
    assert any(a.get("reaction") for a in of_type(large_population, "AllergyIntolerance"))


def test_encounters_reference_practitioner_location_and_organization(population):
    for encounter in of_type(population, "Encounter"):
        assert encounter["participant"][0]["individual"]["reference"].startswith("Practitioner/")
        assert encounter["location"][0]["location"]["reference"].startswith("Location/")
        assert encounter["serviceProvider"]["reference"].startswith("Organization/")
        assert encounter["period"]["start"] <= encounter["period"]["end"]


def test_practitioners_have_valid_npis(population):
    def luhn_ok(npi: str) -> bool:
        digits = [int(d) for d in "80840" + npi]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        return total % 10 == 0

    for practitioner in of_type(population, "Practitioner"):
        npi = practitioner["identifier"][0]
        assert npi["system"] == "http://hl7.org/fhir/sid/us-npi"
        assert len(npi["value"]) == 10 and luhn_ok(npi["value"])


def test_care_plans_have_narrative_and_address_a_condition(large_population):
    plans = of_type(large_population, "CarePlan")
    assert plans
    for plan in plans:
        assert plan["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        ET.fromstring(plan["text"]["div"])
        assert plan["addresses"][0]["reference"].startswith("Condition/")
        assert plan["category"][0]["coding"][0]["code"] == "assess-plan"


def test_documents_point_at_binaries_whose_bytes_match_size_and_hash(population):
    binaries = {f"Binary/{b['id']}": b for b in of_type(population, "Binary")}
    kinds = Counter()
    for doc in of_type(population, "DocumentReference"):
        attachment = doc["content"][0]["attachment"]
        binary = binaries[attachment["url"]]
        data = base64.b64decode(binary["data"])
        assert binary["contentType"] == attachment["contentType"]
        assert attachment["size"] == len(data)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
        assert binary["securityContext"]["reference"] == f"DocumentReference/{doc['id']}"
        if attachment["contentType"] == "application/pdf":
            assert data.startswith(b"%PDF-")
        else:
            assert attachment["contentType"] == "application/xml"
            assert doc["content"][0]["format"]["code"] == "urn:hl7-org:sdwg:ccda-structuredBody:2.1"
            assert ET.fromstring(data).tag == "{urn:hl7-org:v3}ClinicalDocument"
        kinds[attachment["contentType"]] += 1
    assert kinds["application/pdf"] >= 10 and kinds["application/xml"] == 10


def test_ccd_carries_the_patients_own_name_even_with_accents(large_population):
    patients = {p["id"]: p for p in of_type(large_population, "Patient")}
    ns = {"cda": "urn:hl7-org:v3"}
    checked_non_ascii = False
    for binary in of_type(large_population, "Binary"):
        if binary["contentType"] != "application/xml":
            continue
        patient = patients[binary["id"].rsplit("-", 1)[0]]
        root = ET.fromstring(base64.b64decode(binary["data"]))
        family = root.find(".//cda:recordTarget//cda:patient/cda:name/cda:family", ns).text
        assert family == patient["name"][0]["family"]
        checked_non_ascii |= not family.isascii()
    assert checked_non_ascii


def test_pdf_asset_is_a_well_formed_single_page_pdf():
    pdf = asset_bytes("visit-summary.pdf")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\s+(\d+)", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref")
    for number, match in enumerate(re.finditer(rb"(\d{10}) 00000 n", pdf), start=1):
        offset = int(match.group(1))
        assert pdf[offset:].startswith(f"{number} 0 obj".encode())
    assert b"/Count 1" in pdf


def test_average_resources_per_patient_is_realistic(large_population):
    patient_resources = len(large_population) - len(directory(7))
    assert 60 <= patient_resources / 200 <= 150


def test_older_patients_have_more_records_than_younger_adults(large_population):
    counts: dict[str, list[int]] = {"adult": [], "senior": []}
    patients = {p["id"]: DEFAULT_AS_OF.year - int(p["birthDate"][:4]) for p in of_type(large_population, "Patient")}
    per_patient = Counter(r["id"].split("-")[0] for r in large_population if r["id"].split("-")[0] in patients)
    for pid, age in patients.items():
        if 18 <= age < 65:
            counts["adult"].append(per_patient[pid])
        elif age >= 65:
            counts["senior"].append(per_patient[pid])
    assert statistics.mean(counts["senior"]) > statistics.mean(counts["adult"])


# --- output -------------------------------------------------------------------------------------


def test_write_ndjson_writes_one_line_per_resource_in_one_file_per_type(tmp_path, population):
    counts = write_ndjson(tmp_path, population)
    assert counts == Counter(r["resourceType"] for r in population)
    for kind, count in counts.items():
        lines = (tmp_path / f"{kind}.ndjson").read_bytes().splitlines()
        assert len(lines) == count
        assert all(orjson.loads(line)["resourceType"] == kind for line in lines)


def test_command_line_writes_a_population(tmp_path, capsys):
    assert cli_main(["--patients", "2", "--seed", "5", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "Patient.ndjson").read_bytes().count(b"\n") == 2
    assert "Patient" in capsys.readouterr().out


def test_nothing_happens_before_birth_or_after_as_of(large_population):
    """Every date and time in a patient's records lies between their birth and as_of."""
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$")
    birth = {p["id"]: p["birthDate"] for p in of_type(large_population, "Patient")}

    def values(node: object):
        if isinstance(node, dict):
            for value in node.values():
                yield from values(value)
        elif isinstance(node, list):
            for item in node:
                yield from values(item)
        elif isinstance(node, str) and stamp.match(node):
            yield node

    as_of = DEFAULT_AS_OF.isoformat()[:19]
    for resource in large_population:
        owner = resource["id"].split("-")[0]
        if owner not in birth:
            continue
        for value in values(resource):
            assert birth[owner] <= value[:19] < as_of, (resource["resourceType"], value)


def test_bmi_agrees_with_weight_and_height_measured_at_the_same_visit(large_population):
    by_visit: dict[str, dict[str, float]] = {}
    for obs in of_type(large_population, "Observation"):
        code = obs["code"]["coding"][0]["code"]
        if code in ("29463-7", "8302-2", "39156-5"):
            by_visit.setdefault(obs["encounter"]["reference"], {})[code] = obs["valueQuantity"]["value"]
    complete = [m for m in by_visit.values() if len(m) == 3]
    assert complete
    for m in complete:
        assert m["39156-5"] == pytest.approx(m["29463-7"] / (m["8302-2"] / 100) ** 2, abs=0.06)
