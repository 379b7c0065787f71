"""The store records intake makes of converted resources are exactly what ``from_dict`` makes.

Intake builds them on a fast path (one lastUpdated parse per message, the converter's output
trusted to have the shape it always has); anything else must still go through ``from_dict``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from holovitals.hl7v2 import parse
from holovitals.hl7v2.intake import IntakeOptions, convert_batch, incoming_resources, intake, settle
from holovitals.hl7v2.to_fhir import SUPPORTED, convert
from holovitals.store.resources import IncomingResource, InvalidResource

CORPUS = Path(__file__).resolve().parent / "corpus"
CONVERTIBLE = sorted(
    p
    for p in CORPUS.glob("*.hl7")
    if (parse(p.read_bytes()).message_type, parse(p.read_bytes()).trigger_event) in SUPPORTED
)


@pytest.mark.parametrize("path", CONVERTIBLE, ids=[p.stem for p in CONVERTIBLE])
def test_store_records_of_a_conversion_equal_from_dict(path: Path) -> None:
    resources = convert(path.read_bytes().decode("utf-8")).resources
    assert incoming_resources(resources) == [IncomingResource.from_dict(r) for r in resources]


def test_resources_of_one_message_share_their_last_updated_and_survive_the_trip_to_the_listener(load) -> None:
    item = intake(load("adt_a01_epic_v251.hl7").encode(), IntakeOptions())
    assert item.resources
    assert len({id(r.last_updated) for r in item.resources}) == 1
    # What a conversion worker sends back is what the whole intake gives, and survives pickling.
    (converted,) = convert_batch([item.raw])
    assert converted == (item.resources, None)
    assert pickle.loads(pickle.dumps(converted)) == converted


def test_accepting_then_converting_gives_what_intake_gives_at_once(load) -> None:
    # The listener acknowledges after the first half and converts after the commit: the two halves
    # must add up to the whole, for converted messages and for failed conversions alike.
    for name in ("adt_a01_epic_v251.hl7", "oru_r01_cbc_v251.hl7", "mdm_t02_utf8_v28.hl7"):
        whole = intake(load(name).encode(), IntakeOptions())
        half = intake(load(name).encode(), IntakeOptions(convert=False))
        assert half.resources is None and half.status == "RECEIVED" and half.ack_code == whole.ack_code
        settle(half, convert_batch([half.raw])[0])
        half.ack = whole.ack  # each ACK has a control id of its own
        assert half == whole
    settle(half, (None, "conversion failed: no PID"))
    assert (half.status, half.error, half.resources) == ("ERROR", "conversion failed: no PID", None)


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "id": "p1", "meta": {"lastUpdated": "2024-01-01T00:00:00+00:00", "versionId": "3"}},
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Patient", "id": "p1", "meta": {"lastUpdated": 20240101}},
    ],
    ids=["version-id", "no-meta", "number-as-last-updated"],
)
def test_unusual_resources_go_through_from_dict(resource: dict) -> None:
    try:
        expected = [IncomingResource.from_dict(resource)]
    except InvalidResource as error:
        with pytest.raises(InvalidResource, match=re.escape(str(error))):
            incoming_resources([resource])
    else:
        assert incoming_resources([resource]) == expected
