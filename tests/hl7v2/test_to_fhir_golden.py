"""The converter's output for every corpus message, byte for byte, against reviewed goldens.

The converter is tuned for speed (caches, fast paths in the parser's value reads); this is what
keeps such work honest: resources, their key order and the warnings must not move. A change of
output that is meant goes with regenerated goldens, reviewed in the diff::

    .venv/bin/python tests/hl7v2/test_to_fhir_golden.py     # rewrites tests/hl7v2/golden/*.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from holovitals.hl7v2 import HL7Error
from holovitals.hl7v2.to_fhir import convert

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
GOLDEN = HERE / "golden"
MESSAGES = sorted(CORPUS.glob("*.hl7"))


def golden_text(path: Path) -> bytes:
    """The golden document of a corpus message: its resources and warnings, or the error it raises."""
    try:
        result = convert(path.read_bytes().decode("utf-8"))
    except HL7Error as error:
        document: dict = {"error": type(error).__name__, "message": str(error)}
    else:
        document = {"resources": result.resources, "warnings": result.warnings}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


@pytest.mark.parametrize("path", MESSAGES, ids=[p.stem for p in MESSAGES])
def test_conversion_matches_its_golden_byte_for_byte(path: Path) -> None:
    golden = GOLDEN / f"{path.stem}.json"
    assert golden.exists(), f"no golden for {path.name}: run this file to write it"
    assert golden_text(path) == golden.read_bytes()


def test_every_golden_belongs_to_a_corpus_message() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == [p.stem for p in MESSAGES]


if __name__ == "__main__":
    GOLDEN.mkdir(exist_ok=True)
    for stale in set(GOLDEN.glob("*.json")) - {GOLDEN / f"{p.stem}.json" for p in MESSAGES}:
        stale.unlink()
    for message in MESSAGES:
        (GOLDEN / f"{message.stem}.json").write_bytes(golden_text(message))
    print(f"wrote {len(MESSAGES)} goldens to {GOLDEN}", file=sys.stderr)
