"""Nothing acknowledged is ever lost: SIGKILL the listener mid-stream, restart it, count.

The listener runs as users run it (``python -m holovitals.cli hl7 listen``) in its own process; the
sender streams with retries, so it resends whatever was not acknowledged when the listener died.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from holovitals.hl7v2.client import MllpClient
from holovitals.hl7v2.mllp import encode
from holovitals.store.db import make_engine, session_factory
from holovitals.store.models import Hl7Message

COUNT = 300
UNREAD = 20


def message(i: int) -> str:
    return (
        f"MSH|^~\\&|LAB|GENHOSP|HV|HV|20240101120000||ADT^A01^ADT_A01|R{i:05d}|P|2.5.1\r"
        "EVN|A01|20240101120000\r"
        f"PID|1||P{i:05d}^^^GENHOSP^MR||DOE^JANE||19800101|F\r"
        "PV1|1|I|4W^401^A\r"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_listener(db_url: str, home: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")}
    env |= {"HOLOVITALS_DATABASE_URL": db_url, "HOLOVITALS_HOME": str(home), "HOLOVITALS_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "holovitals.cli", "hl7", "listen", "--port", str(port), "--stats-every", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    assert "listening" in line, line + proc.stdout.read()
    return proc


def stored_ids(sessions) -> list[str]:
    with sessions() as session:
        return list(session.execute(select(Hl7Message.control_id)).scalars())


def kill(listener: subprocess.Popen) -> None:
    listener.send_signal(signal.SIGKILL)  # no chance to finish anything
    listener.wait(10)


def test_every_acknowledged_message_survives_a_sigkill_and_resends_are_duplicates(db_url, tmp_path):
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    port = free_port()
    listener = start_listener(db_url, tmp_path, port)
    acked: list[str] = []
    failure: list[BaseException] = []
    sender = threading.Thread()

    def on_ack(_index: int, ack) -> None:
        assert ack.code == "AA"
        acked.append(ack.control_id)
        time.sleep(0.002)  # a steady stream, so the kill lands in the middle of it

    def stream() -> None:
        try:
            with MllpClient("127.0.0.1", port, timeout=5, retries=12, backoff=0.1) as client:
                client.send_many([message(i) for i in range(COUNT)], window=8, on_result=on_ack)
        except BaseException as exc:  # reported by the test thread
            failure.append(exc)

    try:
        # 1. Stored, but the sender never read the ACKs: the listener dies with them unread.
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"".join(encode(message(i)) for i in range(UNREAD)))
            deadline = time.monotonic() + 30
            while len(stored_ids(sessions)) < UNREAD and time.monotonic() < deadline:
                time.sleep(0.01)
            kill(listener)
        assert sorted(stored_ids(sessions)) == [f"R{i:05d}" for i in range(UNREAD)]
        listener = start_listener(db_url, tmp_path, port)

        # 2. The sender sends everything (the first UNREAD again) and the listener is killed mid-stream.
        sender = threading.Thread(target=stream)
        sender.start()
        while len(acked) < COUNT // 3 and sender.is_alive():
            time.sleep(0.005)
        kill(listener)
        acked_at_kill = list(acked)
        assert 0 < len(acked_at_kill) < COUNT  # killed mid-stream
        assert set(acked_at_kill) <= set(stored_ids(sessions))  # every ACK we saw was for a committed row

        # 3. Restarted, the listener takes the resends and finishes the killed one's backlog.
        listener = start_listener(db_url, tmp_path, port)
        sender.join(120)
        assert not failure, failure
        assert acked == [f"R{i:05d}" for i in range(COUNT)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sessions() as session:
                pending = session.execute(
                    select(func.count()).where(Hl7Message.duplicate_of.is_(None), Hl7Message.status != "TRANSFORMED")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.1)
        with sessions() as session:
            originals = session.execute(
                select(Hl7Message.control_id, Hl7Message.status).where(Hl7Message.duplicate_of.is_(None))
            ).all()
            duplicates = session.execute(
                select(Hl7Message.control_id, Hl7Message.status).where(Hl7Message.duplicate_of.is_not(None))
            ).all()
        assert sorted(c for c, _ in originals) == [f"R{i:05d}" for i in range(COUNT)]  # each once, none lost
        assert {s for _, s in originals} == {"TRANSFORMED"}
        assert {f"R{i:05d}" for i in range(UNREAD)} <= {c for c, _ in duplicates}  # detected by control id
        assert {s for _, s in duplicates} == {"FILTERED"}
    finally:
        listener.send_signal(signal.SIGINT)
        try:
            listener.wait(30)
        except subprocess.TimeoutExpired:
            listener.kill()
        if sender.is_alive():
            sender.join(5)
        engine.dispose()
