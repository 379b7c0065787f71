"""SIU -> Appointment and MDM -> DocumentReference, asserted on the corpus messages."""

from __future__ import annotations

import base64

import pytest
from fhir.resources.R4B import get_fhir_model_class

from holovitals.hl7v2.to_fhir import ConversionError, convert


def _one(result, resource_type: str) -> dict:
    """The one resource of a type in a result, checked against the R4 model on the way."""
    (resource,) = result.by_type(resource_type)
    get_fhir_model_class(resource_type).model_validate(resource)
    return resource


# -- SIU -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("siu_s12_new_appointment_v24.hl7", "booked"),
        ("siu_s13_reschedule_v251.hl7", "booked"),
        ("siu_s14_modify_v23.hl7", "booked"),
        ("siu_s15_cancel_v25.hl7", "cancelled"),
    ],
)
def test_appointment_status_follows_the_trigger(load, name: str, status: str) -> None:
    assert _one(convert(load(name)), "Appointment")["status"] == status


def test_new_appointment_maps_time_service_and_participants(load) -> None:
    result = convert(load("siu_s12_new_appointment_v24.hl7"))
    appointment = _one(result, "Appointment")
    assert appointment["start"] == "2024-01-15T09:30:00+00:00"
    assert appointment["end"] == "2024-01-15T10:00:00+00:00"
    assert appointment["minutesDuration"] == 30
    assert appointment["serviceType"][0]["coding"][0]["code"] == "99213"
    assert appointment["appointmentType"]["coding"][0]["code"] == "ROUTINE"
    assert appointment["comment"] == "Patient requests morning slot"
    assert [i["value"] for i in appointment["identifier"]] == ["APT-1001", "APT-1001"]
    actors = [p["actor"] for p in appointment["participant"]]
    assert actors[0] == {"reference": f"Patient/{result.patient_id}"}
    kinds = {a.get("reference", "display").split("/")[0] for a in actors}
    assert kinds == {"Patient", "Practitioner", "Location", "display"}
    assert all(p["status"] == "accepted" for p in appointment["participant"])
    practitioner = next(p for p in appointment["participant"] if p["actor"].get("display") == "DEMO DOCTOR")
    assert practitioner["type"][0]["coding"][0]["code"] == "ATT"


def test_reschedule_takes_the_new_time_from_tq1(load) -> None:
    appointment = _one(convert(load("siu_s13_reschedule_v251.hl7")), "Appointment")
    assert appointment["start"] == "2024-01-20T14:00:00-05:00"
    assert appointment["end"] == "2024-01-20T14:20:00-05:00"
    assert appointment["comment"] == "Rescheduled at patient request"


def test_booking_modification_and_cancel_of_one_appointment_share_its_id(load) -> None:
    ids = {
        _one(convert(load(name)), "Appointment")["id"] for name in ("siu_s14_modify_v23.hl7", "siu_s15_cancel_v25.hl7")
    }
    assert len(ids) == 1


def test_modification_moves_the_location(load) -> None:
    appointment = _one(convert(load("siu_s14_modify_v23.hl7")), "Appointment")
    assert appointment["end"] == "2024-01-15T10:15:00+00:00"
    assert appointment["participant"][1]["actor"]["display"] == "CLINIC B"


def test_cancelled_appointment_needs_no_time(load) -> None:
    appointment = _one(convert(load("siu_s15_cancel_v25.hl7")), "Appointment")
    assert "start" not in appointment and "end" not in appointment


def test_booked_appointment_without_any_time_is_refused(load) -> None:
    text = load("siu_s14_modify_v23.hl7").replace("|^^45^20240115093000^20240115101500", "|")
    with pytest.raises(ConversionError) as caught:
        convert(text)
    assert "SCH-11" in str(caught.value)


def test_start_plus_duration_gives_the_end(load) -> None:
    text = load("siu_s14_modify_v23.hl7").replace("^20240115093000^20240115101500", "^20240115093000")
    appointment = _one(convert(text), "Appointment")
    assert appointment["end"] == "2024-01-15T10:15:00+00:00"


def test_deleted_resource_is_a_declined_participant(load) -> None:
    text = load("siu_s14_modify_v23.hl7").replace("AIL|1|U|", "AIL|1|D|")
    appointment = _one(convert(text), "Appointment")
    assert appointment["participant"][1]["status"] == "declined"


# -- MDM -------------------------------------------------------------------------------------------


def test_text_note_is_one_utf8_attachment_with_lines_in_order(load) -> None:
    result = convert(load("mdm_t02_text_note_v25.hl7"))
    document = _one(result, "DocumentReference")
    (content,) = document["content"]
    attachment = content["attachment"]
    assert attachment["contentType"].startswith("text/plain")
    assert base64.b64decode(attachment["data"]).decode("utf-8") == (
        "Subjective: feels better today.\nObjective: afebrile, vitals stable.\n"
        "Plan: continue current therapy & recheck labs."
    )
    assert attachment["title"] == "Progress note"


def test_document_maps_type_status_date_author_and_identifier(load) -> None:
    result = convert(load("mdm_t02_text_note_v25.hl7"))
    document = _one(result, "DocumentReference")
    assert document["masterIdentifier"]["value"] == "DOC-0001"
    assert document["status"] == "current"
    assert document["docStatus"] == "final"
    assert document["type"]["coding"][0] == {"code": "PN", "display": "Progress note"}
    assert document["date"] == "2024-03-15T16:50:00-05:00"
    assert document["author"][0]["display"] == "CARLA CAREFUL, MD"
    assert document["subject"] == {"reference": f"Patient/{result.patient_id}"}


def test_base64_pdf_is_passed_through_with_its_content_type(load) -> None:
    document = _one(convert(load("mdm_t02_pdf_base64_v251.hl7")), "DocumentReference")
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert base64.b64decode(attachment["data"]).startswith(b"%PDF-1.4")
    assert document["context"]["related"][0]["identifier"]["value"] == "PO-2001"


def test_utf8_document_text_is_decoded_exactly(load) -> None:
    document = _one(convert(load("mdm_t02_utf8_v28.hl7")), "DocumentReference")
    data = base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8")
    assert data == "Patiente vue en consultation: état général très bon. Größe normal."
    assert document["date"] == "2024-07-02T08:55:00+02:00"


def test_notification_and_content_message_are_one_document(load) -> None:
    notification = _one(convert(load("mdm_t01_notification_v24.hl7")), "DocumentReference")
    content = convert(load("mdm_t01_notification_v24.hl7").replace("MDM^T01", "MDM^T02") + "\rOBX|1|TX|DS||Text.")
    assert _one(content, "DocumentReference")["id"] == notification["id"]
    assert notification["docStatus"] == "preliminary"
    assert "data" not in notification["content"][0]["attachment"]


def test_document_without_txa_is_refused(load) -> None:
    text = "\r".join(line for line in load("mdm_t02_text_note_v25.hl7").split("\r") if not line.startswith("TXA"))
    with pytest.raises(ConversionError) as caught:
        convert(text)
    assert "TXA" in str(caught.value)
