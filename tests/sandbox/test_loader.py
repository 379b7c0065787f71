"""Loading FHIR files (NDJSON and Bundles) into the sandbox's record form."""

from __future__ import annotations

import gzip

import orjson
import pytest

from holovitals.sandbox.generator import generate_population, write_ndjson
from holovitals.sandbox.loader import LoadError, load_dir, load_file


def keyed(resources) -> dict[tuple[str, str], bytes]:
    return {(r["resourceType"], r["id"]): orjson.dumps(r) for r in resources}


def patient(pid: str, family: str = "Nguyễn") -> dict:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": ["Lan"]}]}


def test_generated_ndjson_round_trips_unchanged(tmp_path):
    population = list(generate_population(3, seed=9))
    write_ndjson(tmp_path, population)
    loaded = list(load_dir(tmp_path))
    assert len(loaded) == len(population)
    assert keyed(loaded) == keyed(population)


def test_bundle_folder_yields_entry_resources_of_every_bundle_type(tmp_path):
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": patient("a"), "request": {"method": "PUT", "url": "Patient/a"}},
            {"request": {"method": "DELETE", "url": "Patient/gone"}},
        ],
    }
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": patient("b"), "search": {"mode": "match"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}},
        ],
    }
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient("c")}]}
    (tmp_path / "nested").mkdir()
    (tmp_path / "1-transaction.json").write_bytes(orjson.dumps(transaction))
    (tmp_path / "2-searchset.json").write_bytes(orjson.dumps(searchset))
    (tmp_path / "nested" / "3-collection.json").write_bytes(orjson.dumps(collection))
    (tmp_path / "4-single.json").write_bytes(orjson.dumps(patient("d")))
    assert [r["id"] for r in load_dir(tmp_path)] == ["a", "b", "d", "c"]


def test_files_that_are_not_fhir_are_skipped(tmp_path):
    manifest = {"transactionTime": "2026-01-01T00:00:00Z", "output": [{"type": "Patient", "url": "x"}]}
    (tmp_path / "manifest.json").write_bytes(orjson.dumps(manifest))
    (tmp_path / "README.txt").write_text("not data")
    (tmp_path / "Patient.ndjson").write_bytes(orjson.dumps(patient("a")) + b"\n\n")
    assert [r["id"] for r in load_dir(tmp_path)] == ["a"]


def test_gzipped_ndjson_loads(tmp_path):
    (tmp_path / "Patient.ndjson.gz").write_bytes(gzip.compress(orjson.dumps(patient("z")) + b"\n"))
    assert [r["id"] for r in load_dir(tmp_path)] == ["z"]


def test_malformed_ndjson_line_names_file_and_line_without_quoting_data(tmp_path):
    good = orjson.dumps(patient("a", family="Ramírez"))
    bad = '{"resourceType": "Patient", "id": "b", "name": [{"family": "Ramírez"'.encode()
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(good + b"\n" + good + b"\n\n" + bad + b"\n")
    with pytest.raises(LoadError) as caught:
        list(load_dir(tmp_path))
    error = caught.value
    assert error.path == path and error.line == 4
    assert str(error).startswith(f"{path}:4: invalid JSON")
    assert "Ramírez" not in str(error)


def test_ndjson_line_that_is_not_a_resource_is_an_error(tmp_path):
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(orjson.dumps(patient("a")) + b"\n" + b'{"id": "x"}\n')
    with pytest.raises(LoadError, match=r"Observation\.ndjson:2: line is not a FHIR resource"):
        list(load_file(path))


def test_malformed_bundle_reports_the_line_of_the_syntax_error(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text('{\n  "resourceType": "Bundle",\n  "entry": [\n    {"resource": }\n  ]\n}\n')
    with pytest.raises(LoadError) as caught:
        list(load_dir(tmp_path))
    assert caught.value.line == 4 and "bundle.json:4:" in str(caught.value)


def test_bundle_entry_that_is_not_a_resource_is_an_error(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]}))
    with pytest.raises(LoadError, match=r"entry\[0\]\.resource is not a FHIR resource"):
        list(load_dir(tmp_path))


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(LoadError, match="no such file or folder"):
        list(load_dir(tmp_path / "absent"))


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    (tmp_path / "Patient.ndjson.gz").write_bytes(b"not gzip at all")
    with pytest.raises(LoadError, match="not a valid gzip file"):
        list(load_dir(tmp_path))
