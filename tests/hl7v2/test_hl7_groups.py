"""Segment groups: what the v2 -> FHIR converter iterates (orders, observations, patients, visits)."""

from __future__ import annotations

from holovitals.hl7v2 import group_message, match_structure, parse


def _names(segments) -> list[str]:
    return [s.name for s in segments]


def test_grouping_keeps_every_segment_of_every_corpus_message_in_order(corpus_text: str) -> None:
    msg = parse(corpus_text)
    tree = group_message(msg)
    assert [id(s) for s in tree.all_segments()] == [id(s) for s in msg]


def test_oru_orders_carry_their_observations_notes_and_specimens(load) -> None:
    tree = group_message(parse(load("oru_r01_cbc_v251.hl7")))
    assert tree.name == "ORU_R01"
    (result,) = tree.groups("PATIENT_RESULT")
    assert result.group("PATIENT").segment("PID").get("3.1") == "E1234567"  # type: ignore[union-attr]
    (order,) = result.groups("ORDER_OBSERVATION")
    assert order.segment("ORC").get(1) == "RE"  # type: ignore[union-attr]
    assert order.segment("OBR").get("4.1") == "58410-2"  # type: ignore[union-attr]
    observations = order.groups("OBSERVATION")
    assert [o.segment("OBX").get("3.2") for o in observations] == [  # type: ignore[union-attr]
        "WBC", "Hemoglobin", "Hematocrit", "Platelets",
    ]
    assert [len(o.segments("NTE")) for o in observations] == [0, 1, 0, 0]
    assert observations[1].segments("NTE")[0].value(3) == "Verified by repeat analysis."
    (specimen,) = order.groups("SPECIMEN")
    assert specimen.segment("SPM").get("4.2") == "Blood specimen"  # type: ignore[union-attr]


def test_oru_with_several_orders_gives_one_group_per_obr(load) -> None:
    tree = group_message(parse(load("oru_r01_chem_two_orders_v23.hl7")))
    orders = tree.find_groups("ORDER_OBSERVATION")
    assert [o.segment("OBR").get("4.2") for o in orders] == ["Glucose", "Creatinine"]  # type: ignore[union-attr]
    assert [len(o.groups("OBSERVATION")) for o in orders] == [1, 2]
    assert tree.find_groups("VISIT")[0].segment("PV1") is not None


def test_oru_for_two_patients_gives_two_patient_results(load) -> None:
    tree = group_message(parse(load("oru_r01_two_patients_v24.hl7")))
    results = tree.groups("PATIENT_RESULT")
    assert [r.group("PATIENT").segment("PID").get("3.1") for r in results] == [  # type: ignore[union-attr]
        "E1234567", "E7654321",
    ]
    assert [r.find_groups("OBSERVATION")[0].segment("OBX").get(5) for r in results] == ["98", "143"]  # type: ignore[union-attr]


def test_observations_about_the_specimen_stay_with_the_specimen(load) -> None:
    order = group_message(parse(load("oru_r01_specimen_v26.hl7"))).find_groups("ORDER_OBSERVATION")[0]
    assert len(order.groups("OBSERVATION")) == 1
    assert order.group("TIMING_QTY").segment("TQ1") is not None  # type: ignore[union-attr]
    assert _names(order.group("SPECIMEN").segments()) == ["SPM", "OBX"]  # type: ignore[union-attr]


def test_orm_orders_each_hold_their_detail(load) -> None:
    tree = group_message(parse(load("orm_o01_radiology_two_orders_v25.hl7")))
    patient = tree.group("PATIENT")
    assert patient is not None
    assert patient.group("PATIENT_VISIT").segment("PV1") is not None  # type: ignore[union-attr]
    assert patient.group("INSURANCE").segment("IN1") is not None  # type: ignore[union-attr]
    orders = tree.groups("ORDER")
    assert [o.segment("ORC").get("2.1") for o in orders] == ["RAD-5001", "RAD-5002"]  # type: ignore[union-attr]
    details = [o.group("ORDER_DETAIL") for o in orders]
    assert [_names(d.segments()) for d in details] == [["OBR", "NTE"], ["OBR", "DG1"]]  # type: ignore[union-attr]


def test_orm_pharmacy_order_detail_starts_with_rxo(load) -> None:
    detail = group_message(parse(load("orm_o01_pharmacy_rxo_v24.hl7"))).find_groups("ORDER_DETAIL")[0]
    assert _names(detail.segments()) == ["RXO", "NTE"]


def test_adt_is_mostly_flat_with_procedure_and_insurance_groups(load) -> None:
    tree = group_message(parse(load("adt_a03_discharge_v251.hl7")))
    assert tree.name == "ADT_A03"
    assert tree.segment("PID") is not None and tree.segment("PV1") is not None
    assert len(tree.segments("DG1")) == 2
    (procedure,) = tree.groups("PROCEDURE")
    assert _names(procedure.segments()) == ["PR1", "ROL"]


def test_adt_merge_groups_each_patient_with_its_mrg(load) -> None:
    tree = group_message(parse(load("adt_a40_merge_two_patients_v23.hl7")))
    patients = tree.groups("PATIENT")
    assert [(p.segment("PID").get("3.1"), p.segment("MRG").get("1.1")) for p in patients] == [  # type: ignore[union-attr]
        ("5550001", "5550999"), ("5550002", "5550998"),
    ]


def test_z_segments_join_the_group_they_follow(load) -> None:
    tree = group_message(parse(load("adt_a04_zsegments_v25.hl7")))
    assert _names(tree.segments()) == ["MSH", "EVN", "PID", "ZPI", "PV1", "ZPV"]
    assert _names(tree.group("INSURANCE").segments()) == ["IN1", "ZIN"]  # type: ignore[union-attr]


def test_siu_resources_are_grouped_by_kind(load) -> None:
    tree = group_message(parse(load("siu_s12_new_appointment_v24.hl7")))
    assert tree.segment("SCH").get("1.1") == "APT-1001"  # type: ignore[union-attr]
    assert tree.group("PATIENT").segment("PV1") is not None  # type: ignore[union-attr]
    (resources,) = tree.groups("RESOURCES")
    assert [g.name for g in resources.groups()] == [
        "SERVICE", "GENERAL_RESOURCE", "LOCATION_RESOURCE", "PERSONNEL_RESOURCE",
    ]
    assert resources.group("PERSONNEL_RESOURCE").segment("AIP").get("3.2") == "DOCTOR"  # type: ignore[union-attr]


def test_siu_reschedule_uses_the_s12_structure(load) -> None:
    tree = group_message(parse(load("siu_s13_reschedule_v251.hl7")))
    assert tree.name == "SIU_S12"
    assert _names(tree.segments()) == ["MSH", "SCH", "TQ1", "NTE"]


def test_mdm_document_text_is_one_observation_per_obx(load) -> None:
    tree = group_message(parse(load("mdm_t02_text_note_v25.hl7")))
    assert tree.segment("TXA").get("12.1") == "DOC-0001"  # type: ignore[union-attr]
    lines = [o.segment("OBX").value(5) for o in tree.groups("OBSERVATION")]  # type: ignore[union-attr]
    assert lines[0] == "Subjective: feels better today."
    assert lines[2] == "Plan: continue current therapy & recheck labs."


def test_mdm_with_an_order_groups_orc_and_obr(load) -> None:
    tree = group_message(parse(load("mdm_t02_pdf_base64_v251.hl7")))
    assert _names(tree.group("COMMON_ORDER").segments()) == ["ORC", "OBR"]  # type: ignore[union-attr]
    obx = tree.group("OBSERVATION").segment("OBX")  # type: ignore[union-attr]
    assert obx.get("5.4") == "Base64" and obx.get("5.5", "").startswith("JVBERi0")  # type: ignore[union-attr]


def test_unknown_message_types_come_back_flat() -> None:
    msg = parse("MSH|^~\\&|A|B|C|D|20240101||DFT^P03|1|P|2.5\rEVN|P03\rPID|1||X1\rFT1|1")
    tree = group_message(msg)
    assert _names(tree.segments()) == ["MSH", "EVN", "PID", "FT1"]
    assert tree.groups() == []


def test_a_misplaced_segment_is_kept_and_grouping_resumes_after_it() -> None:
    msg = parse("\r".join([
        "MSH|^~\\&|L|L|H|H|20240101||ORU^R01|1|P|2.5",
        "PID|1||X1",
        "OBR|1||F1|A^A^L",
        "OBX|1|NM|A^A^L||1",
        "PV1|1|O",
        "OBR|2||F2|B^B^L",
        "OBX|1|NM|B^B^L||2",
    ]))
    tree, issues = match_structure(msg)
    assert [i.code for i in issues] == [100]
    assert str(issues[0].location) == "PV1"
    assert [s.name for s in tree.all_segments()] == [s.name for s in msg]
    assert len(tree.find_groups("ORDER_OBSERVATION")) == 2
