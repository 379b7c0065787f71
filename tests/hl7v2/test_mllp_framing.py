"""MLLP framing: whole frames out of whatever pieces TCP delivers, with bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from holovitals.hl7v2 import parse
from holovitals.hl7v2.mllp import (
    END_BLOCK,
    START_BLOCK,
    Frame,
    FrameReader,
    Junk,
    MllpFrameError,
    Oversized,
    decode,
    encode,
)

ADT = "MSH|^~\\&|APP|FAC|HV|HV|20240101000000||ADT^A01|CTRL1|P|2.5.1\rPID|1||123^^^FAC^MR||DOE^JANE\r"


def frames(events) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, Frame)]


def test_encode_wraps_the_message_in_start_and_end_blocks():
    assert encode(ADT) == b"\x0b" + ADT.encode() + b"\x1c\x0d"
    assert encode(parse(ADT)) == encode(ADT)


def test_decode_returns_the_payload_of_one_frame():
    assert decode(encode(ADT)) == ADT.encode()


@pytest.mark.parametrize("bad", [ADT.encode(), b"\x0b" + ADT.encode(), encode(ADT) + encode(ADT)])
def test_decode_refuses_anything_but_exactly_one_frame(bad):
    with pytest.raises(MllpFrameError):
        decode(bad)


def test_a_frame_split_across_reads_comes_out_once_complete():
    reader = FrameReader()
    wire = encode(ADT)
    assert reader.feed(wire[:10]) == []
    assert reader.pending == 10
    assert reader.feed(wire[10:-1]) == []
    assert frames(reader.feed(wire[-1:])) == [ADT.encode()]
    assert reader.pending == 0


def test_an_end_block_split_between_reads_is_still_found():
    reader = FrameReader()
    wire = encode(ADT)
    assert reader.feed(wire[:-1]) == []  # ends with 0x1C, the 0x0D follows
    assert frames(reader.feed(b"\r")) == [ADT.encode()]


def test_several_frames_in_one_read_come_out_in_order():
    wire = b"".join(encode(ADT.replace("CTRL1", f"C{i}")) for i in range(3))
    got = frames(FrameReader().feed(wire))
    assert [parse(g).control_id for g in got] == ["C0", "C1", "C2"]


def test_bytes_before_a_start_block_are_discarded_and_reported():
    events = FrameReader().feed(b"garbage" + encode(ADT))
    assert events == [Junk(7), Frame(ADT.encode())]


def test_whitespace_between_frames_is_dropped_silently():
    events = FrameReader().feed(encode(ADT) + b"\r\n" + encode(ADT))
    assert [type(e) for e in events] == [Frame, Frame]


def test_a_new_start_block_abandons_the_unfinished_frame():
    events = FrameReader().feed(b"\x0bMSH|partial" + encode(ADT))
    assert isinstance(events[0], Junk) and events[0].size == len(b"\x0bMSH|partial")
    assert frames(events) == [ADT.encode()]


def test_an_oversized_frame_is_refused_without_buffering_it():
    reader = FrameReader(max_frame_size=1024)
    chunk = b"X" * 4096
    events = reader.feed(START_BLOCK + ADT.encode() + chunk)
    assert len(events) == 1 and isinstance(events[0], Oversized)
    assert events[0].head.startswith(b"MSH|")  # enough to address the NAK
    for _ in range(100):  # 400 KB more of the same frame: nothing is kept
        assert reader.feed(chunk) == []
        assert len(reader._buffer) <= 1
    assert frames(reader.feed(b"tail" + END_BLOCK + encode(ADT))) == [ADT.encode()]


def test_reader_memory_stays_bounded_by_the_limit_plus_one_read():
    reader = FrameReader(max_frame_size=10_000)
    reader.feed(START_BLOCK)
    for _ in range(50):
        events = reader.feed(b"Y" * 1000)
        assert len(reader._buffer) <= 10_000 + 1000 + 1
        if events:
            assert isinstance(events[0], Oversized)
            break
    else:
        raise AssertionError("the oversized frame was never reported")


_PAYLOAD = st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b""))


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(_PAYLOAD, min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=50), max_size=40),
)
def test_any_way_of_cutting_the_stream_yields_the_same_frames(payloads, cuts):
    payloads = [p for p in payloads if p]
    wire = b"".join(encode(p) for p in payloads)
    reader, got, position = FrameReader(), [], 0
    for size in cuts:
        got += frames(reader.feed(wire[position : position + size]))
        position += size
    got += frames(reader.feed(wire[position:]))
    assert got == payloads
