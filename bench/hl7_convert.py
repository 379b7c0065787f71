"""Conversion speed: the ADT^A01 ``bench/mllp_throughput.py`` sends, HL7 v2 text to FHIR R4 resources.

    .venv/bin/python bench/hl7_convert.py [--count 2000] [--rounds 7] [--corpus FILE] [--cold]

Each round converts ``--count`` messages from their text (parse included, as the listener's
intake does). The messages are the MLLP benchmark's: one ADT^A01 with its own control id (MSH-10)
and patient (PID-3) each, so per-message ids are computed afresh while the practitioners,
locations and codes repeat as they do in a feed. ``--corpus FILE`` converts that corpus message
instead (the same text every time). ``--cold`` empties the converter's caches before every
conversion: the cost of a message whose every value (code, unit, practitioner...) is new.

Rounds are timed in process CPU time, not wall time: the bench machines are shared, and a busy
neighbour moved wall-clock rounds by up to 40 % where CPU time moved a few percent. The median
round is reported as microseconds per message and messages per second on one core; the last
line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import holovitals  # noqa: F401
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(HERE.parent / "src"))

from mllp_throughput import message  # noqa: E402

from holovitals.hl7v2.to_fhir import convert  # noqa: E402


def converter_caches() -> list[Callable[[], None]]:
    """``cache_clear`` of every functools cache of the converter (those keyed on message values;
    the parser's are keyed on delimiters, versions and structures, which a feed does not vary)."""
    clears = []
    for name, module in list(sys.modules.items()):
        if name.startswith("holovitals.hl7v2.to_fhir"):
            for value in vars(module).values():
                clear = getattr(value, "cache_clear", None)
                if callable(clear) and getattr(value, "__module__", None) == name:
                    clears.append(clear)
    return clears


def round_us(texts: list[str], cold: list[Callable[[], None]]) -> float:
    """CPU microseconds per conversion over one round."""
    start = time.process_time()
    for text in texts:
        for clear in cold:
            clear()
        convert(text)
    return (time.process_time() - start) / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="conversions per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--corpus", type=Path, help="convert this message file instead of the MLLP bench's ADT^A01")
    parser.add_argument("--cold", action="store_true", help="empty the converter's caches before every conversion")
    args = parser.parse_args()
    if args.corpus:
        texts = [args.corpus.read_bytes().decode("utf-8")] * args.count
    else:
        texts = [message(i) for i in range(args.count)]
    result = convert(texts[0])
    print(f"{result.message_type}: {len(result.resources)} resources, {len(result.warnings)} warnings")
    cold = converter_caches() if args.cold else []
    round_us(texts[:200], cold)  # warm up: imports, compiled paths, branch caches
    rounds = []
    for number in range(1, args.rounds + 1):
        rounds.append(round_us(texts, cold))
        print(f"round {number}: {rounds[-1]:.1f} us per message")
    median = statistics.median(rounds)
    print(json.dumps({"convert_us": round(median, 1), "convert_per_s": round(1e6 / median)}))


if __name__ == "__main__":
    main()
