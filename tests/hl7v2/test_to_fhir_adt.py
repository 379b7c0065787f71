"""ADT -> Patient, Encounter and the record around them, asserted on realistic corpus messages."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from holovitals.hl7v2.to_fhir import convert
from holovitals.hl7v2.to_fhir.tables import V3_ACT_CODE

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _one(result, resource_type: str) -> dict:
    """The one resource of a type in a result, checked against the R4 model on the way."""
    (resource,) = result.by_type(resource_type)
    get_fhir_model_class(resource_type).model_validate(resource)
    return resource


def _type_codes(identifier: dict) -> list[str]:
    return [c["code"] for c in identifier.get("type", {}).get("coding", [])]


# -- Patient -------------------------------------------------------------------------------------


def test_epic_admit_maps_identifiers_with_their_assigning_authorities(load) -> None:
    patient = _one(convert(load("adt_a01_epic_v251.hl7")), "Patient")
    by_value = {i["value"]: i for i in patient["identifier"]}
    assert by_value["E1234567"]["system"] == "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"
    assert _type_codes(by_value["E1234567"]) == ["MR"]
    assert by_value["E1234567"]["type"]["coding"][0]["system"] == V2_0203
    assert by_value["999001234"]["system"] == "http://hl7.org/fhir/sid/us-ssn"
    assert by_value["MRN778899"]["system"] == "urn:holovitals:hl7v2:authority:LABSYS"
    assert _type_codes(by_value["MRN778899"]) == ["PI"]


def test_configured_identifier_systems_win_over_the_namespace_urn(load) -> None:
    result = convert(load("adt_a03_discharge_v251.hl7"), identifier_systems={"GENHOSP": "urn:oid:1.2.3.4"})
    (mrn,) = _one(result, "Patient")["identifier"]
    assert mrn["system"] == "urn:oid:1.2.3.4"


def test_epic_admit_maps_names_birth_date_gender_address_and_telecom(load) -> None:
    patient = _one(convert(load("adt_a01_epic_v251.hl7")), "Patient")
    assert patient["name"] == [
        {"use": "official", "family": "TESTPATIENT", "given": ["ALEX", "QUINN"]},
        {"use": "nickname", "family": "TESTY", "given": ["AL"]},
    ]
    assert patient["birthDate"] == "1980-02-14"
    assert patient["gender"] == "female"
    home, postal = patient["address"]
    assert home == {
        "use": "home",
        "line": ["100 MAIN ST", "APT 4B"],
        "city": "SPRINGFIELD",
        "state": "IL",
        "postalCode": "62701",
        "country": "USA",
    }
    assert postal["type"] == "postal" and postal["line"] == ["PO BOX 12"]
    assert patient["telecom"] == [
        {"system": "phone", "value": "+1 (217) 555-0101", "use": "home"},
        {"system": "email", "value": "alex.testpatient@example.org", "use": "home"},
        {"system": "phone", "value": "+1 (217) 555-0199", "use": "work"},
    ]


def test_epic_admit_maps_marital_status_language_race_and_ethnicity(load) -> None:
    patient = _one(convert(load("adt_a01_epic_v251.hl7")), "Patient")
    assert patient["maritalStatus"]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}
    ]
    assert patient["communication"][0]["language"]["coding"][0] == {
        "system": "urn:ietf:bcp:47",
        "code": "en",
        "display": "English",
    }
    race, ethnicity = patient["extension"]
    assert race["url"].endswith("us-core-race")
    assert race["extension"][0] == {
        "url": "ombCategory",
        "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"},
    }
    assert ethnicity["extension"][0]["valueCoding"]["code"] == "2186-5"


def test_primary_care_provider_becomes_general_practitioner(load) -> None:
    result = convert(load("adt_a01_epic_v251.hl7"))
    patient = _one(result, "Patient")
    refs = [g["reference"] for g in patient["generalPractitioner"]]
    practitioner = next(p for p in result.by_type("Practitioner") if f"Practitioner/{p['id']}" in refs)
    assert practitioner["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"}]
    assert practitioner["name"] == [{"family": "CAREFUL", "given": ["CARLA"], "suffix": ["MD"]}]


def test_escaped_delimiters_come_out_as_text(load) -> None:
    patient = _one(convert(load("adt_a08_update_v231_escapes.hl7")), "Patient")
    assert patient["name"][0]["given"] == ["PAT", "& JR"]
    assert patient["address"][0]["line"] == ["SUITE 5|6 SMITH & JONES BLDG"]


def test_custom_delimiters_are_read_like_the_standard_ones(load) -> None:
    patient = _one(convert(load("adt_a01_custom_delimiters_v24.hl7")), "Patient")
    assert [i["value"] for i in patient["identifier"]] == ["L0001", "L0002"]
    assert patient["identifier"][0]["system"] == "urn:oid:1.2.3"
    assert patient["name"][0]["family"] == "SAMPLE"
    assert patient["birthDate"] == "1960-02-29"
    assert patient["address"][0]["line"] == ["5 ROAD $ LANE"]


def test_utf8_names_and_addresses_survive(load) -> None:
    patient = _one(convert(load("adt_a31_update_person_v251_utf8.hl7")), "Patient")
    assert patient["name"][0] == {"use": "official", "family": "MÜLLER-TESTÉ", "given": ["JÜRGEN", "ÑOÑO"]}
    assert patient["name"][1]["family"] == "测试"
    assert patient["address"][0]["city"] == "MÜNCHEN"


def test_nulled_fields_are_left_out(load) -> None:
    patient = _one(convert(load("adt_a08_update_nulls_v251.hl7")), "Patient")
    assert "telecom" not in patient
    assert "deceasedDateTime" not in patient and "deceasedBoolean" not in patient


# -- Encounter -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "class_code"),
    [
        ("adt_a01_epic_v251.hl7", "in-progress", "IMP"),
        ("adt_a02_transfer_v24.hl7", "in-progress", "IMP"),
        ("adt_a03_discharge_v251.hl7", "finished", "IMP"),
        ("adt_a04_register_v26.hl7", "in-progress", "AMB"),
        ("adt_a08_update_v231_escapes.hl7", "in-progress", "AMB"),
        ("adt_a11_cancel_admit_v25.hl7", "cancelled", "IMP"),
        ("adt_a13_cancel_discharge_v251.hl7", "in-progress", "IMP"),
        ("adt_a01_cerner_v23.hl7", "in-progress", "IMP"),
    ],
)
def test_encounter_status_follows_the_trigger_and_class_follows_pv1_2(load, name, status, class_code) -> None:
    encounter = _one(convert(load(name)), "Encounter")
    assert encounter["status"] == status
    assert encounter["class"]["system"] == V3_ACT_CODE
    assert encounter["class"]["code"] == class_code


def test_emergency_patient_class_is_emer(load) -> None:
    text = (
        load("adt_a03_discharge_v251.hl7").replace("PV1|1|I|", "PV1|1|E|").replace("ADT^A03^ADT_A03", "ADT^A01^ADT_A01")
    )
    assert _one(convert(text), "Encounter")["class"]["code"] == "EMER"


def test_admit_maps_visit_number_location_attending_and_reason(load) -> None:
    result = convert(load("adt_a01_epic_v251.hl7"))
    encounter = _one(result, "Encounter")
    assert encounter["identifier"][0]["value"] == "V000123456"
    assert _type_codes(encounter["identifier"][0]) == ["VN"]
    assert encounter["period"] == {"start": "2024-03-15T08:10:00-05:00"}
    assert encounter["location"][0]["status"] == "active"
    assert encounter["location"][0]["location"]["display"] == "4WEST 412 A"
    attender = next(p for p in encounter["participant"] if p["type"][0]["coding"][0]["code"] == "ATND")
    assert attender["individual"]["display"] == "CARLA CAREFUL, MD"
    assert encounter["reasonCode"][0]["coding"][0]["code"] == "R07.9"
    assert encounter["subject"]["reference"] == f"Patient/{result.patient_id}"


def test_discharge_maps_the_period_and_disposition(load) -> None:
    encounter = _one(convert(load("adt_a03_discharge_v251.hl7")), "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["period"] == {"start": "2024-03-15T08:10:00-05:00", "end": "2024-03-18T15:30:00-05:00"}
    disposition = encounter["hospitalization"]["dischargeDisposition"]["coding"][0]
    assert disposition == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0112",
        "code": "01",
        "display": "Discharged to home",
    }
    assert encounter["location"][0]["status"] == "completed"


def test_cancel_discharge_drops_the_end_it_cancels(load) -> None:
    text = (
        load("adt_a03_discharge_v251.hl7").replace("ADT^A03^ADT_A03", "ADT^A13^ADT_A01").replace("EVN|A03", "EVN|A13")
    )
    encounter = _one(convert(text), "Encounter")
    assert encounter["status"] == "in-progress"
    assert encounter["period"] == {"start": "2024-03-15T08:10:00-05:00"}


def test_cerner_admit_reads_the_fin_as_visit_number_and_the_admit_time(load) -> None:
    result = convert(load("adt_a01_cerner_v23.hl7"))
    encounter = _one(result, "Encounter")
    (visit,) = encounter["identifier"]
    assert (visit["value"], visit["system"], _type_codes(visit)) == (
        "88877766",
        "urn:holovitals:hl7v2:authority:FIN",
        ["VN"],
    )
    assert encounter["period"] == {"start": "2024-03-01T09:25:00+00:00"}
    assert not any("PV1-45" in warning for warning in result.warnings)


def test_transfer_keeps_the_prior_location_as_completed(load) -> None:
    encounter = _one(convert(load("adt_a02_transfer_v24.hl7")), "Encounter")
    assert [(loc["location"]["display"], loc["status"]) for loc in encounter["location"]] == [
        ("ICU 01 A", "active"),
        ("MED 210 B", "completed"),
    ]


def test_admit_discharge_and_update_of_one_visit_are_one_encounter(load) -> None:
    ids = {
        _one(convert(load(name)), "Encounter")["id"]
        for name in ("adt_a01_epic_v251.hl7", "adt_a03_discharge_v251.hl7", "adt_a13_cancel_discharge_v251.hl7")
    }
    assert len(ids) == 1


@pytest.mark.parametrize("name", ["adt_a28_add_person_v25.hl7", "adt_a31_update_person_v251_utf8.hl7"])
def test_person_events_write_no_encounter(load, name: str) -> None:
    result = convert(load(name))
    assert not result.by_type("Encounter")
    assert result.by_type("Patient")


# -- the rest of the record ------------------------------------------------------------------------


def test_next_of_kin_becomes_a_related_person(load) -> None:
    result = convert(load("adt_a01_epic_v251.hl7"))
    person = _one(result, "RelatedPerson")
    assert person["patient"] == {"reference": f"Patient/{result.patient_id}"}
    assert person["name"] == [{"family": "TESTPATIENT", "given": ["JORDAN"]}]
    assert person["relationship"][0]["coding"][0]["code"] == "SPS"
    assert person["telecom"][0]["value"] == "+1 (217) 555-0102"


def test_allergy_maps_code_category_criticality_and_reactions(load) -> None:
    allergy = _one(convert(load("adt_a01_epic_v251.hl7")), "AllergyIntolerance")
    assert allergy["code"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "70618",
        "display": "Penicillin",
    }
    assert allergy["category"] == ["medication"]
    assert allergy["criticality"] == "high"
    assert allergy["reaction"] == [{"manifestation": [{"text": "Hives"}, {"text": "Wheezing"}], "severity": "severe"}]
    assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"


def test_diagnoses_become_encounter_conditions(load) -> None:
    result = convert(load("adt_a03_discharge_v251.hl7"))
    conditions = result.by_type("Condition")
    assert [c["code"]["coding"][0]["code"] for c in conditions] == ["I20.9", "E11.9"]
    encounter = _one(result, "Encounter")
    for condition in conditions:
        assert condition["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
        assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
        assert condition["encounter"] == {"reference": f"Encounter/{encounter['id']}"}


def test_procedure_maps_cpt_code_and_time(load) -> None:
    procedure = _one(convert(load("adt_a03_discharge_v251.hl7")), "Procedure")
    assert procedure["code"]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"
    assert procedure["performedDateTime"] == "2024-03-16T11:00:00-05:00"
    assert procedure["status"] == "completed"


def test_insurance_becomes_coverage(load) -> None:
    result = convert(load("adt_a01_epic_v251.hl7"))
    coverage = _one(result, "Coverage")
    assert coverage["beneficiary"] == {"reference": f"Patient/{result.patient_id}"}
    assert coverage["payor"][0]["display"] == "BLUE CROSS TEST PLAN"
    assert coverage["payor"][0]["identifier"]["value"] == "60054"
    assert coverage["class"][0]["value"] == "BCBS-PPO"


def test_adt_vitals_become_vital_sign_observations(load) -> None:
    height, weight = convert(load("adt_a01_epic_v251.hl7")).by_type("Observation")
    assert height["valueQuantity"] == {"value": 170, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}
    assert weight["valueQuantity"]["value"] == 72.5
    assert height["category"][0]["coding"][0]["code"] == "vital-signs"


# -- A40 merge -------------------------------------------------------------------------------------


def test_merge_links_survivor_and_merged_patient_both_ways(load) -> None:
    result = convert(load("adt_a40_merge_v251.hl7"))
    survivor, merged = result.by_type("Patient")
    assert result.patient_id == survivor["id"]
    assert survivor["link"] == [{"other": {"reference": f"Patient/{merged['id']}"}, "type": "replaces"}]
    assert merged["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    assert merged["active"] is False
    assert merged["identifier"][0]["value"] == "E1239999"


def test_merged_patient_id_is_the_id_its_own_messages_gave_it(load) -> None:
    result = convert(load("adt_a40_merge_v251.hl7"))
    merged = result.by_type("Patient")[1]
    earlier = load("adt_a08_update_nulls_v251.hl7").replace("E1234567^^^GENHOSP^MR", "E1239999^^^GENHOSP^MR")
    assert convert(earlier).patient_id == merged["id"]


def test_merge_message_with_two_patient_groups_merges_each(load) -> None:
    patients = convert(load("adt_a40_merge_two_patients_v23.hl7")).by_type("Patient")
    assert [p.get("active") for p in patients] == [True, False, True, False]
    assert [p["identifier"][0]["value"] for p in patients] == ["5550001", "5550999", "5550002", "5550998"]


# -- IAM (v2.6+ allergies) -------------------------------------------------------------------------

IAM_UPDATE = "\r".join(
    [
        "MSH|^~\\&|EPIC|GENHOSP|HOLOVITALS|HVS|20240601100000-0500||ADT^A08^ADT_A01|3000001|P|2.6",
        "EVN||20240601100000-0500",
        "PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
        "PV1|1|O",
        "IAM|1|DA^Drug allergy^HL70127|70618^Penicillin^RXNORM|MO^Moderate^HL70128|39579001^Anaphylaxis^SCT|A|"
        "ALG-77^EPIC||||20100101||20240601090000-0500||||C^Confirmed^HL70438",
    ]
)


def test_iam_allergy_keeps_its_identifier_status_and_reaction() -> None:
    allergy = _one(convert(IAM_UPDATE), "AllergyIntolerance")
    assert allergy["identifier"][0]["value"] == "ALG-77"
    assert allergy["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert allergy["criticality"] == "low"
    assert allergy["onsetDateTime"] == "2010-01-01"
    assert allergy["recordedDate"] == "2024-06-01T09:00:00-05:00"
    assert allergy["reaction"][0]["manifestation"][0]["coding"][0]["code"] == "39579001"
    assert allergy["reaction"][0]["severity"] == "moderate"


def test_iam_delete_marks_the_same_allergy_entered_in_error() -> None:
    added = _one(convert(IAM_UPDATE), "AllergyIntolerance")
    deleted = _one(convert(IAM_UPDATE.replace("^SCT|A|ALG-77", "^SCT|D|ALG-77")), "AllergyIntolerance")
    assert deleted["id"] == added["id"]
    assert deleted["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in deleted


def test_merge_survivor_is_the_patient_the_admit_created(load) -> None:
    admit = convert(load("adt_a01_cerner_v23.hl7"))
    merge = convert(load("adt_a40_merge_two_patients_v23.hl7"))
    assert merge.patient_id == admit.patient_id
