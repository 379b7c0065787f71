"""The HL7 v2 corpus: every test that asks for ``corpus_file`` runs once per corpus message."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
MESSAGE_FILES = sorted(CORPUS.glob("*.hl7"))
BATCH_FILES = sorted((CORPUS / "batch").glob("*.hl7"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus_file" in metafunc.fixturenames:
        metafunc.parametrize("corpus_file", MESSAGE_FILES, ids=[p.stem for p in MESSAGE_FILES])


@pytest.fixture
def corpus_text(corpus_file: Path) -> str:
    return corpus_file.read_bytes().decode("utf-8")


@pytest.fixture
def load():
    """Read one corpus message by file name (exact text, line endings untouched)."""

    def _load(name: str) -> str:
        return (CORPUS / name).read_bytes().decode("utf-8")

    return _load


@pytest.fixture
def load_batch():
    def _load(name: str) -> str:
        return (CORPUS / "batch" / name).read_bytes().decode("utf-8")

    return _load
