"""How fast the sandbox EHR serves searches: the ceiling a sync benchmark must stay below.

    .venv/bin/python bench/sandbox_serve.py [--patients 1000] [--count 1000] [--runs 3]

The server runs in a separate process (uvicorn, one worker, loopback) over a generated population
(about 115 resources a patient, so ~115k for 1,000 patients). The client pages through a search
of every resource type on the plain `/fhir/r4` base with `_count=1000`, following next links,
with a plain httpx client, and checks it saw every resource once. The client reads only what
paging needs (see `read_page`); `--full-parse` parses every page as a sync client would, which on
a small machine makes the client, not the server, the bottleneck. Median over the runs; the last
line is JSON with ``served_per_s``. Target: at least 30,000 resources/s.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time

import httpx
import orjson

BASE = "/fhir/r4"


def serve(patients: int, seed: int) -> None:
    """Child process: load the population, print the port, serve until killed."""
    import uvicorn

    from holovitals.sandbox.app import create_sandbox_app
    from holovitals.sandbox.generator import generate_population
    from holovitals.sandbox.store import SandboxStore

    store = SandboxStore()
    loaded = store.load(generate_population(patients, seed))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"{sock.getsockname()[1]} {loaded}", flush=True)
    config = uvicorn.Config(create_sandbox_app(store), log_level="warning", access_log=False, workers=1)
    uvicorn.Server(config).run(sockets=[sock])


def read_page(content: bytes, full: bool) -> tuple[int, str | None]:
    """(entries, next url) of a searchset page.

    The lean way parses only the Bundle's head (total and links come before the entries) and
    counts entries by their fullUrl key, so the client does not become what is measured: a full
    parse of a 1 MB page costs more than the server spends producing it.
    """
    if full:
        bundle = orjson.loads(content)
        entries = len(bundle.get("entry", ()))
    else:
        cut = content.find(b',"entry":[')
        bundle = orjson.loads(content if cut < 0 else content[:cut] + b"}")
        entries = content.count(b'{"fullUrl":')
    return entries, next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def sweep(client: httpx.Client, counts: dict[str, int], page_size: int, full: bool) -> tuple[int, float]:
    """Page through every type once; returns (resources seen, seconds)."""
    seen = 0
    started = time.perf_counter()
    for rtype, expected in counts.items():
        url: str | None = f"{BASE}/{rtype}?_count={page_size}"
        got = 0
        while url:
            response = client.get(url)
            response.raise_for_status()
            entries, url = read_page(response.content, full)
            got += entries
        if got != expected:
            raise SystemExit(f"{rtype}: paged {got} resources, the server holds {expected}")
        seen += got
    return seen, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--count", type=int, default=1000, help="_count per page")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full-parse", action="store_true", help="parse every page completely, as a sync client does")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.patients, args.seed)
        return 0

    print(f"generating {args.patients} patients in the server process ...", file=sys.stderr)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--patients", str(args.patients), "--seed", str(args.seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline().split()
        if len(first) != 2:
            raise SystemExit("the server process did not start")
        port, loaded = int(first[0]), int(first[1])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(600):
                try:
                    if client.get(f"{BASE}/metadata").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            counts = client.get("/_sandbox/stats").json()["resources"]
            rates = []
            for run in range(1, args.runs + 1):
                seen, seconds = sweep(client, counts, args.count, args.full_parse)
                rates.append(seen / seconds)
                print(f"run {run}: {seen:,} resources in {seconds:.2f} s = {seen / seconds:,.0f}/s", file=sys.stderr)
    finally:
        child.terminate()
        child.wait(10)
    result = {
        "served_per_s": round(statistics.median(rates)),
        "resources": loaded,
        "patients": args.patients,
        "page_size": args.count,
        "client": "full-parse" if args.full_parse else "lean",
        "runs": [round(r) for r in rates],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
