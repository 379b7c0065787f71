"""The message store: duplicates, search, reprocess and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from holovitals.hl7v2.channels import Channel
from holovitals.hl7v2.intake import IntakeOptions, intake
from holovitals.hl7v2.message_store import (
    MessageFilter,
    get_message,
    insert_messages,
    purge,
    reprocess,
    search,
    unfinished,
)
from holovitals.store.db import transaction
from holovitals.store.models import Hl7Message, Organization, Resource
from holovitals.store.types import utcnow

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def message(control_id: str, patient: str = "P1", kind: str = "ADT^A01", facility: str = "GENHOSP") -> str:
    return (
        f"MSH|^~\\&|LAB|{facility}|HV|HV|20240101120000||{kind}|{control_id}|P|2.5.1\r"
        "EVN|A01|20240101120000\r"
        f"PID|1||{patient}^^^GENHOSP^MR||DOE^JANE||19800101|F\r"
        "PV1|1|I|4W^401^A\r"
    )


def store(ctx, org_id: str, *texts: str, channel: str = "default", strict: bool = True) -> list[tuple[int, int | None]]:
    items = [(org_id, channel, intake(t.encode(), IntakeOptions(channel=channel, strict=strict))) for t in texts]
    with transaction(ctx.sessions) as session:
        return insert_messages(session, items)


@pytest.fixture
def other_org(ctx) -> str:
    with transaction(ctx.sessions) as session:
        org = Organization(name="Other clinic", slug="other")
        session.add(org)
        session.flush()
        return org.id


# ---------------------------------------------------------------- duplicates


def test_an_accepted_control_id_seen_again_is_stored_as_a_duplicate_of_the_first(ctx, tenant):
    (first, _), (second, dup) = store(ctx, tenant.org_id, message("C1"), message("C1"))
    assert dup == first
    with ctx.sessions() as session:
        row = session.get(Hl7Message, second)
        assert (row.status, row.duplicate_of) == ("FILTERED", first)


def test_a_refused_message_does_not_make_its_resend_a_duplicate(ctx, tenant):
    bad = message("C1").replace("P1^^^GENHOSP^MR", "")
    (_, _), (_, dup) = store(ctx, tenant.org_id, bad, message("C1"))
    assert dup is None  # the sender fixed it and sent it again: a new message


def test_a_resend_without_a_sending_facility_is_a_duplicate_of_the_first(ctx, tenant):
    (first, _), (_, dup) = store(ctx, tenant.org_id, message("C1", facility=""), message("C1", facility=""))
    assert dup == first
    assert store(ctx, tenant.org_id, message("C1"))[0][1] is None  # MSH-4 sent: another sender's C1


def test_many_resends_in_one_group_commit_each_point_at_their_first_copy(ctx, tenant):
    firsts = store(ctx, tenant.org_id, *(message(f"C{i}") for i in range(700)))
    resent = store(ctx, tenant.org_id, *(message(f"C{i}") for i in range(700)))
    assert [dup for _, dup in resent] == [pk for pk, _ in firsts]


@SQLITE_ONLY
def test_duplicates_are_scoped_by_tenant_channel_and_facility(ctx, tenant, other_org):
    store(ctx, tenant.org_id, message("C1"))
    assert store(ctx, other_org, message("C1"))[0][1] is None
    assert store(ctx, tenant.org_id, message("C1"), channel="lab")[0][1] is None
    assert store(ctx, tenant.org_id, message("C1", facility="OTHERHOSP"))[0][1] is None
    assert store(ctx, tenant.org_id, message("C1"))[0][1] is not None


# ---------------------------------------------------------------- search


def test_search_by_type_patient_control_id_status_and_channel(ctx, tenant):
    store(ctx, tenant.org_id, message("A1", "P1"), message("A2", "P2", "ADT^A08"), message("A3", "P1", "ORU^R01"))
    store(ctx, tenant.org_id, message("L1", "P3"), channel="lab")
    with ctx.sessions() as session:

        def ids(**criteria) -> list[str]:
            rows, total = search(session, tenant.org_id, MessageFilter(**criteria))
            assert total == len(rows)
            return sorted(r.control_id for r in rows)

        assert ids(message_type="ADT") == ["A1", "A2", "L1"]
        assert ids(message_type="ADT^A08") == ["A2"]
        assert ids(message_type="ADT^A0*") == ["A1", "A2", "L1"]
        assert ids(message_type="ORU") == ["A3"]
        assert ids(patient_id="P1") == ["A1", "A3"]
        assert ids(control_id="A2") == ["A2"]
        assert ids(channel="lab") == ["L1"]
        assert ids(status="ERROR") == ["A3"]  # this ORU lacks OBR: strict validation refused it
        assert ids(status="RECEIVED") == ["A1", "A2", "L1"]


@SQLITE_ONLY
def test_search_by_date_range_and_pages_newest_first(ctx, tenant):
    store(ctx, tenant.org_id, *(message(f"C{i}") for i in range(5)))
    now = utcnow()
    with transaction(ctx.sessions) as session:
        session.execute(
            update(Hl7Message).where(Hl7Message.control_id == "C0").values(received_at=now - timedelta(days=3))
        )
    with ctx.sessions() as session:
        rows, total = search(session, tenant.org_id, MessageFilter(since=now - timedelta(days=1)), limit=2, offset=0)
        assert total == 4 and [r.control_id for r in rows] == ["C4", "C3"]
        rows, _ = search(session, tenant.org_id, MessageFilter(since=now - timedelta(days=1)), limit=2, offset=2)
        assert [r.control_id for r in rows] == ["C2", "C1"]
        rows, total = search(session, tenant.org_id, MessageFilter(until=now - timedelta(days=1)))
        assert [r.control_id for r in rows] == ["C0"]


def test_another_tenant_sees_nothing(ctx, tenant, other_org):
    ((pk, _),) = store(ctx, tenant.org_id, message("C1"))
    with ctx.sessions() as session:
        assert search(session, other_org)[1] == 0
        assert get_message(session, other_org, pk) is None
        assert get_message(session, tenant.org_id, pk).control_id == "C1"


# ---------------------------------------------------------------- reprocess


def test_reprocess_converts_and_stores_and_a_second_run_changes_nothing(ctx, tenant):
    ((pk, _),) = store(ctx, tenant.org_id, message("C1", "P9"))
    with transaction(ctx.sessions) as session:
        report = reprocess(session, tenant.org_id, [pk])
    assert report.counts == {"TRANSFORMED": 1}
    with ctx.sessions() as session:
        first = session.execute(select(Resource.resource_type, Resource.resource_id, Resource.local_version)).all()
        assert "Patient" in {t for t, _, _ in first}
        assert {v for _, _, v in first} == {1}
    with transaction(ctx.sessions) as session:
        again = reprocess(session, tenant.org_id, [pk])
    assert again.counts == {"TRANSFORMED": 1}
    with ctx.sessions() as session:
        assert (
            session.execute(select(Resource.resource_type, Resource.resource_id, Resource.local_version)).all() == first
        )
        row = session.get(Hl7Message, pk)
        assert row.status == "TRANSFORMED" and row.processed_at is not None and row.error is None


@SQLITE_ONLY
def test_reprocess_skips_duplicates_and_records_failures_with_their_reason(ctx, tenant):
    bad = message("BAD").replace("P1^^^GENHOSP^MR", "")
    (good, _), (dup, _), (failing, _) = store(ctx, tenant.org_id, message("C1"), message("C1"), bad)
    with transaction(ctx.sessions) as session:
        report = reprocess(session, tenant.org_id, [good, dup, failing])
    assert report.skipped == 1
    assert report.counts == {"TRANSFORMED": 1, "ERROR": 1}
    (error_outcome,) = [o for o in report.outcomes if o[0] == failing]
    assert "PID-3" in error_outcome[2]


@SQLITE_ONLY
def test_reprocess_uses_the_channels_filters_when_given(ctx, tenant):
    ((pk, _),) = store(ctx, tenant.org_id, message("C1"), channel="adt")
    channel = Channel.model_validate({"name": "adt", "filters": [{"message_types": ["ORU^*"]}]})
    with transaction(ctx.sessions) as session:
        report = reprocess(session, tenant.org_id, [pk], channels={"adt": channel})
    assert report.counts == {"FILTERED": 1}


@SQLITE_ONLY
def test_reprocess_of_another_tenants_message_does_nothing(ctx, tenant, other_org):
    ((pk, _),) = store(ctx, tenant.org_id, message("C1"))
    with transaction(ctx.sessions) as session:
        assert reprocess(session, other_org, [pk]).outcomes == []


def test_unfinished_lists_what_a_stopped_listener_left(ctx, tenant):
    (a, _), (b, _), (_, _) = store(ctx, tenant.org_id, message("C1"), message("C2"), message("C1"))
    with ctx.sessions() as session:
        assert [r.pk for r in unfinished(session, tenant.org_id, "default")] == [a, b]  # not the duplicate
        assert [r.pk for r in unfinished(session, tenant.org_id, "default", after=a)] == [b]


# ---------------------------------------------------------------- retention


def test_purge_deletes_messages_older_than_the_retention_period(ctx, tenant, other_org):
    store(ctx, tenant.org_id, message("OLD"), message("NEW"))
    store(ctx, other_org, message("OTHER-OLD"))
    old = utcnow() - timedelta(days=40)
    with transaction(ctx.sessions) as session:
        session.execute(
            update(Hl7Message).where(Hl7Message.control_id.in_(["OLD", "OTHER-OLD"])).values(received_at=old)
        )
    with transaction(ctx.sessions) as session:
        assert purge(session, 30, org_id=tenant.org_id) == 1
    with transaction(ctx.sessions) as session:
        assert purge(session, 30) == 1  # every tenant
        remaining = session.execute(select(Hl7Message.control_id)).scalars().all()
    assert remaining == ["NEW"]


def test_purge_refuses_a_negative_period(ctx, tenant):
    with ctx.sessions() as session, pytest.raises(ValueError):
        purge(session, -1)
