"""The MLLP listener: stored before acknowledged, NAKs with reasons, duplicates, bad connections isolated."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import ssl
import threading
import time

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from holovitals.hl7v2 import parse, parse_ack
from holovitals.hl7v2 import pipeline as pipeline_module
from holovitals.hl7v2.channels import Channel
from holovitals.hl7v2.client import MllpClient, NegativeAck
from holovitals.hl7v2.mllp import END_BLOCK, START_BLOCK, Frame, FrameReader, encode
from holovitals.hl7v2.server import BackgroundListener
from holovitals.store.models import Connection, Hl7Message, Resource

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def adt(control_id: str = "C1", patient: str = "P100", *, header_tail: str = "") -> str:
    """A small ADT^A01 that passes strict validation and converts to FHIR."""
    return (
        f"MSH|^~\\&|LAB|GENHOSP|HV|HV|20240101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1{header_tail}\r"
        "EVN|A01|20240101120000\r"
        f"PID|1||{patient}^^^GENHOSP^MR||DOE^JANE||19800101|F\r"
        "PV1|1|I|4W^401^A\r"
    )


@pytest.fixture
def listen(ctx):
    """Start listeners on free ports; all are stopped at the end of the test."""
    started: list[BackgroundListener] = []

    def _listen(*channels: Channel, **options) -> BackgroundListener:
        bg = BackgroundListener(ctx.sessions, list(channels) or [Channel(port=0)], **options).start()
        started.append(bg)
        return bg

    yield _listen
    for bg in started:
        bg.stop()


def rows(ctx) -> list[Hl7Message]:
    with ctx.sessions() as session:
        return list(session.execute(select(Hl7Message).order_by(Hl7Message.pk)).scalars())


def raw_exchange(port: int, data: bytes, *, expect: int | None = None) -> tuple[list[bytes], bool]:
    """Send bytes, read frames until ``expect`` arrived, the server closes or goes quiet: (frames, closed)."""
    reader, got = FrameReader(), []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.settimeout(1.0)
        while expect is None or len(got) < expect:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return got, False
            if not chunk:
                return got, True
            got += [e.payload for e in reader.feed(chunk) if isinstance(e, Frame)]
    return got, False


# ---------------------------------------------------------------- the ACK follows the commit


def test_the_ack_arrives_only_after_the_message_is_committed(ctx, listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        ack = client.send(adt("C1"))
        stored = rows(ctx)  # read by another connection the moment the ACK is in
    assert ack.code == "AA" and ack.control_id == "C1"
    assert len(stored) == 1
    assert stored[0].control_id == "C1" and stored[0].ack_code == "AA"
    assert stored[0].raw == adt("C1")


def test_an_accepted_message_is_converted_into_the_channels_hl7v2_connection(ctx, listen):
    bg = listen(Channel(name="adt-in", port=0))
    with MllpClient("127.0.0.1", bg.port) as client:
        client.send(adt("C1", "P100"))
    assert bg.wait_idle()
    (row,) = rows(ctx)
    assert (row.status, row.channel, row.patient_id, row.error) == ("TRANSFORMED", "adt-in", "P100", None)
    assert row.processed_at is not None
    with ctx.sessions() as session:
        conn = session.execute(select(Connection).where(Connection.kind == "hl7v2")).scalar_one()
        types = session.execute(select(Resource.resource_type).where(Resource.connection_id == conn.id)).scalars()
        assert conn.name == "hl7v2:adt-in"
        assert "Patient" in set(types)


def test_a_resent_control_id_is_acked_again_marked_duplicate_and_not_converted_twice(ctx, listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(adt("SAME")).code == "AA"
        assert bg.wait_idle()
        with ctx.sessions() as session:
            before = session.execute(select(Resource.resource_id, Resource.local_version)).all()
        assert client.send(adt("SAME")).code == "AA"  # the sender never saw our first ACK
    assert bg.wait_idle()
    first, second = rows(ctx)
    assert (second.duplicate_of, second.status) == (first.pk, "FILTERED")
    assert first.status == "TRANSFORMED"
    with ctx.sessions() as session:
        assert session.execute(select(Resource.resource_id, Resource.local_version)).all() == before


@SQLITE_ONLY
def test_the_same_control_id_from_another_facility_is_not_a_duplicate(ctx, listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        client.send(adt("SAME"))
        client.send(adt("SAME").replace("|LAB|GENHOSP|", "|LAB|OTHERHOSP|", 1))
    assert [r.duplicate_of for r in rows(ctx)] == [None, None]


@SQLITE_ONLY
def test_pipelined_messages_are_acked_in_order(ctx, listen):
    bg = listen()
    messages = [adt(f"C{i:03d}", f"P{i:03d}") for i in range(60)]
    with MllpClient("127.0.0.1", bg.port) as client:
        acks = client.send_many(messages, window=16)
    assert [a.control_id for a in acks] == [f"C{i:03d}" for i in range(60)]
    assert {a.code for a in acks} == {"AA"}
    assert bg.wait_idle()
    assert {r.status for r in rows(ctx)} == {"TRANSFORMED"}


def test_with_conversion_workers_pipelined_senders_get_every_ack_in_order_and_the_store_keeps_arrival_order(
    ctx, listen
):
    # Under load messages wait while the worker is busy and leave as one batch: nothing may be lost,
    # reordered or acknowledged before it is stored, on each connection and across them.
    bg = listen(Channel(port=0), workers=1)
    results: dict[int, list] = {}

    def send(connection: int) -> None:
        messages = [adt(f"W{connection}-{i:03d}", f"P{connection}{i:03d}") for i in range(150)]
        with MllpClient("127.0.0.1", bg.port) as client:
            results[connection] = client.send_many(messages, window=48)

    threads = [threading.Thread(target=send, args=(c,)) for c in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for connection in range(3):
        acks = results[connection]
        assert [a.control_id for a in acks] == [f"W{connection}-{i:03d}" for i in range(150)]
        assert {a.code for a in acks} == {"AA"}
    assert bg.wait_idle(60)
    stored = rows(ctx)
    assert len(stored) == 450 and {r.status for r in stored} == {"TRANSFORMED"}
    for connection in range(3):
        mine = [r.control_id for r in stored if r.control_id.startswith(f"W{connection}-")]
        assert mine == [f"W{connection}-{i:03d}" for i in range(150)]  # pk order is arrival order


@SQLITE_ONLY
def test_a_stop_converts_every_message_stored_before_it_in_arrival_order(ctx, listen):
    # ACKs do not wait for conversion, so when the listener stops many stored messages are still
    # waiting for the worker: the stop finishes them all.
    bg = listen(Channel(port=0), workers=1)
    messages = [adt(f"S{i:04d}", f"P{i:04d}") for i in range(1000)]
    sock = socket.create_connection(("127.0.0.1", bg.port), timeout=10)
    try:
        sock.sendall(b"".join(encode(m) for m in messages))
        deadline = time.monotonic() + 30
        while not rows(ctx) and time.monotonic() < deadline:  # the first group is committed
            time.sleep(0.01)
        at_stop = rows(ctx)
        bg.stop()
    finally:
        sock.close()
    received = bg.listener.servers[0].stats.frames
    stored = rows(ctx)
    assert sum(r.status == "TRANSFORMED" for r in at_stop) < received  # the stop really had work to finish
    assert [r.control_id for r in stored] == [f"S{i:04d}" for i in range(received)]  # every one, in order
    assert {r.status for r in stored} == {"TRANSFORMED"}


@SQLITE_ONLY
@pytest.mark.parametrize("restart", ["restarts", "cannot-restart"])
def test_a_conversion_worker_killed_mid_stream_loses_no_message(ctx, listen, monkeypatch, restart):
    bg = listen(Channel(port=0), workers=1)
    if restart == "cannot-restart":  # e.g. the machine is out of processes: the listener converts itself

        def no_pool():
            raise OSError("cannot start a process")

        monkeypatch.setattr(bg.pipeline, "_new_pool", no_pool)
    with MllpClient("127.0.0.1", bg.port) as client, capture_logs() as logs:
        first = client.send_many([adt(f"K{i:03d}", f"P{i:03d}") for i in range(100)], window=32)
        for process in bg.pipeline._pool._processes.values():  # the real worker process, killed
            os.kill(process.pid, signal.SIGKILL)
        rest = client.send_many([adt(f"K{i:03d}", f"P{i:03d}") for i in range(100, 300)], window=32)
        assert bg.wait_idle(60)
    assert {a.code for a in first + rest} == {"AA"}
    events = {e["event"] for e in logs}
    assert "hl7 conversion workers failed; starting new ones" in events
    assert ("hl7 conversion workers cannot start; converting in the listener" in events) == (restart != "restarts")
    kind = "ProcessPoolExecutor" if restart == "restarts" else "ThreadPoolExecutor"
    assert type(bg.pipeline._pool).__name__ == kind  # the listener goes on converting, in processes if it can
    stored = rows(ctx)
    assert [r.control_id for r in stored] == [f"K{i:03d}" for i in range(300)]
    assert {r.status for r in stored} == {"TRANSFORMED"}


@pytest.fixture
def held_conversion(monkeypatch):
    """Conversion that waits until the test lets it go: a converter slower than any sender, on demand."""
    release = threading.Event()
    convert = pipeline_module.convert_batch

    def held(texts: list[str]):
        release.wait(30)
        return convert(texts)

    monkeypatch.setattr(pipeline_module, "convert_batch", held)
    yield release
    release.set()


@SQLITE_ONLY
def test_the_ack_waits_for_the_commit_not_for_conversion(ctx, listen, held_conversion):
    bg = listen()  # the intake thread converts, and it is held
    messages = [adt(f"A{i:02d}", f"P{i:02d}") for i in range(20)]
    with MllpClient("127.0.0.1", bg.port) as client:
        acks = client.send_many(messages, window=20)
    assert [(a.code, a.control_id) for a in acks] == [("AA", f"A{i:02d}") for i in range(20)]
    assert {r.status for r in rows(ctx)} == {"RECEIVED"}  # stored, acknowledged, not converted yet
    held_conversion.set()
    assert bg.wait_idle()
    assert [(r.control_id, r.status) for r in rows(ctx)] == [(f"A{i:02d}", "TRANSFORMED") for i in range(20)]


@SQLITE_ONLY
def test_while_conversion_lags_connections_are_not_read_and_nothing_is_lost(ctx, listen, held_conversion, monkeypatch):
    monkeypatch.setattr(pipeline_module, "MAX_UNSETTLED", 30)
    monkeypatch.setattr(pipeline_module, "RESUME_BELOW", 10)
    bg = listen()
    messages = [adt(f"B{i:03d}", f"P{i:03d}") for i in range(200)]
    reader, acks = FrameReader(), []

    def read_acks(until: int) -> None:
        with contextlib.suppress(TimeoutError):
            while len(acks) < until and (chunk := sock.recv(65536)):
                acks.extend(e.payload for e in reader.feed(chunk) if isinstance(e, Frame))

    with socket.create_connection(("127.0.0.1", bg.port), timeout=10) as sock:
        sock.sendall(b"".join(encode(m) for m in messages))  # all at once: one read holds them all
        sock.settimeout(1.0)
        read_acks(len(messages))  # until the listener goes quiet
        # Conversion is held: once 30 acknowledged messages wait for it, the rest wait unread.
        assert len(acks) == 31 and len(rows(ctx)) == 31
        held_conversion.set()
        sock.settimeout(10)
        read_acks(len(messages))
    assert [parse_ack(a).control_id for a in acks] == [f"B{i:03d}" for i in range(200)]
    assert {parse_ack(a).code for a in acks} == {"AA"}
    assert bg.wait_idle()
    stored = rows(ctx)
    assert [r.control_id for r in stored] == [f"B{i:03d}" for i in range(200)]
    assert {r.status for r in stored} == {"TRANSFORMED"}


@SQLITE_ONLY
def test_enhanced_mode_gets_a_commit_ack_then_the_application_ack(ctx, listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        ack = client.send(adt("E1", header_tail="|||AL|AL"))
    assert ack.code == "AA"  # the application ACK, after processing
    assert rows(ctx)[0].ack_code == "CA"  # what the commit ACK said


@SQLITE_ONLY
def test_enhanced_mode_without_application_ack_ends_with_the_commit_ack(listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(adt("E2", header_tail="|||AL|NE")).code == "CA"


@SQLITE_ONLY
def test_enhanced_mode_honours_a_sender_that_wants_only_the_application_ack(ctx, listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(adt("E3", header_tail="|||NE|AL")).code == "AA"
        assert client.send(adt("E4", header_tail="|||NE|NE")) is None  # no ACK of any kind
    deadline = time.monotonic() + 10
    while [r.status for r in rows(ctx)] != ["TRANSFORMED", "TRANSFORMED"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(r.control_id, r.status) for r in rows(ctx)] == [("E3", "TRANSFORMED"), ("E4", "TRANSFORMED")]


# ---------------------------------------------------------------- refusals


def test_a_message_failing_validation_is_stored_as_error_and_answered_ae(ctx, listen):
    bg = listen()
    bad = adt("V1").replace("P100^^^GENHOSP^MR", "")
    with MllpClient("127.0.0.1", bg.port) as client, pytest.raises(NegativeAck) as caught:
        client.send(bad)
    assert caught.value.ack.code == "AE"
    assert "PID-3" in caught.value.ack.text
    (row,) = rows(ctx)
    assert (row.status, row.ack_code, row.raw) == ("ERROR", "AE", bad)
    assert "PID-3 required field missing" in row.error


@SQLITE_ONLY
def test_an_unsupported_version_is_rejected_with_ar(listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client, pytest.raises(NegativeAck) as caught:
        client.send(adt("V2").replace("|2.5.1\r", "|9.9\r", 1))
    assert caught.value.ack.code == "AR"
    assert "MSH-12" in caught.value.ack.text


@SQLITE_ONLY
def test_a_lenient_channel_accepts_what_strict_validation_refuses_and_records_the_conversion_error(ctx, listen):
    bg = listen(Channel(port=0, strict=False))
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(adt("V3").replace("P100^^^GENHOSP^MR", "")).code == "AA"
    assert bg.wait_idle()
    (row,) = rows(ctx)
    assert row.status == "ERROR" and "PID-3" in row.error


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"hello, this is not HL7", "does not start with an MSH segment"),
        (b"PID|1||123\rPV1|1|I\r", "does not start with an MSH segment"),
        (b"MSHA^~\\&A" + adt()[9:].encode(), "field separator"),
        (b"MSH\rPID|1||123\r", "truncated before the field separator"),
    ],
    ids=["garbage", "missing-msh", "wrong-field-separator", "bare-msh"],
)
def test_unreadable_text_gets_ar_is_stored_as_error_and_the_listener_keeps_serving(ctx, listen, payload, reason):
    bg = listen()
    frames, _ = raw_exchange(bg.port, encode(payload), expect=1)
    ack = parse_ack(frames[0])
    assert ack.code == "AR" and reason in ack.text
    (row,) = rows(ctx)
    assert row.status == "ERROR" and reason in row.error
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(adt("AFTER")).code == "AA"


@SQLITE_ONLY
def test_a_frame_the_reader_trips_on_gets_ar_and_the_frames_around_it_go_on(ctx, listen, monkeypatch):
    # A reader bug (simulated: no real input is known to trip it) must cost only its own frame.
    from holovitals.hl7v2 import intake as intake_module

    read = intake_module._intake

    def buggy(payload: bytes, options):
        if b"TRIP" in payload:
            raise IndexError("a reader bug")
        return read(payload, options)

    monkeypatch.setattr(intake_module, "_intake", buggy)
    bg = listen()
    frames, closed = raw_exchange(bg.port, b"".join(encode(adt(c, "P1")) for c in ("OK1", "TRIP", "OK2")), expect=3)
    assert [(a.code, a.control_id) for a in map(parse_ack, frames)] == [("AA", "OK1"), ("AR", "TRIP"), ("AA", "OK2")]
    assert "internal error: IndexError" in parse_ack(frames[1]).text and not closed
    assert bg.wait_idle()
    stored = [(r.control_id, r.status) for r in rows(ctx)]
    assert stored == [("OK1", "TRANSFORMED"), ("TRIP", "ERROR"), ("OK2", "TRANSFORMED")]


@SQLITE_ONLY
def test_binary_data_closes_the_connection_stores_nothing_and_is_logged(ctx, listen):
    bg = listen()
    with capture_logs() as logs:
        frames, closed = raw_exchange(bg.port, encode(b"\x00\x01\x02\xff\xfe binary"))
    assert frames == [] and closed
    assert rows(ctx) == []
    assert any("NUL bytes" in (entry.get("reason") or "") for entry in logs)
    with MllpClient("127.0.0.1", bg.port) as client:
        assert client.send(adt("AFTER")).code == "AA"


@SQLITE_ONLY
def test_invalid_utf8_in_a_message_declaring_utf8_is_rejected(ctx, listen):
    bg = listen()
    text = adt("U1", header_tail="||||||UNICODE UTF-8").replace("DOE^JANE", "DOE^J\x00NE")
    payload = text.encode().replace(b"\x00", b"\xff\xfe")
    frames, _ = raw_exchange(bg.port, encode(payload), expect=1)
    ack = parse_ack(frames[0])
    assert ack.code == "AR" and "not valid UTF-8" in ack.text
    assert rows(ctx)[0].status == "ERROR"


@SQLITE_ONLY
def test_a_connection_closed_mid_frame_stores_nothing(ctx, listen):
    bg = listen()
    with capture_logs() as logs:
        with socket.create_connection(("127.0.0.1", bg.port)) as sock:
            sock.sendall(encode(adt("T1"))[:-20])
        deadline = time.monotonic() + 5
        while bg.listener.servers[0].stats.truncated == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert any("mid-frame" in entry["event"] for entry in logs)
    with MllpClient("127.0.0.1", bg.port) as client:
        client.send(adt("T2"))
    assert [r.control_id for r in rows(ctx)] == ["T2"]


@SQLITE_ONLY
def test_junk_before_a_frame_is_discarded_and_the_frame_acked(ctx, listen):
    bg = listen()
    frames, _ = raw_exchange(bg.port, b"\x00junk" + encode(adt("J1")), expect=1)
    assert parse_ack(frames[0]).code == "AA"
    assert [r.control_id for r in rows(ctx)] == ["J1"]


@SQLITE_ONLY
def test_a_100_mb_frame_is_refused_while_another_client_gets_its_aa(ctx, listen):
    bg = listen()
    outcome: dict = {}

    def flood() -> None:
        reader = FrameReader()
        with socket.create_connection(("127.0.0.1", bg.port), timeout=30) as sock:
            sent = 0
            try:
                sock.sendall(START_BLOCK + adt("BIG").encode())
                chunk = b"X" * (1024 * 1024)
                for _ in range(100):  # 100 MB, never ended
                    sock.sendall(chunk)
                    sent += 1
                sock.sendall(END_BLOCK)
            except OSError:
                pass
            outcome["sent_mb"] = sent
            try:
                while data := sock.recv(65536):
                    outcome.setdefault("frames", []).extend(
                        e.payload for e in reader.feed(data) if isinstance(e, Frame)
                    )
            except OSError:
                pass

    flooder = threading.Thread(target=flood)
    flooder.start()
    with MllpClient("127.0.0.1", bg.port) as client:  # concurrently: served as usual
        assert client.send(adt("SMALL")).code == "AA"
    flooder.join(60)
    assert outcome["sent_mb"] < 100  # refused and closed long before the end of the frame
    ack = parse_ack(outcome["frames"][0])
    assert (ack.code, ack.control_id) == ("AR", "BIG")
    assert "message too large" in ack.text
    assert [r.control_id for r in rows(ctx)] == ["SMALL"]
    assert bg.listener.servers[0].stats.oversized == 1


@SQLITE_ONLY
def test_an_idle_connection_is_closed(listen):
    bg = listen(Channel(port=0, idle_timeout=0.3))
    with socket.create_connection(("127.0.0.1", bg.port), timeout=5) as sock:
        assert sock.recv(10) == b""  # closed by the listener


@SQLITE_ONLY
def test_when_the_store_fails_the_sender_gets_ae_not_aa(ctx, listen, monkeypatch):
    import holovitals.hl7v2.pipeline as pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "insert_messages", broken)
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client, pytest.raises(NegativeAck) as caught:
        client.send(adt("S1"))
    assert caught.value.ack.code == "AE"
    assert "could not be stored" in caught.value.ack.text


@SQLITE_ONLY
def test_tls_listener(ctx, listen, tmp_path):
    cert, key = _self_signed(tmp_path)
    bg = listen(Channel(port=0, tls_cert=str(cert), tls_key=str(key)))
    context = ssl.create_default_context(cafile=str(cert))
    with MllpClient("localhost", bg.port, tls=context) as client:
        assert client.send(adt("TLS1")).code == "AA"
    with socket.create_connection(("127.0.0.1", bg.port)) as sock:  # plain text is not served
        sock.sendall(encode(adt("PLAIN")))
        sock.settimeout(5)
        assert b"MSA" not in sock.recv(65536)
    assert [r.control_id for r in rows(ctx)] == ["TLS1"]


def _self_signed(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@SQLITE_ONLY
def test_counts_reflect_what_happened(ctx, listen):
    bg = listen()
    with MllpClient("127.0.0.1", bg.port) as client:
        client.send(adt("K1"))
        client.send(adt("K1"))
        with pytest.raises(NegativeAck):
            client.send(adt("K2").replace("P100^^^GENHOSP^MR", ""))
    assert bg.wait_idle()
    counts = bg.listener.counts()["default"]
    assert counts["received"] == 3 and counts["accepted"] == 2 and counts["duplicates"] == 1
    assert counts["refused"] == 1 and counts["transformed"] == 1
    with ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(Hl7Message)).scalar_one() == 3


@SQLITE_ONLY
def test_parse_of_the_ack_matches_the_message(listen):
    bg = listen()
    frames, _ = raw_exchange(bg.port, encode(adt("M1")), expect=1)
    ack = parse(frames[0])
    assert ack.get("MSA-2") == "M1" and ack.message_type == "ACK"
    assert ack.get("MSH-5") == "LAB" and ack.get("MSH-6") == "GENHOSP"  # addressed back to the sender
