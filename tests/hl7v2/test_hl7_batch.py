"""Batch files: FHS/BHS/BTS/FTS envelopes and plain runs of messages."""

from __future__ import annotations

import hl7
import pytest

from holovitals.hl7v2 import (
    HL7ParseError,
    HL7ValidationError,
    Message,
    build_batch,
    iter_messages,
    parse,
    parse_batch,
    split_messages,
)


def test_file_with_one_batch_yields_its_three_messages(load_batch) -> None:
    batch_file = parse_batch(load_batch("batch_fhs_bhs_three_messages.hl7"))
    assert batch_file.header is not None and batch_file.header.get(9) == "LAB-FILE-0001.hl7"
    assert [m.control_id for m in batch_file] == ["B1-MSG1", "B1-MSG2", "B1-MSG3"]
    (batch,) = batch_file.batches
    assert batch.header.get(11) == "BATCH0001"  # type: ignore[union-attr]
    assert batch.declared_count == 3
    assert batch_file.declared_count == 1


def test_file_with_two_batches_and_crlf_line_ends(load_batch) -> None:
    batch_file = parse_batch(load_batch("batch_two_batches_crlf.hl7"), strict=True)
    assert [len(b.messages) for b in batch_file.batches] == [1, 2]
    assert [m.trigger_event for m in batch_file.messages] == ["A04", "A08", "A08"]
    assert batch_file.messages[1]["PID-5.3"] == "L"


def test_messages_without_an_envelope_are_split_on_msh(load_batch) -> None:
    messages = list(iter_messages(load_batch("batch_bare_concatenated.hl7")))
    assert [m.control_id for m in messages] == ["POC-B-1", "POC-B-2"]
    assert messages[1]["OBX-5"] == "143"


def test_split_messages_returns_each_message_text_exactly(load_batch) -> None:
    text = load_batch("batch_fhs_bhs_three_messages.hl7")
    pieces = split_messages(text)
    assert len(pieces) == 3
    assert all(p.startswith("MSH|") and p.endswith("\r") for p in pieces)
    assert "".join(pieces) in text
    assert [str(parse(p)) for p in pieces] == pieces


def test_split_agrees_with_python_hl7(load_batch) -> None:
    text = load_batch("batch_fhs_bhs_three_messages.hl7")
    theirs = hl7.parse_file(text)
    their_ids = [str(m.segment("MSH")(10)) for batch in theirs for m in batch]
    assert [parse(p).control_id for p in split_messages(text)] == their_ids


def test_one_bad_message_can_be_recorded_without_losing_the_others() -> None:
    text = "\r".join([
        "BHS|^~\\&|A|B",
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|OK1|P|2.3",
        "MSH|^~|BROKEN",
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|OK2|P|2.3",
        "BTS|3",
    ])
    parsed, failed = [], []
    for piece in split_messages(text):
        try:
            parsed.append(parse(piece).control_id)
        except HL7ParseError as exc:
            failed.append(exc.code)
    assert parsed == ["OK1", "OK2"]
    assert failed == [102]


def test_strict_batch_checks_the_declared_count(load_batch) -> None:
    text = load_batch("batch_fhs_bhs_three_messages.hl7").replace("BTS|3", "BTS|4")
    assert len(parse_batch(text).messages) == 3
    with pytest.raises(HL7ValidationError) as caught:
        parse_batch(text, strict=True)
    assert caught.value.code == 102
    assert str(caught.value.location) == "BTS-1"


def test_segment_before_any_msh_is_a_parse_error() -> None:
    with pytest.raises(HL7ParseError, match="before any MSH"):
        split_messages("BHS|^~\\&|A\rPID|1||X\rBTS|0")


def test_build_batch_wraps_messages_and_reads_back() -> None:
    messages = [Message.create("ADT^A08", control_id=f"M{n}") for n in range(3)]
    for msg in messages:
        msg.add_segment("EVN", "A08")
    text = build_batch(messages, control_id="BATCH1")
    batch_file = parse_batch(text)
    assert [m.control_id for m in batch_file] == ["M0", "M1", "M2"]
    assert batch_file.batches[0].declared_count == 3
    assert text.startswith("FHS|^~\\&|HOLOVITALS|")
