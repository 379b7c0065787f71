"""ORM -> ServiceRequest / MedicationRequest and ORU -> DiagnosticReport, Observation, Specimen."""

from __future__ import annotations

import base64

import pytest
from fhir.resources.R4B import get_fhir_model_class

from holovitals.hl7v2.to_fhir import convert

UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _one(result, resource_type: str) -> dict:
    """The one resource of a type in a result, checked against the R4 model on the way."""
    (resource,) = result.by_type(resource_type)
    get_fhir_model_class(resource_type).model_validate(resource)
    return resource


def _by_code(result) -> dict[str, dict]:
    return {o["code"]["coding"][0]["code"]: o for o in result.by_type("Observation")}


# -- ORM -------------------------------------------------------------------------------------------


def test_new_lab_order_is_an_active_service_request(load) -> None:
    result = convert(load("orm_o01_lab_order_v231.hl7"))
    request = _one(result, "ServiceRequest")
    assert request["status"] == "active"
    assert request["intent"] == "order"
    assert request["identifier"][0]["value"] == "PO-1001"
    assert request["identifier"][0]["type"]["coding"][0]["code"] == "PLAC"
    assert request["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "80053",
        "display": "Comprehensive metabolic panel",
    }
    assert request["authoredOn"] == "2024-01-05T09:00:00+00:00"
    assert request["occurrenceDateTime"] == "2024-01-05T09:00:00+00:00"
    assert request["priority"] == "routine"
    assert request["requester"]["display"] == "DEMO DOCTOR"
    assert request["subject"] == {"reference": f"Patient/{result.patient_id}"}
    assert request["note"] == [{"text": "Patient fasting since midnight"}]
    assert request["reasonCode"][0]["coding"][0]["code"] == "E11.9"


def test_cancel_of_an_order_revokes_the_same_request(load) -> None:
    new = _one(convert(load("orm_o01_lab_order_v231.hl7")), "ServiceRequest")
    cancel = _one(convert(load("orm_o01_cancel_v23.hl7")), "ServiceRequest")
    assert cancel["status"] == "revoked"
    assert cancel["id"] == new["id"]
    assert cancel["meta"]["lastUpdated"] > new["meta"]["lastUpdated"]


def test_two_orders_in_one_message_are_two_requests_with_their_own_notes_and_reasons(load) -> None:
    result = convert(load("orm_o01_radiology_two_orders_v25.hl7"))
    chest, abdomen = result.by_type("ServiceRequest")
    assert chest["identifier"][0]["value"] == "RAD-5001"
    assert abdomen["identifier"][0]["value"] == "RAD-5002"
    assert chest["note"] == [{"text": "Rule out pneumonia"}]
    assert "note" not in abdomen
    assert abdomen["reasonCode"][0]["coding"][0]["code"] == "R10.9"
    coverage = _one(result, "Coverage")
    assert chest["insurance"] == [{"reference": f"Coverage/{coverage['id']}"}]
    assert chest["authoredOn"] == "2024-03-10T14:00:00-05:00"


def test_pharmacy_order_is_a_medication_request(load) -> None:
    request = _one(convert(load("orm_o01_pharmacy_rxo_v24.hl7")), "MedicationRequest")
    assert request["medicationCodeableConcept"]["coding"][0]["code"] == "197361"
    assert request["status"] == "active"
    dosage = request["dosageInstruction"][0]
    assert dosage["timing"]["code"]["coding"][0]["code"] == "BID"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 5, "unit": "MG"}
    assert request["note"] == [{"text": "Hold if SBP ^ 100 or HR ^ 60"}]


# -- ORU: reports and observations ---------------------------------------------------------------


def test_cbc_report_references_its_observations_patient_and_specimen(load) -> None:
    result = convert(load("oru_r01_cbc_v251.hl7"))
    report = _one(result, "DiagnosticReport")
    observations = result.by_type("Observation")
    assert report["result"] == [{"reference": f"Observation/{o['id']}"} for o in observations]
    assert report["status"] == "final"
    assert report["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "58410-2",
        "display": "CBC panel - Blood by Automated count",
    }
    assert report["identifier"][0]["value"] == "RL-777"
    assert report["effectiveDateTime"] == "2024-03-02T08:30:00-06:00"
    assert report["issued"] == "2024-03-02T11:00:00-06:00"
    specimen = _one(result, "Specimen")
    assert report["specimen"] == [{"reference": f"Specimen/{specimen['id']}"}]
    assert specimen["type"]["coding"][0]["code"] == "119297000"
    assert specimen["collection"]["collectedDateTime"] == "2024-03-02T08:30:00-06:00"
    for observation in observations:
        assert observation["subject"] == {"reference": f"Patient/{result.patient_id}"}
        assert observation["specimen"] == {"reference": f"Specimen/{specimen['id']}"}


def test_numeric_results_carry_ucum_units_ranges_and_interpretation(load) -> None:
    hemoglobin = _by_code(convert(load("oru_r01_cbc_v251.hl7")))["718-7"]
    assert hemoglobin["valueQuantity"] == {"value": 10.9, "unit": "g/dL", "system": UCUM, "code": "g/dL"}
    assert hemoglobin["referenceRange"][0]["low"]["value"] == 12.0
    assert hemoglobin["referenceRange"][0]["high"] == {"value": 16.0, "unit": "g/dL", "system": UCUM, "code": "g/dL"}
    assert hemoglobin["interpretation"] == [{"coding": [{"system": INTERPRETATION, "code": "L", "display": "Low"}]}]
    assert hemoglobin["status"] == "final"
    assert hemoglobin["note"] == [{"text": "Verified by repeat analysis."}]
    assert hemoglobin["effectiveDateTime"] == "2024-03-02T08:30:00-06:00"


def test_units_without_a_coding_system_are_recognised_as_ucum(load) -> None:
    observations = _by_code(convert(load("oru_r01_chem_two_orders_v23.hl7")))
    assert observations["2345-7"]["valueQuantity"]["system"] == UCUM
    assert observations["2345-7"]["interpretation"][0]["coding"][0]["code"] == "H"


def test_numeric_with_comparator_and_one_sided_ranges(load) -> None:
    observations = _by_code(convert(load("oru_r01_chem_two_orders_v23.hl7")))
    egfr = observations["33914-3"]
    assert egfr["valueQuantity"]["comparator"] == ">"
    assert egfr["valueQuantity"]["value"] == 90
    assert egfr["referenceRange"][0]["low"]["value"] == 60
    assert "high" not in egfr["referenceRange"][0]
    cholesterol = _by_code(convert(load("oru_r01_specimen_v26.hl7")))["2093-3"]
    assert cholesterol["referenceRange"][0]["high"]["value"] == 200
    assert "low" not in cholesterol["referenceRange"][0]


def test_each_obr_is_its_own_report(load) -> None:
    result = convert(load("oru_r01_chem_two_orders_v23.hl7"))
    glucose, creatinine = result.by_type("DiagnosticReport")
    assert len(glucose["result"]) == 1
    assert len(creatinine["result"]) == 2
    assert glucose["basedOn"] != creatinine["basedOn"]


def test_every_obr_of_a_message_gives_its_own_status_and_results_time(load) -> None:
    result = convert(load("oru_r01_chem_two_orders_v23.hl7"))
    assert [(r["status"], r["issued"]) for r in result.by_type("DiagnosticReport")] == [
        ("final", "2024-01-06T11:59:00+00:00"),
        ("final", "2024-01-06T11:59:00+00:00"),
    ]
    assert not any("OBR-25" in warning for warning in result.warnings)


def test_micro_coded_and_structured_numeric_results(load) -> None:
    observations = _by_code(convert(load("oru_r01_micro_v25.hl7")))
    organism = observations["630-4"]["valueCodeableConcept"]["coding"][0]
    assert organism == {"system": "http://snomed.info/sct", "code": "112283007", "display": "Escherichia coli"}
    count = observations["564-5"]
    assert count["valueQuantity"] == {
        "value": 100000,
        "comparator": ">",
        "unit": "{CFU}/mL",
        "system": UCUM,
        "code": "{CFU}/mL",
    }
    assert count["note"] == [{"text": "Susceptibility to follow.\nContact lab with questions."}]


def test_text_results_join_repetitions_and_formatted_text_lines(load) -> None:
    impression, body = convert(load("oru_r01_text_report_v231.hl7")).by_type("Observation")
    assert impression["valueString"] == "No acute cardiopulmonary process.\nHeart size normal."
    assert body["valueString"] == "FINDINGS:\nLungs are clear.\n\nIMPRESSION:\nNormal study."


def test_escape_sequences_are_decoded_in_results(load) -> None:
    comment, symbols = convert(load("oru_r01_hex_escapes_v25.hl7")).by_type("Observation")
    assert comment["valueString"] == "Line one\r\nLine two: café important"
    assert symbols["valueString"] == "A|B ^ C&D ~ E\\F"


def test_embedded_pdf_becomes_the_report_presented_form(load) -> None:
    result = convert(load("oru_r01_pdf_ed_v251.hl7"))
    report = _one(result, "DiagnosticReport")
    assert not result.by_type("Observation")
    (form,) = report["presentedForm"]
    assert form["contentType"] == "application/pdf"
    assert base64.b64decode(form["data"]).startswith(b"%PDF-1.4")
    assert form["title"] == "Pathology report PDF"


def test_specimen_segment_observations_point_at_their_specimen(load) -> None:
    result = convert(load("oru_r01_specimen_v26.hl7"))
    specimen = _one(result, "Specimen")
    quality = _by_code(result)["SPECQUAL"]
    assert quality["specimen"] == {"reference": f"Specimen/{specimen['id']}"}
    assert quality["valueCodeableConcept"]["coding"][0]["code"] == "HEMOLYZED-SLIGHT"
    assert specimen["identifier"][0]["value"] == "SP-1020"


def test_report_is_based_on_a_completed_service_request(load) -> None:
    result = convert(load("oru_r01_cbc_v251.hl7"))
    request = _one(result, "ServiceRequest")
    assert _one(result, "DiagnosticReport")["basedOn"] == [{"reference": f"ServiceRequest/{request['id']}"}]
    assert request["status"] == "completed"
    assert {i["value"] for i in request["identifier"]} == {"PO-1001", "RL-777"}


def test_v28_participants_give_performer_and_requester(load) -> None:
    result = convert(load("oru_r01_v28_participants.hl7"))
    observation = _one(result, "Observation")
    assert observation["performer"][0]["display"] == "TAYLOR TECH"
    assert _one(result, "ServiceRequest")["requester"]["display"] == "CARLA CAREFUL, MD"


def test_two_patients_in_one_message_each_get_their_results(load) -> None:
    result = convert(load("oru_r01_two_patients_v24.hl7"))
    first, second = result.by_type("Patient")
    reports = result.by_type("DiagnosticReport")
    assert [r["subject"]["reference"] for r in reports] == [f"Patient/{first['id']}", f"Patient/{second['id']}"]
    assert result.patient_id == first["id"]
    values = [o["valueQuantity"]["value"] for o in result.by_type("Observation")]
    assert values == [98, 143]


def test_missing_result_status_is_unknown_with_a_warning(load) -> None:
    result = convert(load("oru_r01_hex_escapes_v25.hl7"))
    assert _one(result, "DiagnosticReport")["status"] == "unknown"
    assert any("OBR-25" in w for w in result.warnings)


@pytest.mark.parametrize(("flag", "code"), [("HH", "HH"), ("LL", "LL"), ("A", "A"), ("POS", "POS")])
def test_abnormal_flags_map_to_v3_interpretation(load, flag: str, code: str) -> None:
    text = load("oru_r01_cbc_v251.hl7").replace("|4.0-11.0|N|", f"|4.0-11.0|{flag}|")
    wbc = _by_code(convert(text))["6690-2"]
    assert wbc["interpretation"][0]["coding"][0] == {
        "system": INTERPRETATION,
        "code": code,
        "display": wbc["interpretation"][0]["coding"][0]["display"],
    }


@pytest.mark.parametrize(("obx11", "status"), [("P", "preliminary"), ("C", "corrected"), ("X", "cancelled")])
def test_observation_status_follows_obx_11(load, obx11: str, status: str) -> None:
    text = load("oru_r01_cbc_v251.hl7").replace(
        "|N|||F|||20240302083000-0600\rOBX|2", f"|N|||{obx11}|||20240302083000-0600\rOBX|2"
    )
    assert _by_code(convert(text))["6690-2"]["status"] == status


@pytest.mark.parametrize(("obr25", "status"), [("P", "preliminary"), ("C", "corrected"), ("X", "cancelled")])
def test_report_status_follows_obr_25(load, obr25: str, status: str) -> None:
    text = load("oru_r01_cbc_v251.hl7").replace("20240302110000-0600|||F", f"20240302110000-0600|||{obr25}")
    assert _one(convert(text), "DiagnosticReport")["status"] == status


def test_corrected_result_updates_the_same_report_and_observations(load) -> None:
    final = convert(load("oru_r01_cbc_v251.hl7"))
    corrected = convert(
        load("oru_r01_cbc_v251.hl7")
        .replace("20240302110000-0600|||F", "20240302110000-0600|||C")
        .replace("20240302110045-0600||ORU", "20240302130000-0600||ORU")
    )
    assert [r["id"] for r in corrected.resources] == [r["id"] for r in final.resources]
    assert corrected.resources[0]["meta"]["lastUpdated"] > final.resources[0]["meta"]["lastUpdated"]
