"""`python -m holovitals.sandbox.generator --patients N [--seed S] --out DIR`: write NDJSON files."""

from __future__ import annotations

import argparse
import sys
import time

from . import generate_population, write_ndjson


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m holovitals.sandbox.generator",
        description="Write a synthetic US Core population as NDJSON, one file per type.",
    )
    parser.add_argument("--patients", type=int, default=100, help="number of patients (default 100)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    if args.patients < 0:
        parser.error("--patients must be >= 0")
    started = time.perf_counter()
    counts = write_ndjson(args.out, generate_population(args.patients, args.seed))
    elapsed = time.perf_counter() - started
    for kind, count in sorted(counts.items()):
        print(f"{kind:20} {count:>10,}")
    print(f"{'total':20} {sum(counts.values()):>10,}  in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
