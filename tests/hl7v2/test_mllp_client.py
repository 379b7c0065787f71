"""The MLLP sender against a scripted receiver: reads to the end block, matches, retries, resends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from holovitals.hl7v2 import build_ack, parse
from holovitals.hl7v2.client import (
    MllpClient,
    MllpConnectionError,
    MllpTimeout,
    NegativeAck,
    prepare,
)
from holovitals.hl7v2.mllp import Frame, FrameReader, encode


def adt(control_id: str, tail: str = "") -> str:
    return f"MSH|^~\\&|LAB|GENHOSP|HV|HV|20240101120000||ADT^A01|{control_id}|P|2.5.1{tail}\rPID|1||P1||DOE^JANE\r"


def ack_for(payload: bytes, code: str = "AA", text: str | None = None) -> bytes:
    return encode(build_ack(parse(payload), code, text=text))


Behaviour = Callable[[socket.socket, bytes, int, int], None]


class FakeReceiver:
    """Accepts connections; for each frame calls ``behaviour(sock, payload, connection_no, frame_no)``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.received: list[bytes] = []
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        reader, frame_no = FrameReader(), 0
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for event in reader.feed(data):
                    if isinstance(event, Frame):
                        frame_no += 1
                        self.received.append(event.payload)
                        try:
                            self.behaviour(sock, event.payload, number, frame_no)
                        except (_Hangup, BrokenPipeError, ConnectionResetError):
                            return  # hung up on purpose, or the client dropped the connection first

    def close(self) -> None:
        self._stop = True
        self.server.close()


class _Hangup(Exception):
    pass


@pytest.fixture
def receiver():
    made: list[FakeReceiver] = []

    def _make(behaviour: Behaviour) -> FakeReceiver:
        made.append(FakeReceiver(behaviour))
        return made[-1]

    yield _make
    for r in made:
        r.close()


def test_an_ack_trickling_in_byte_by_byte_is_read_to_its_end_block(receiver):
    def slow(sock, payload, *_):
        for byte in ack_for(payload):
            sock.sendall(bytes([byte]))
            time.sleep(0.0005)

    r = receiver(slow)
    with MllpClient("127.0.0.1", r.port, timeout=5) as client:
        ack = client.send(adt("C1"))
    assert (ack.code, ack.control_id) == ("AA", "C1")


def test_a_nak_raises_with_the_receivers_reason(receiver):
    r = receiver(lambda sock, payload, *_: sock.sendall(ack_for(payload, "AE", "PID-3 required field missing")))
    with MllpClient("127.0.0.1", r.port) as client, pytest.raises(NegativeAck) as caught:
        client.send(adt("C1"))
    assert caught.value.ack.code == "AE"
    assert caught.value.ack.text == "PID-3 required field missing"
    assert len(r.received) == 1  # a NAK is an answer: not resent


def test_an_ack_for_another_control_id_is_not_taken_and_the_message_is_resent(receiver):
    def confused(sock, payload, connection, _frame):
        if connection == 1:
            sock.sendall(ack_for(payload.replace(b"|C1|", b"|OTHER|")))
        else:
            sock.sendall(ack_for(payload))

    r = receiver(confused)
    with MllpClient("127.0.0.1", r.port, retries=2, backoff=0.01) as client:
        assert client.send(adt("C1")).control_id == "C1"
        assert client.reconnects == 1
    assert len(r.received) == 2


def test_a_connection_lost_before_the_ack_is_reopened_and_the_message_resent(receiver):
    def drops_first(sock, payload, connection, _frame):
        if connection == 1:
            raise _Hangup  # stored it, maybe, but the ACK never leaves
        sock.sendall(ack_for(payload))

    r = receiver(drops_first)
    with MllpClient("127.0.0.1", r.port, retries=3, backoff=0.01) as client:
        assert client.send(adt("C1")).code == "AA"
    assert [parse(p).control_id for p in r.received] == ["C1", "C1"]  # same control id: a duplicate


def test_no_ack_in_time_after_every_retry_raises_timeout(receiver):
    r = receiver(lambda *_: None)
    with MllpClient("127.0.0.1", r.port, timeout=0.2, retries=1, backoff=0.01) as client, pytest.raises(MllpTimeout):
        client.send(adt("C1"))
    assert len(r.received) == 2


def test_nobody_listening_raises_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with MllpClient("127.0.0.1", port, retries=1, backoff=0.01) as client, pytest.raises(MllpConnectionError) as err:
        client.send(adt("C1"))
    assert f"127.0.0.1:{port}" in str(err.value)


def test_enhanced_mode_waits_for_the_application_ack_after_the_commit_ack(receiver):
    def enhanced(sock, payload, *_):
        sock.sendall(ack_for(payload, "CA"))
        time.sleep(0.05)
        sock.sendall(ack_for(payload, "AA"))

    r = receiver(enhanced)
    with MllpClient("127.0.0.1", r.port) as client:
        assert client.send(adt("E1", "|||AL|AL")).code == "AA"
        assert client.send(adt("E2", "|||AL|NE")).code == "CA"  # no application ACK asked for


def test_a_commit_reject_is_a_negative_ack(receiver):
    r = receiver(lambda sock, payload, *_: sock.sendall(ack_for(payload, "CR", "unsupported")))
    with MllpClient("127.0.0.1", r.port) as client, pytest.raises(NegativeAck) as caught:
        client.send(adt("E1", "|||AL|AL"))
    assert caught.value.ack.code == "CR"


def test_send_many_keeps_a_window_of_messages_in_flight(receiver):
    seen_before_first_ack: list[int] = []

    def batching(sock, payload, _connection, frame):
        # Answer only in groups of 5: a client waiting for each ACK would hang here.
        batching.pending.append(payload)
        if len(batching.pending) == 5:
            seen_before_first_ack.append(frame)
            for p in batching.pending:
                sock.sendall(ack_for(p))
            batching.pending.clear()

    batching.pending = []
    r = receiver(batching)
    messages = [adt(f"C{i}") for i in range(20)]
    results = []
    with MllpClient("127.0.0.1", r.port, timeout=5) as client:
        acks = client.send_many(messages, window=5, on_result=lambda i, a: results.append(i))
    assert [a.control_id for a in acks] == [f"C{i}" for i in range(20)]
    assert results == list(range(20))
    assert seen_before_first_ack[0] == 5


def test_send_many_resends_every_unacknowledged_message_after_a_drop(receiver):
    def drop_at_seven(sock, payload, connection, frame):
        if connection == 1 and frame == 7:
            raise _Hangup
        sock.sendall(ack_for(payload))

    r = receiver(drop_at_seven)
    messages = [adt(f"C{i:02d}") for i in range(12)]
    with MllpClient("127.0.0.1", r.port, backoff=0.01) as client:
        acks = client.send_many(messages, window=3)
    assert [a.control_id for a in acks] == [f"C{i:02d}" for i in range(12)]
    ids = [parse(p).control_id for p in r.received]
    assert set(ids) == {f"C{i:02d}" for i in range(12)}
    assert ids.count("C06") == 2  # the message whose ACK was lost went again


def test_send_many_returns_naks_without_stopping(receiver):
    def nak_odd(sock, payload, _connection, frame):
        sock.sendall(ack_for(payload, "AE" if frame % 2 else "AA"))

    r = receiver(nak_odd)
    with MllpClient("127.0.0.1", r.port) as client:
        acks = client.send_many([adt(f"C{i}") for i in range(4)], window=2)
    assert [a.code for a in acks] == ["AE", "AA", "AE", "AA"]


def test_prepare_sends_file_line_endings_as_carriage_returns():
    out = prepare(adt("C1").replace("\r", "\n"))
    assert b"\n" not in out.frame and out.frame.count(b"\r") == 3  # two segments + the end block
    assert out.control_id == "C1"


def test_prepare_refuses_a_message_without_control_id():
    from holovitals.hl7v2 import HL7ParseError

    with pytest.raises(HL7ParseError):
        prepare(adt(""))


def test_a_message_asking_for_no_ack_is_sent_without_waiting(receiver):
    r = receiver(lambda *_: None)  # rightly silent: MSH-15 NE, MSH-16 NE
    with MllpClient("127.0.0.1", r.port, timeout=5) as client:
        started = time.monotonic()
        assert client.send(adt("N1", "|||NE|NE")) is None
        acks = client.send_many([adt("N2", "|||NE|NE"), adt("N3", "|||NE|NE")], window=2)
        assert time.monotonic() - started < 2
    assert acks == [None, None]
    deadline = time.monotonic() + 5
    while len(r.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [parse(p).control_id for p in r.received] == ["N1", "N2", "N3"]


def test_no_commit_ack_but_an_application_ack_is_waited_for(receiver):
    r = receiver(lambda sock, payload, *_: sock.sendall(ack_for(payload, "AA")))
    with MllpClient("127.0.0.1", r.port, timeout=5) as client:
        assert client.send(adt("N4", "|||NE|AL")).code == "AA"


def test_a_send_that_fails_midway_loses_no_message(receiver):
    r = receiver(lambda sock, payload, *_: sock.sendall(ack_for(payload)))

    class Flaky:
        """The socket of the first connection: its fifth send fails as a reset connection does."""

        def __init__(self, sock):
            self.sock, self.sends = sock, 0

        def sendall(self, data):
            self.sends += 1
            if self.sends == 5:
                raise ConnectionResetError(104, "Connection reset by peer")
            return self.sock.sendall(data)

        def __getattr__(self, name):
            return getattr(self.sock, name)

    class FlakyClient(MllpClient):
        def connect(self):
            fresh = self._sock is None
            super().connect()
            if fresh and self.reconnects == 0:
                self._sock = Flaky(self._sock)

    with FlakyClient("127.0.0.1", r.port, backoff=0.01) as client:
        acks = client.send_many([adt(f"C{i}") for i in range(10)], window=3)
        assert client.reconnects == 1
    assert [a.control_id for a in acks] == [f"C{i}" for i in range(10)]
