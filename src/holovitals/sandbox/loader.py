"""Load FHIR data from files into the record form the generator produces: plain resource dicts.

`load_dir(path)` walks a folder (recursively, in sorted path order) or reads a single file:

- `*.ndjson` (Bulk Data output, `write_ndjson` output): one resource per line; blank lines are
  ignored. Every other line must be a JSON object with a `resourceType`.
- `*.json`: a Bundle of any type (transaction, batch, collection, searchset, history, document)
  yields each `entry.resource`; entries without one (a history DELETE) and searchset
  `outcome` entries are skipped. A single resource yields itself. A JSON object that is not a
  resource at all (a Bulk Data manifest, a `package.json`) is skipped.
- Either may be gzip-compressed (`*.ndjson.gz`, `*.json.gz`). Other files are ignored.

Malformed input raises `LoadError` naming the file and line (and column for JSON syntax errors).
The message never quotes file content: a bad line in a patient export is still patient data.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
JSON_SUFFIXES = (".json", ".json.gz")


class LoadError(ValueError):
    """A file could not be read as FHIR. `path` and `line` (1-based, or None) locate the problem."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise LoadError(path, None, f"not a valid gzip file ({type(exc).__name__})") from None
    return data.removeprefix(b"\xef\xbb\xbf")  # some Windows tools write a UTF-8 BOM


def _parse(path: Path, data: bytes, line: int | None) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # exc.msg is orjson's own wording and quotes no input; still, keep to line and column.
        raise LoadError(path, line or exc.lineno, f"invalid JSON at column {exc.colno}") from None


def _load_ndjson(path: Path) -> Iterator[dict]:
    for number, raw in enumerate(_read(path).split(b"\n"), start=1):
        if not raw.strip():
            continue
        resource = _parse(path, raw, number)
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise LoadError(path, number, "line is not a FHIR resource (a JSON object with resourceType)")
        yield resource


def _load_json(path: Path) -> Iterator[dict]:
    document = _parse(path, _read(path), None)
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        log.info("skipping %s: not a FHIR resource", path)
        return
    if document["resourceType"] != "Bundle":
        yield document
        return
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        raise LoadError(path, None, "Bundle.entry is not a list")
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise LoadError(path, None, f"Bundle.entry[{position}] is not an object")
        resource = entry.get("resource")
        if resource is None:
            continue  # e.g. a DELETE in a transaction or history Bundle
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise LoadError(path, None, f"Bundle.entry[{position}].resource is not a FHIR resource")
        if (entry.get("search") or {}).get("mode") == "outcome":
            continue  # an OperationOutcome about the search, not data
        yield resource


def load_file(path: str | Path) -> Iterator[dict]:
    """Resources from one `.ndjson` or `.json` file (optionally gzip-compressed)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(NDJSON_SUFFIXES):
        yield from _load_ndjson(path)
    elif name.endswith(JSON_SUFFIXES):
        yield from _load_json(path)
    else:
        raise LoadError(path, None, "not a .json or .ndjson file")


def load_dir(path: str | Path) -> Iterator[dict]:
    """Every resource in a folder of Bundles and NDJSON files (or in one such file)."""
    root = Path(path)
    if root.is_file():
        yield from load_file(root)
        return
    if not root.is_dir():
        raise LoadError(root, None, "no such file or folder")
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        if file.name.lower().endswith(NDJSON_SUFFIXES + JSON_SUFFIXES):
            yield from load_file(file)
