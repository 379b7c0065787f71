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
from holovitals.hl7v2.intake import IntakeOptions, incoming_resources, intake
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
    assert pickle.loads(pickle.dumps(item)).resources == item.resources


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
