"""v2 -> FHIR over the whole corpus: valid R4, deterministic, stamped, linked, value-free warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from holovitals.hl7v2 import parse
from holovitals.hl7v2.to_fhir import SUPPORTED, UnsupportedMessage, convert
from holovitals.hl7v2.to_fhir.context import CONTROL_ID_SYSTEM

CORPUS = Path(__file__).resolve().parent / "corpus"
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _supported(text: str) -> bool:
    msg = parse(text)
    return (msg.message_type, msg.trigger_event) in SUPPORTED


CONVERTIBLE = sorted(p.name for p in CORPUS.glob("*.hl7") if _supported(p.read_bytes().decode("utf-8")))
convertible = pytest.mark.parametrize("name", CONVERTIBLE)


def _references(value, found: list[str]) -> list[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.append(item)
            else:
                _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)
    return found


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.hl7") if p.name not in CONVERTIBLE))
def test_corpus_messages_of_other_types_are_unsupported(load, name: str) -> None:
    with pytest.raises(UnsupportedMessage):
        convert(load(name))


@convertible
def test_every_supported_corpus_message_converts_to_valid_r4_resources(load, name: str) -> None:
    result = convert(load(name))
    assert result.resources
    for resource in result.resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@convertible
def test_the_collection_bundle_validates_and_holds_every_resource(load, name: str) -> None:
    corpus_text = load(name)
    result = convert(corpus_text)
    bundle = result.bundle(base_url="https://holovitals.example/fhir")
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "collection"
    assert [e["resource"] for e in bundle["entry"]] == result.resources
    assert result.bundle() == convert(corpus_text).bundle()


@convertible
def test_converting_twice_gives_identical_output(load, name: str) -> None:
    corpus_text = load(name)
    first, second = convert(corpus_text), convert(corpus_text)
    assert first.resources == second.resources
    assert first.warnings == second.warnings


@convertible
def test_every_resource_has_a_fhir_id_and_the_message_meta(load, name: str) -> None:
    corpus_text = load(name)
    msg = parse(corpus_text)
    result = convert(msg)
    ids = [(r["resourceType"], r["id"]) for r in result.resources]
    assert len(ids) == len(set(ids))
    for resource in result.resources:
        assert FHIR_ID.match(resource["id"])
        meta = resource["meta"]
        assert INSTANT.match(meta["lastUpdated"])
        assert meta["source"].startswith("urn:hl7v2:")
        assert {"system": CONTROL_ID_SYSTEM, "code": msg.control_id} in meta["tag"]


@convertible
def test_references_point_at_resources_of_the_same_conversion(load, name: str) -> None:
    """Only the visit may live elsewhere: results and orders reference the ADT feed's Encounter."""
    result = convert(load(name))
    present = {f"{r['resourceType']}/{r['id']}" for r in result.resources}
    for reference in _references(result.resources, []):
        if reference.startswith("Encounter/") and not result.message_type.startswith("ADT"):
            continue
        assert reference in present, reference


@convertible
def test_patient_comes_first_and_is_the_result_patient(load, name: str) -> None:
    corpus_text = load(name)
    result = convert(corpus_text)
    assert result.resources[0]["resourceType"] == "Patient"
    assert result.patient_id in {r["id"] for r in result.by_type("Patient")}


@convertible
def test_warnings_never_carry_patient_values(load, name: str) -> None:
    corpus_text = load(name)
    msg = parse(corpus_text)
    values = set()
    for segment in msg.segments("PID"):
        for field in segment.fields[1:]:
            values.update(v for v in re.split(r"[\^~&]", field) if len(v) >= 4)
    for warning in convert(msg).warnings:
        assert not any(value in warning for value in values), warning


def test_z_segments_are_ignored_with_a_warning(load) -> None:
    result = convert(load("adt_a04_zsegments_v25.hl7"))
    assert {"ZPI segment (Z-segment) not mapped", "ZPV segment (Z-segment) not mapped"} <= set(result.warnings)
    assert result.by_type("Patient")


def test_acks_are_not_converted(load) -> None:
    with pytest.raises(UnsupportedMessage) as caught:
        convert(load("ack_aa_v251.hl7"))
    assert caught.value.message_type == "ACK"
    assert caught.value.outcome == "reject"


def test_the_corpus_covers_every_supported_message_type() -> None:
    corpus = Path(__file__).parent / "corpus"
    kinds = {parse(p.read_bytes().decode()).message_type for p in corpus.glob("*.hl7")}
    assert {kind for kind, _ in SUPPORTED} <= kinds
