"""Conversion speed: one typical ADT^A01 (the message ``bench/mllp_throughput.py`` sends) to FHIR R4.

Each round converts the message ``--count`` times from its text (parse included, as the listener's
intake does); the median over ``--rounds`` rounds is reported as microseconds per message and
messages per second on one core. Rounds are timed in process CPU time, not wall time: the bench
machines are shared, and a busy neighbour inflated wall-clock rounds by up to 40 % where CPU time
moved a few percent. ``--corpus FILE`` converts a corpus message instead. The last line printed
is JSON.

Run from the repository root: ``.venv/bin/python bench/hl7_convert.py [--count 2000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import holovitals  # noqa: F401
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(HERE.parent / "src"))

from hl7_parse import ADT_A01  # noqa: E402

from holovitals.hl7v2.to_fhir import convert  # noqa: E402


def round_us(text: str, count: int) -> float:
    """CPU microseconds per conversion over one round of ``count`` conversions."""
    start = time.process_time()
    for _ in range(count):
        convert(text)
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="conversions per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--corpus", type=Path, help="convert this message file instead of the MLLP bench's ADT^A01")
    args = parser.parse_args()
    text = args.corpus.read_bytes().decode("utf-8") if args.corpus else ADT_A01
    result = convert(text)
    print(f"{result.message_type}: {len(result.resources)} resources, {len(result.warnings)} warnings")
    round_us(text, min(args.count, 200))  # warm up caches (paths, tables) before timing
    rounds = []
    for number in range(1, args.rounds + 1):
        rounds.append(round_us(text, args.count))
        print(f"round {number}: {rounds[-1]:.1f} us per message")
    median = statistics.median(rounds)
    print(json.dumps({"convert_us": round(median, 1), "convert_per_s": round(1e6 / median)}))


if __name__ == "__main__":
    main()
