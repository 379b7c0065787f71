"""HL7 v2 over MLLP, end to end: messages per second stored, acknowledged, converted and upserted.

    .venv/bin/python bench/mllp_throughput.py [--messages 20000] [--connections 4] [--window 32]
                                              [--workers 1] [--database-url URL]

The listener (``holovitals hl7 listen``, default channel: strict validation, FHIR store) and the
sender run in separate processes over loopback. The sender opens ``--connections`` connections
and keeps up to ``--window`` messages in flight on each (``MllpClient.send_many``); every message
is a distinct ADT^A01 (its own control id and patient). The clock starts when the sender starts
and stops when the last message is TRANSFORMED in the store (raw stored and acknowledged, FHIR
resources upserted). Then parse speed, ours against python-hl7, with ``bench/hl7_parse.py``.
The last line printed is JSON. ``--raw-only`` measures the store-and-acknowledge path alone (a
channel without destinations: nothing is converted).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import holovitals  # noqa: F401
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(HERE.parent / "src"))

from hl7_parse import ADT_A01, holovitals_work, python_hl7_work, rate  # noqa: E402

# Original-mode ACKs (AA): drop MSH-15/16 (AL/NE) of the parse benchmark's message.
TEMPLATE = ADT_A01.replace("|2.5.1|||AL|NE\r", "|2.5.1\r", 1)


def message(i: int) -> str:
    """ADT^A01 number i: its own control id (MSH-10) and patient (PID-3)."""
    return TEMPLATE.replace("MSG00001234", f"BENCH{i:08d}", 1).replace("E1234567", f"E{i:08d}", 1)


# ---------------------------------------------------------------- sender process


def sender(host: str, port: int, count: int, connections: int, window: int) -> None:
    from holovitals.hl7v2.client import MllpClient, prepare

    batches = [[prepare(message(i)) for i in range(c, count, connections)] for c in range(connections)]
    codes: dict[str, int] = {}
    lock = threading.Lock()

    def run(batch) -> None:
        with MllpClient(host, port, timeout=120, retries=2) as client:
            results = client.send_many(batch, window=window)
        with lock:
            for ack in results:
                codes[ack.code] = codes.get(ack.code, 0) + 1

    started = time.time()
    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"started": started, "acked": time.time(), "codes": codes}), flush=True)


# ---------------------------------------------------------------- orchestration


def tree_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a process and its children (Linux /proc; None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return None
    family, total = {pid}, 0
    for _ in range(3):  # children and grandchildren
        family |= {p for p, (ppid, _) in stats.items() if ppid in family}
    for p in family:
        total += stats.get(p, (0, 0))[1]
    return total / tick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finished(database_url: str, status: str) -> int:
    from sqlalchemy import text

    from holovitals.store.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            sql = "SELECT count(*) FROM hl7_messages WHERE status = :s AND processed_at IS NOT NULL"
            return conn.execute(text(sql), {"s": status}).scalar_one()
    finally:
        engine.dispose()


def run_mllp(args: argparse.Namespace, home: Path) -> dict:
    from holovitals.store import migrate
    from holovitals.store.db import make_engine

    database_url = args.database_url or f"sqlite:///{home / 'bench.db'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLOVITALS_")}
    env |= {"HOLOVITALS_HOME": str(home), "HOLOVITALS_DATABASE_URL": database_url, "HOLOVITALS_LOG_LEVEL": "WARNING"}
    listen = [sys.executable, "-m", "holovitals.cli", "hl7", "listen", "--host", "127.0.0.1", "--port", str(port),
              "--workers", str(args.workers), "--stats-every", "0"]  # fmt: skip
    status = "TRANSFORMED"
    if args.raw_only:  # a channel without destinations: stored and acknowledged, never converted
        (home / "channels.json").write_text(json.dumps([{"name": "raw", "destinations": []}]))
        listen += ["--channels", str(home / "channels.json")]
        status = "RECEIVED"
    listener = subprocess.Popen(listen, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = listener.stdout.readline()  # type: ignore[union-attr]
        if "listening" not in line:
            raise SystemExit(f"listener did not start: {line!r}")
        send = [sys.executable, __file__, "--sender", "127.0.0.1", str(port), str(args.messages),
                str(args.connections), str(args.window)]  # fmt: skip
        sending = subprocess.Popen(send, stdout=subprocess.PIPE, text=True)
        cpu_before = tree_cpu(listener.pid)
        deadline = time.time() + args.timeout
        done_at = None
        while time.time() < deadline:
            time.sleep(0.05)
            if sending.poll() is not None and finished(database_url, status) >= args.messages:
                done_at = time.time()
                break
        cpu_after = tree_cpu(listener.pid)
        report = json.loads(sending.communicate(timeout=60)[0].strip().splitlines()[-1])
        if done_at is None:
            raise SystemExit(f"not every message was {status} within {args.timeout} s")
    finally:
        listener.terminate()
        listener.wait(60)
    seconds = done_at - report["started"]
    where = "stored (no conversion)" if args.raw_only else "in the FHIR store"
    print(f"mllp: {args.messages} ADT^A01 over {args.connections} connections (window {args.window}, "
          f"{args.workers} conversion workers): all acknowledged after {report['acked'] - report['started']:.2f} s, "
          f"all {where} after {seconds:.2f} s; ACK codes {report['codes']}")  # fmt: skip
    if cpu_before is not None and cpu_after is not None:
        per_message = (cpu_after - cpu_before) / args.messages * 1e6
        print(f"listener CPU (all its processes): {per_message:.0f} us per message, "
              f"{(cpu_after - cpu_before) / seconds:.2f} cores busy on average")  # fmt: skip
    if report["codes"] != {"AA": args.messages}:
        raise SystemExit(f"unexpected ACK codes: {report['codes']}")
    return {"mllp_msgs_per_s": round(args.messages / seconds)}


def run_parse(seconds: float) -> dict:
    if holovitals_work(ADT_A01) != python_hl7_work(ADT_A01):
        raise SystemExit("the two parsers disagree")
    ours = statistics.median(rate(holovitals_work, seconds) for _ in range(3))
    theirs = statistics.median(rate(python_hl7_work, seconds) for _ in range(3))
    print(f"parse: holovitals {ours:,.0f}/s, python-hl7 {theirs:,.0f}/s")
    return {"parse_per_s": round(ours), "python_hl7_parse_per_s": round(theirs), "parse_ratio": round(ours / theirs, 1)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--sender":
        host, port, count, connections, window = sys.argv[2:7]
        sender(host, int(port), int(count), int(connections), int(window))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--window", type=int, default=32, help="messages in flight per connection")
    parser.add_argument("--workers", type=int, default=1, help="listener conversion worker processes")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--parse-seconds", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--raw-only", action="store_true", help="store and acknowledge only (no FHIR conversion)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_mllp(args, Path(tmp))
    if args.raw_only:
        print(json.dumps({"mllp_raw_msgs_per_s": result["mllp_msgs_per_s"]}))
        return
    result |= run_parse(args.parse_seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
