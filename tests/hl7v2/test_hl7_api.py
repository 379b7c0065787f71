"""The HL7 API: parse, Patient → ADT, message search and reprocess, channels; tenant scoped and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from holovitals.hl7v2 import parse
from holovitals.hl7v2.intake import IntakeOptions, intake
from holovitals.hl7v2.message_store import insert_messages
from holovitals.security.principals import issue_api_key
from holovitals.store.db import transaction
from holovitals.store.models import AuditEntry, Hl7Message, Organization, Resource

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def message(control_id: str, patient: str = "P1", kind: str = "ADT^A01") -> str:
    return (
        f"MSH|^~\\&|LAB|GENHOSP|HV|HV|20240101120000||{kind}|{control_id}|P|2.5.1\r"
        "EVN|A01|20240101120000\r"
        f"PID|1||{patient}^^^GENHOSP^MR~SSN1^^^USSSA^SS||DOE^JANE||19800101|F\r"
        "PV1|1|I|4W^401^A\r"
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_for(ctx, org_id: str, role: str) -> str:
    with transaction(ctx.sessions) as session:
        return issue_api_key(session, org_id=org_id, role=role, name=f"{role} key")[1]


def store(ctx, org_id: str, *texts: str) -> list[int]:
    items = [(org_id, "default", intake(t.encode(), IntakeOptions())) for t in texts]
    with transaction(ctx.sessions) as session:
        return [pk for pk, _ in insert_messages(session, items)]


@pytest.fixture
def other_tenant(ctx):
    with transaction(ctx.sessions) as session:
        org = Organization(name="Other clinic", slug="other")
        session.add(org)
        session.flush()
        org_id = org.id
    return org_id, key_for(ctx, org_id, "OWNER")


def audit_actions(ctx) -> list[tuple[str, str, str | None]]:
    with ctx.sessions() as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.pk)).scalars()
        return [(e.action, e.outcome, e.resource_type) for e in rows]


# ---------------------------------------------------------------- parse and build


@SQLITE_ONLY
def test_parse_returns_segments_fields_type_and_issues(client, tenant):
    text = message("C1").replace("PV1|1|I|", "PV1|1|Q|")  # Q is not in HL7 table 0004
    response = client.post("/api/integrations/hl7/parse", content=text, headers=auth(tenant.owner_key))
    assert response.status_code == 200
    body = response.json()
    assert (body["messageType"], body["structure"], body["controlId"], body["version"]) == (
        "ADT^A01", "ADT_A01", "C1", "2.5.1",
    )  # fmt: skip
    assert body["valid"] is False
    assert body["issues"][0]["location"] == "PV1-2.1" and body["issues"][0]["code"] == 103
    pid = next(s for s in body["segments"] if s["name"] == "PID")
    field3 = next(f for f in pid["fields"] if f["id"] == "PID-3")
    assert [r["components"][0] for r in field3["repetitions"]] == ["P1", "SSN1"]
    name = next(f for f in pid["fields"] if f["id"] == "PID-5")
    assert name["components"] == ["DOE", "JANE"]


@SQLITE_ONLY
def test_parse_accepts_a_json_body_too(client, tenant):
    response = client.post(
        "/api/integrations/hl7/parse", json={"message": message("C2")}, headers=auth(tenant.owner_key)
    )
    assert response.status_code == 200 and response.json()["valid"] is True


@SQLITE_ONLY
def test_parse_of_text_that_is_not_hl7_is_a_422_problem(client, tenant):
    response = client.post("/api/integrations/hl7/parse", content="hello", headers=auth(tenant.owner_key))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "MSH" in response.json()["detail"]


@SQLITE_ONLY
def test_parse_needs_an_api_key(client):
    assert client.post("/api/integrations/hl7/parse", content=message("C1")).status_code == 401


@SQLITE_ONLY
def test_adt_from_a_patient_is_er7_and_audited_as_a_phi_read(ctx, client, tenant):
    patient = {
        "resourceType": "Patient",
        "id": "pat-1",
        "identifier": [{"system": "urn:mrn", "value": "MRN1"}],
        "name": [{"family": "Doe", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1980-01-01",
    }
    response = client.post("/api/integrations/hl7/adt?event=A04", json=patient, headers=auth(tenant.owner_key))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("x-application/hl7-v2+er7")
    adt = parse(response.text)
    assert (adt.message_type, adt.trigger_event) == ("ADT", "A04")
    assert adt.value("PID-5.1") == "Doe"
    with ctx.sessions() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.resource_type == "Patient")).scalar_one()
        assert (entry.action, entry.patient_id) == ("read", "pat-1")
    wrapped = {"patient": patient, "event": "A08"}
    again = client.post("/api/integrations/hl7/adt", json=wrapped, headers=auth(tenant.owner_key))
    assert parse(again.text).trigger_event == "A08"


@SQLITE_ONLY
def test_adt_refuses_what_is_not_a_patient(client, tenant):
    response = client.post(
        "/api/integrations/hl7/adt", json={"resourceType": "Observation"}, headers=auth(tenant.owner_key)
    )
    assert response.status_code == 422


# ---------------------------------------------------------------- messages


def test_messages_are_searched_paged_audited_and_raw_only_on_request(ctx, client, tenant):
    store(ctx, tenant.org_id, message("A1", "P1"), message("A2", "P2"), message("A3", "P1"))
    headers = auth(tenant.owner_key)
    page = client.get("/api/hl7/messages", params={"patient": "P1", "limit": 1}, headers=headers).json()
    assert page["total"] == 2 and [m["controlId"] for m in page["items"]] == ["A3"]
    assert "raw" not in page["items"][0]
    raw = client.get("/api/hl7/messages", params={"controlId": "A2", "includeRaw": "true"}, headers=headers).json()
    assert raw["items"][0]["raw"] == message("A2", "P2")
    by_type = client.get("/api/hl7/messages", params={"type": "ADT^A0*", "status": "RECEIVED"}, headers=headers)
    assert by_type.json()["total"] == 3
    assert ("search", "success", "Hl7Message") in audit_actions(ctx)


@SQLITE_ONLY
def test_message_filters_are_validated(client, tenant):
    headers = auth(tenant.owner_key)
    assert client.get("/api/hl7/messages", params={"status": "LOST"}, headers=headers).status_code == 422
    assert client.get("/api/hl7/messages", params={"since": "2026-01-01T00:00:00"}, headers=headers).status_code == 422


def test_another_tenants_message_is_not_found(ctx, client, tenant, other_tenant):
    (pk,) = store(ctx, tenant.org_id, message("A1"))
    _, other_key = other_tenant
    assert client.get(f"/api/hl7/messages/{pk}", headers=auth(other_key)).status_code == 404
    assert client.post(f"/api/hl7/messages/{pk}/reprocess", headers=auth(other_key)).status_code == 404
    assert client.get("/api/hl7/messages", headers=auth(other_key)).json()["total"] == 0
    assert ("read", "not_found", "Hl7Message") in audit_actions(ctx)
    mine = client.get(f"/api/hl7/messages/{pk}", headers=auth(tenant.owner_key)).json()
    assert mine["controlId"] == "A1" and mine["raw"] == message("A1")


@SQLITE_ONLY
def test_reading_messages_needs_read_phi(ctx, client, tenant):
    support = key_for(ctx, tenant.org_id, "SUPPORT")
    assert client.get("/api/hl7/messages", headers=auth(support)).status_code == 403
    assert ("access", "denied", None) in audit_actions(ctx)


def test_reprocess_one_message_stores_its_fhir_resources(ctx, client, tenant):
    (pk,) = store(ctx, tenant.org_id, message("A1", "P9"))
    response = client.post(f"/api/hl7/messages/{pk}/reprocess", headers=auth(tenant.owner_key))
    assert response.status_code == 200
    body = response.json()
    assert body["byStatus"] == {"TRANSFORMED": 1} and body["message"]["status"] == "TRANSFORMED"
    with ctx.sessions() as session:
        assert "Patient" in set(session.execute(select(Resource.resource_type)).scalars())


@SQLITE_ONLY
def test_reprocess_needs_write_phi(ctx, client, tenant):
    (pk,) = store(ctx, tenant.org_id, message("A1"))
    analyst = key_for(ctx, tenant.org_id, "ANALYST")
    assert client.post(f"/api/hl7/messages/{pk}/reprocess", headers=auth(analyst)).status_code == 403


@SQLITE_ONLY
def test_reprocess_by_filter(ctx, client, tenant):
    bad = message("B1").replace("P1^^^GENHOSP^MR~", "")
    store(ctx, tenant.org_id, message("A1"), bad.replace("PID|1||SSN1^^^USSSA^SS", "PID|1||"), message("A2"))
    headers = auth(tenant.owner_key)
    assert client.post("/api/hl7/messages/reprocess", json={}, headers=headers).status_code == 422
    body = client.post("/api/hl7/messages/reprocess", json={"status": "RECEIVED"}, headers=headers).json()
    assert body["matched"] == 2 and body["byStatus"] == {"TRANSFORMED": 2}
    errors = client.post("/api/hl7/messages/reprocess", json={"status": "ERROR"}, headers=headers).json()
    assert errors["byStatus"] == {"ERROR": 1} and "PID-3" in errors["messages"][0]["error"]
    with ctx.sessions() as session:
        statuses = dict(session.execute(select(Hl7Message.control_id, Hl7Message.status)).all())
    assert statuses == {"A1": "TRANSFORMED", "B1": "ERROR", "A2": "TRANSFORMED"}


# ---------------------------------------------------------------- channels


def test_channels_crud(client, tenant, other_tenant):
    headers = auth(tenant.owner_key)
    body = {"name": "adt-in", "port": 2575, "filters": [{"message_types": ["ADT^A0*"]}],
            "destinations": [{"type": "store"}, {"type": "mllp", "host": "10.0.0.5", "port": 6661}]}  # fmt: skip
    created = client.post("/api/hl7/channels", json=body, headers=headers)
    assert created.status_code == 201
    channel_id = created.json()["id"]
    assert created.json()["channel"]["destinations"][1]["host"] == "10.0.0.5"
    assert client.post("/api/hl7/channels", json=body, headers=headers).status_code == 409
    assert [c["name"] for c in client.get("/api/hl7/channels", headers=headers).json()["items"]] == ["adt-in"]
    changed = client.put(f"/api/hl7/channels/{channel_id}", json=body | {"port": 2580}, headers=headers)
    assert changed.json()["channel"]["port"] == 2580
    _, other_key = other_tenant
    assert client.get(f"/api/hl7/channels/{channel_id}", headers=auth(other_key)).status_code == 404
    assert client.delete(f"/api/hl7/channels/{channel_id}", headers=auth(other_key)).status_code == 404
    assert client.delete(f"/api/hl7/channels/{channel_id}", headers=headers).status_code == 204
    assert client.get(f"/api/hl7/channels/{channel_id}", headers=headers).status_code == 404


@SQLITE_ONLY
def test_a_bad_channel_is_a_422_naming_the_field(client, tenant):
    response = client.post(
        "/api/hl7/channels", json={"name": "x", "destinations": [{"type": "ftp"}]}, headers=auth(tenant.owner_key)
    )
    assert response.status_code == 422
    assert "destinations" in response.json()["detail"]


# ---------------------------------------------------------------- the command line


@SQLITE_ONLY
def test_the_hl7_commands_as_a_user_runs_them(ctx, tenant, db_url, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from holovitals.hl7v2.channels import Channel
    from holovitals.hl7v2.server import BackgroundListener

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")}
    env |= {"HOLOVITALS_DATABASE_URL": db_url, "HOLOVITALS_HOME": str(tmp_path / "home"), "COLUMNS": "200"}

    def hv(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "holovitals.cli", "hl7", *args], capture_output=True,
                              text=True, env=env, timeout=120)  # fmt: skip

    feed = tmp_path / "feed.hl7"
    bad = message("B1").replace("P1^^^GENHOSP^MR~SSN1^^^USSSA^SS", "")
    feed.write_text((message("A1") + message("A2", "P2") + bad).replace("\r", "\n"))  # a file with LF line ends
    with BackgroundListener(ctx.sessions, [Channel(port=0)]) as bg:
        sent = hv("send", str(feed), "--host", "127.0.0.1", "--port", str(bg.port), "--window", "2")
        assert bg.wait_idle()
    assert sent.returncode == 1  # one message was refused
    assert "3 messages sent" in sent.stdout and "AA 2, AE 1" in sent.stdout
    assert "PID-3 required field missing" in sent.stderr

    listed = hv("messages", "--status", "ERROR")
    assert listed.returncode == 0 and "B1" in listed.stdout and "1 of 1 messages" in listed.stdout
    again = hv("reprocess", "--status", "ERROR")
    assert again.returncode == 0 and "reprocessed 1 messages: ERROR 1" in again.stdout

    converted = hv("to-fhir", str(feed.with_name("one.hl7")))
    assert converted.returncode == 1 and "cannot read" in converted.stderr
    feed.with_name("one.hl7").write_text(message("A1"))
    converted = hv("to-fhir", str(feed.with_name("one.hl7")))
    assert converted.returncode == 0, converted.stderr
    assert json.loads(converted.stdout)["entry"][0]["resource"]["resourceType"] == "Patient"

    purged = hv("purge", "--older-than", "0")
    assert purged.returncode == 0 and "deleted 3 messages" in purged.stdout
