"""Deterministic ids (re-delivery is an idempotent upsert) and the errors that become NAKs."""

from __future__ import annotations

import pytest

from holovitals.hl7v2 import HL7ParseError, build_ack, parse
from holovitals.hl7v2.to_fhir import ConversionError, UnsupportedMessage, convert
from holovitals.hl7v2.to_fhir.ids import make_id

PATIENT_VALUES = ("E1234567", "TESTPATIENT", "ALEX", "19800214", "100 MAIN ST", "999001234")


def _without(text: str, segment: str) -> str:
    return "\r".join(line for line in text.replace("\r\n", "\r").split("\r") if not line.startswith(segment))


# -- ids -----------------------------------------------------------------------------------------


def test_update_for_the_same_patient_gets_the_admit_patient_id(load) -> None:
    admit = convert(load("adt_a01_epic_v251.hl7"))
    update = convert(load("adt_a08_update_nulls_v251.hl7"))
    assert update.patient_id == admit.patient_id
    assert convert(load("adt_a03_discharge_v251.hl7")).patient_id == admit.patient_id


def test_different_patients_never_share_an_id(load) -> None:
    names = [
        "adt_a01_epic_v251.hl7",
        "adt_a01_cerner_v23.hl7",
        "adt_a01_meditech_v24_crlf.hl7",
        "adt_a04_register_v26.hl7",
        "adt_a04_register_v23_lf.hl7",
        "adt_a04_zsegments_v25.hl7",
        "adt_a08_update_v231_escapes.hl7",
        "adt_a08_v28_trailing_delimiters.hl7",
        "adt_a28_add_person_v25.hl7",
        "adt_a31_update_person_v251_utf8.hl7",
        "adt_a01_custom_delimiters_v24.hl7",
    ]
    ids = [convert(load(name)).patient_id for name in names]
    assert len(set(ids)) == len(ids)


def test_redelivery_with_a_new_control_id_keeps_every_id(load) -> None:
    original = convert(load("oru_r01_cbc_v251.hl7"))
    resent = convert(load("oru_r01_cbc_v251.hl7").replace("|LAB-000451|", "|LAB-000999|"))
    assert [r["id"] for r in resent.resources] == [r["id"] for r in original.resources]
    assert resent.resources[0]["meta"]["tag"][0]["code"] == "LAB-000999"


def test_the_same_identifier_from_another_source_is_another_resource(load) -> None:
    text = load("adt_a03_discharge_v251.hl7")
    assert convert(text).patient_id != convert(text, source_system="other-feed").patient_id
    assert (
        convert(text, source_system="feed").patient_id
        == convert(load("adt_a01_epic_v251.hl7"), source_system="feed").patient_id
    )


def test_ids_fit_fhir_and_do_not_show_the_identifier() -> None:
    resource_id = make_id("DocumentReference", "GENHOSP", "GENHOSP", "E1234567")
    assert len(resource_id) <= 64
    assert "E1234567" not in resource_id
    assert make_id("Patient", "a|b", "c") != make_id("Patient", "a", "b|c")


def test_meta_last_updated_is_the_message_time_so_older_messages_lose(load) -> None:
    admit = convert(load("adt_a01_epic_v251.hl7")).resources[0]
    update = convert(load("adt_a08_update_nulls_v251.hl7")).resources[0]
    assert admit["meta"]["lastUpdated"] == "2024-03-15T08:15:30-05:00"
    assert update["meta"]["lastUpdated"] == "2024-03-21T12:00:00-05:00"
    assert admit["meta"]["source"] == "urn:hl7v2:EPIC|GENHOSP"


def test_configured_time_zone_applies_to_timestamps_without_offset(load) -> None:
    result = convert(load("orm_o01_lab_order_v231.hl7"), timezone="America/New_York")
    assert result.resources[0]["meta"]["lastUpdated"] == "2024-01-05T09:00:00-05:00"
    assert not any("UTC offset" in w for w in result.warnings)
    summer = convert(
        load("orm_o01_lab_order_v231.hl7").replace("|20240105090000||ORM", "|20240705090000||ORM"),
        timezone="America/New_York",
    )
    assert summer.resources[0]["meta"]["lastUpdated"] == "2024-07-05T09:00:00-04:00"


# -- errors --------------------------------------------------------------------------------------


def test_unsupported_message_type_is_rejected_with_code_200(load) -> None:
    text = load("adt_a01_epic_v251.hl7").replace("ADT^A01^ADT_A01", "DFT^P03")
    with pytest.raises(UnsupportedMessage) as caught:
        convert(text)
    assert caught.value.code == 200
    assert caught.value.outcome == "reject"
    assert "DFT^P03" in str(caught.value)


def test_unsupported_trigger_is_rejected_with_code_201(load) -> None:
    text = load("adt_a01_epic_v251.hl7").replace("ADT^A01^ADT_A01", "ADT^A60")
    with pytest.raises(UnsupportedMessage) as caught:
        convert(text)
    assert caught.value.code == 201
    assert caught.value.trigger_event == "A60"


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("adt_a01_epic_v251.hl7", "PID"),
        ("adt_a40_merge_v251.hl7", "PID"),
        ("adt_a40_merge_v251.hl7", "MRG"),
        ("adt_a01_epic_v251.hl7", "PV1"),
        ("orm_o01_lab_order_v231.hl7", "PID"),
        ("orm_o01_lab_order_v231.hl7", "ORC"),
        ("oru_r01_cbc_v251.hl7", "PID"),
        ("oru_r01_cbc_v251.hl7", "OBR"),
        ("siu_s12_new_appointment_v24.hl7", "SCH"),
        ("siu_s12_new_appointment_v24.hl7", "PID"),
        ("mdm_t02_text_note_v25.hl7", "PID"),
    ],
)
def test_missing_required_segment_is_a_conversion_error_naming_it(load, name: str, segment: str) -> None:
    with pytest.raises(ConversionError) as caught:
        convert(_without(load(name), segment))
    assert segment in str(caught.value)
    assert caught.value.outcome == "error"
    assert not any(value in str(caught.value) for value in PATIENT_VALUES)


def test_patient_without_any_identifier_is_refused(load) -> None:
    text = load("adt_a03_discharge_v251.hl7").replace("E1234567^^^GENHOSP^MR", "")
    with pytest.raises(ConversionError) as caught:
        convert(text)
    assert str(caught.value) == "required field PID-3 (patient identifier list) missing"


def test_observation_without_a_code_is_refused(load) -> None:
    text = load("oru_r01_cbc_v251.hl7").replace("|6690-2^WBC^LN|", "||")
    with pytest.raises(ConversionError) as caught:
        convert(text)
    assert "OBX-3" in str(caught.value)


def test_message_without_a_date_is_refused(load) -> None:
    text = load("adt_a01_epic_v251.hl7").replace("20240315081530-0500", "")
    with pytest.raises(ConversionError) as caught:
        convert(text)
    assert "MSH-7" in str(caught.value)


@pytest.mark.parametrize("garbage", ["", "hello world", "PID|1||X", "FHS|^~\\&\rBHS|^~\\&"])
def test_text_that_is_no_hl7_message_raises_the_parse_error(garbage: str) -> None:
    with pytest.raises(HL7ParseError):
        convert(garbage)


def test_conversion_errors_become_the_nak(load) -> None:
    text = _without(load("adt_a01_epic_v251.hl7"), "PID")
    with pytest.raises(ConversionError) as caught:
        convert(text)
    ack = build_ack(parse(text), error=caught.value)
    assert ack.get("MSA-1") in ("AE", "CE")
    assert "PID" in (ack.get("ERR-2") or ack.get("ERR-1") or "")


def test_bytes_are_decoded_by_their_character_set(load) -> None:
    text = load("adt_a31_update_person_v251_utf8.hl7")
    assert convert(text.encode("utf-8")).resources == convert(text).resources


def test_bundle_is_identified_by_the_message(load) -> None:
    result = convert(load("oru_r01_cbc_v251.hl7"))
    bundle = result.bundle()
    assert bundle["identifier"]["value"] == "LAB-000451"
    assert bundle["timestamp"] == "2024-03-02T11:00:45-06:00"
    assert "fullUrl" not in bundle["entry"][0]
    assert result.bundle(base_url="https://x.example/fhir/")["entry"][0]["fullUrl"] == (
        f"https://x.example/fhir/Patient/{result.patient_id}"
    )
