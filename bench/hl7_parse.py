"""Parse speed: holovitals.hl7v2 against python-hl7 on the same ADT^A01.

Both sides do the work a v2 -> FHIR converter does per message: parse, then read MSH-9, MSH-10,
PID-3 (first identifier), PID-5 (family and given name) and PV1-2. Each side runs for a fixed
time per round, five rounds; medians are reported. The last line printed is JSON.

Run from the repository root: ``.venv/bin/python bench/hl7_parse.py [seconds-per-round]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

try:
    from holovitals.hl7v2 import parse
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from holovitals.hl7v2 import parse

import hl7

ADT_A01 = (
    "\r".join(
        [
            "MSH|^~\\&|EPIC|GENHOSP|HOLOVITALS|HVS|20240315081530-0500||ADT^A01^ADT_A01|MSG00001234|P|2.5.1|||AL|NE",
            "EVN|A01|20240315081500-0500|||JSMITH^Smith^John^^^^^^GENHOSP",
            "PID|1||E1234567^^^GENHOSP^MR~999-00-1234^^^USSSA^SS~MRN778899^^^LABSYS^PI||TESTPATIENT^ALEX^Q^^^^L"
            "~TESTY^AL^^^^^N||19800214|F||2106-3^White^CDCREC|100 MAIN ST^APT 4B^SPRINGFIELD^IL^62701^USA^H"
            "||^PRN^PH^^1^217^5550101~^NET^Internet^alex@example.org|^WPN^PH^^1^217^5550199|en^English^ISO639"
            "|M^Married^HL70002|||999-00-1234|||N^Not Hispanic^HL70189",
            "PD1|||GENHOSP CLINIC^^1234|1234567890^Careful^Carla^^^^MD^^NPI",
            "NK1|1|TESTPATIENT^JORDAN|SPO^Spouse^HL70063|100 MAIN ST^^SPRINGFIELD^IL^62701|^PRN^PH^^1^217^5550102",
            "PV1|1|I|4WEST^412^A^GENHOSP^^^^4W|E|||1234567890^Careful^Carla^^^^MD^^NPI|||MED||||7|||"
            "1234567890^Careful^Carla^^^^MD^^NPI|IP|V000123456^^^GENHOSP^VN|||||||||||||||||||||||||20240315081000-0500",
            "PV2|||^Chest pain",
            "OBX|1|NM|8302-2^Body height^LN||170|cm^centimeter^UCUM|||||F",
            "OBX|2|NM|29463-7^Body weight^LN||72.5|kg^kilogram^UCUM|||||F",
            "AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives",
            "DG1|1||R07.9^Chest pain, unspecified^I10||20240315|A",
            "IN1|1|BCBS-PPO^Blue PPO|60054^^^^NIIP|BLUE CROSS^^^^^^^^^^^BCBS|PO BOX 1^^CHICAGO^IL^60601",
        ]
    )
    + "\r"
)


def holovitals_work(text: str) -> tuple:
    msg = parse(text)
    return (
        msg["MSH-9.1"],
        msg["MSH-9.2"],
        msg["MSH-10"],
        msg["PID-3(1).1"],
        msg["PID-5.1"],
        msg["PID-5.2"],
        msg["PV1-2"],
    )


def python_hl7_work(text: str) -> tuple:
    msg = hl7.parse(text)
    return (
        str(msg.extract_field("MSH", 1, 9, 1, 1)),
        str(msg.extract_field("MSH", 1, 9, 1, 2)),
        str(msg.extract_field("MSH", 1, 10)),
        str(msg.extract_field("PID", 1, 3, 1, 1)),
        str(msg.extract_field("PID", 1, 5, 1, 1)),
        str(msg.extract_field("PID", 1, 5, 1, 2)),
        str(msg.extract_field("PV1", 1, 2)),
    )


def rate(work: Callable[[str], tuple], seconds: float) -> float:
    """Messages per second over a round of about ``seconds``."""
    done = 0
    batch = 200
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            work(ADT_A01)
        done += batch
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    ours, theirs = holovitals_work(ADT_A01), python_hl7_work(ADT_A01)
    if ours != theirs:
        raise SystemExit(f"the two parsers disagree: {ours} != {theirs}")
    results: dict[str, list[float]] = {"holovitals": [], "python-hl7": []}
    for round_number in range(1, 6):
        results["holovitals"].append(rate(holovitals_work, seconds))
        results["python-hl7"].append(rate(python_hl7_work, seconds))
        print(
            f"round {round_number}: holovitals {results['holovitals'][-1]:,.0f}/s, "
            f"python-hl7 {results['python-hl7'][-1]:,.0f}/s"
        )
    ours_median = statistics.median(results["holovitals"])
    theirs_median = statistics.median(results["python-hl7"])
    print(
        json.dumps(
            {
                "parse_per_s": round(ours_median),
                "python_hl7_parse_per_s": round(theirs_median),
                "parse_ratio": round(ours_median / theirs_median, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
