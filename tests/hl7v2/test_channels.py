"""Channels: source → filter → transformer → destinations, from a file or the integrations table."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest
import respx
from sqlalchemy import select

from holovitals.hl7v2.channels import (
    Channel,
    ChannelConfigError,
    FilterRule,
    list_db_channels,
    load_channels,
    passes,
    save_db_channel,
)
from holovitals.hl7v2.client import MllpClient
from holovitals.hl7v2.message_store import reprocess
from holovitals.hl7v2.server import BackgroundListener
from holovitals.store.db import transaction
from holovitals.store.models import Connection, Hl7Message, Resource

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def message(control_id: str, kind: str = "ADT^A01", facility: str = "GENHOSP", patient: str = "P1") -> str:
    return (
        f"MSH|^~\\&|LAB|{facility}|HV|HV|20240101120000||{kind}|{control_id}|P|2.5.1\r"
        "EVN|A01|20240101120000\r"
        f"PID|1||{patient}^^^GENHOSP^MR||DOE^JANE||19800101|F\r"
        "PV1|1|I|4W^401^A\r"
    )


@pytest.fixture
def listen(ctx):
    started: list[BackgroundListener] = []

    def _listen(*channels: Channel) -> BackgroundListener:
        started.append(BackgroundListener(ctx.sessions, list(channels), deliver_attempts=1).start())
        return started[-1]

    yield _listen
    for bg in reversed(started):
        bg.stop()


def rows(ctx, channel: str | None = None) -> list[Hl7Message]:
    with ctx.sessions() as session:
        stmt = select(Hl7Message).order_by(Hl7Message.pk)
        if channel:
            stmt = stmt.where(Hl7Message.channel == channel)
        return list(session.execute(stmt).scalars())


# ---------------------------------------------------------------- filters


def test_a_filter_matches_type_patterns_and_facilities():
    rule = FilterRule(message_types=("ADT^A0*",), sending_facilities=("GENHOSP", "NORTH*"))
    assert rule.matches("ADT^A01", "GENHOSP", "LAB")
    assert rule.matches("ADT^A08", "NORTHSIDE", "LAB")
    assert not rule.matches("ADT^A11", "GENHOSP", "LAB")  # wrong trigger
    assert not rule.matches("ADT^A01", "SOUTH", "LAB")  # wrong facility


def test_any_filter_lets_a_message_through_and_exclusions_win():
    rules = (
        FilterRule(message_types=("ORU^*",)),
        FilterRule(message_types=("ADT^*",), exclude_message_types=("ADT^A08",)),
    )
    assert passes(rules, "ORU^R01", "", "")
    assert passes(rules, "ADT^A01", "", "")
    assert not passes(rules, "ADT^A08", "", "")
    assert not passes(rules, "SIU^S12", "", "")
    assert passes((), "anything", "", "")


# ---------------------------------------------------------------- files


def test_channels_load_from_yaml(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text(
        """
channels:
  - name: adt-in
    port: 2575
    filters:
      - message_types: ["ADT^A0*"]
    destinations:
      - type: store
      - type: mllp
        host: downstream.example.org
        port: 6661
  - name: labs
    port: 2576
    strict: false
    destinations:
      - type: webhook
        url: https://hooks.example.org/hl7
        payload: bundle
"""
    )
    adt, labs = load_channels(path)
    assert adt.name == "adt-in" and adt.port == 2575 and adt.stores
    assert [d.type for d in adt.network_destinations] == ["mllp"]
    assert adt.passes("ADT^A04", "X", "Y") and not adt.passes("ORU^R01", "X", "Y")
    assert labs.needs_conversion and not labs.stores and not labs.strict


def test_channels_load_from_json_and_default_to_the_store(tmp_path):
    path = tmp_path / "channels.json"
    path.write_text(json.dumps([{"name": "only", "port": 3000}]))
    (channel,) = load_channels(path)
    assert [d.type for d in channel.destinations] == ["store"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels:\n  - name: a\n    destinations: [{type: ftp}]\n", "channel 1: destinations.0"),
        ("channels:\n  - name: 'bad name!'\n", "channel 1: name"),
        ("channels:\n  - name: a\n  - name: a\n", "channel names must be unique (a)"),
        ("channels: [\n", "not valid YAML at line"),
        ("channels:\n  - name: a\n    colour: blue\n", "channel 1: colour"),
    ],
)
def test_a_bad_channels_file_names_the_file_and_the_field(tmp_path, text, expected):
    path = tmp_path / "channels.yaml"
    path.write_text(text)
    with pytest.raises(ChannelConfigError) as caught:
        load_channels(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_channels_saved_to_the_integrations_table(ctx, tenant):
    channel = Channel.model_validate({"name": "adt-in", "port": 2575, "filters": [{"message_types": ["ADT^*"]}]})
    with transaction(ctx.sessions) as session:
        row = save_db_channel(session, tenant.org_id, channel)
        assert (row.kind, row.name) == ("hl7v2", "adt-in")
        with pytest.raises(ChannelConfigError):
            save_db_channel(session, tenant.org_id, channel)  # the name is taken
    with ctx.sessions() as session:
        (stored,) = list_db_channels(session, tenant.org_id)
        assert Channel.model_validate(stored.config) == channel


# ---------------------------------------------------------------- running channels


def test_a_filtered_message_is_stored_acked_and_not_converted(ctx, listen):
    bg = listen(Channel.model_validate({"name": "adt", "port": 0, "filters": [{"message_types": ["ADT^A0*"]}]}))
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(message("A11", "ADT^A11")).code == "AA"
        assert client.send(message("A01")).code == "AA"
    assert bg.wait_idle()
    assert [(r.control_id, r.status) for r in rows(ctx)] == [("A11", "FILTERED"), ("A01", "TRANSFORMED")]


@SQLITE_ONLY
def test_an_mllp_destination_forwards_the_raw_message(ctx, listen):
    downstream = listen(Channel(name="downstream", port=0))
    router = listen(Channel.model_validate({
        "name": "router", "port": 0, "destinations": [{"type": "mllp", "host": "127.0.0.1", "port": downstream.port}],
    }))  # fmt: skip
    with MllpClient("127.0.0.1", router.port) as client:
        assert client.send(message("F1")).code == "AA"
    assert router.wait_idle() and downstream.wait_idle()
    (routed,) = rows(ctx, "router")
    (received,) = rows(ctx, "downstream")
    assert routed.status == "SENT"
    assert received.raw == routed.raw and received.status == "TRANSFORMED"
    with ctx.sessions() as session:  # the router only forwards: no FHIR under its connection
        names = set(session.execute(select(Connection.name)).scalars())
    assert names == {"hl7v2:downstream"}


@SQLITE_ONLY
def test_a_fhir_destination_gets_a_transaction_bundle(ctx, listen, monkeypatch):
    monkeypatch.setenv("FHIR_TOKEN", "secret-token")
    fhir = {"type": "fhir", "url": "https://fhir.example.test/r4", "token_env": "FHIR_TOKEN"}
    channel = Channel.model_validate({"name": "to-fhir", "port": 0, "destinations": [{"type": "store"}, fhir]})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://fhir.example.test/r4").mock(return_value=httpx.Response(200, json={}))
        bg = listen(channel)
        with MllpClient("127.0.0.1", bg.port) as client:
            client.send(message("F1", patient="P77"))
        assert bg.wait_idle()
    request = route.calls.last.request
    bundle = orjson.loads(request.content)
    assert request.headers["authorization"] == "Bearer secret-token"
    assert bundle["type"] == "transaction"
    entries = {e["request"]["url"].split("/")[0]: e for e in bundle["entry"]}
    assert entries["Patient"]["request"]["method"] == "PUT"
    (row,) = rows(ctx)
    assert row.status == "SENT"
    with ctx.sessions() as session:
        assert session.execute(select(Resource).where(Resource.resource_type == "Patient")).scalar_one()


@SQLITE_ONLY
def test_a_failing_destination_marks_the_message_error_and_reprocess_delivers_it_later(ctx, tenant, listen):
    hook = {"type": "webhook", "url": "https://hooks.example.test/hl7"}
    channel = Channel.model_validate({"name": "hooked", "port": 0, "destinations": [hook]})
    with respx.mock as mock:
        route = mock.post("https://hooks.example.test/hl7").mock(return_value=httpx.Response(503))
        bg = listen(channel)
        with MllpClient("127.0.0.1", bg.port) as client:
            assert client.send(message("W1", patient="P5")).code == "AA"  # stored: the sender is done
        assert bg.wait_idle()
        (row,) = rows(ctx)
        assert row.status == "ERROR" and row.error == "webhook hooks.example.test: HTTP 503"
        route.mock(return_value=httpx.Response(204))
        with transaction(ctx.sessions) as session:
            report = reprocess(session, tenant.org_id, [row.pk], channels={"hooked": channel})
    assert report.counts == {"SENT": 1}
    summary = orjson.loads(route.calls.last.request.content)
    assert summary["controlId"] == "W1" and summary["messageType"] == "ADT^A01" and summary["patientId"] == "P5"
    assert "bundle" not in summary
    assert rows(ctx)[0].status == "SENT"


@SQLITE_ONLY
def test_a_webhook_can_carry_the_fhir_bundle(ctx, listen):
    hook = {"type": "webhook", "url": "https://hooks.example.test/hl7", "payload": "bundle"}
    with respx.mock as mock:
        route = mock.post("https://hooks.example.test/hl7").mock(return_value=httpx.Response(200))
        bg = listen(Channel.model_validate({"name": "hooked", "port": 0, "destinations": [hook]}))
        with MllpClient("127.0.0.1", bg.port) as client:
            client.send(message("W2"))
        assert bg.wait_idle()
    payload = orjson.loads(route.calls.last.request.content)
    assert payload["bundle"]["resourceType"] == "Bundle"
    assert "Patient" in {e["resource"]["resourceType"] for e in payload["bundle"]["entry"]}


def test_the_channels_file_in_the_docs_loads(tmp_path):
    docs = Path(__file__).resolve().parents[2] / "docs" / "hl7v2.md"
    block = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "channels.yaml"
    path.write_text(block)
    adt, labs = load_channels(path)
    assert adt.passes("ADT^A04", "GENHOSP", "X") and not adt.passes("ADT^A08", "GENHOSP", "X")
    assert [d.type for d in labs.destinations] == ["fhir", "webhook"] and labs.tls_cert
