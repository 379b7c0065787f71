"""Render docs/vendors.md from the profiles, so the page and the data cannot drift apart.

Run ``python -m holovitals.vendors.docs docs/vendors.md`` after changing a profile; a test checks it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from holovitals.vendors.describe import NONE, format_value, rows
from holovitals.vendors.profile import VendorProfile
from holovitals.vendors.registry import ALIASES, all_profiles

INTRO = """# EHR vendor profiles

Generated from `src/holovitals/vendors/` by `python -m holovitals.vendors.docs docs/vendors.md`; edit the
profiles, not this page. Every value carries its source. Facts were collected as of late 2026 from the
vendors' discovery documents, developer guides and ONC's Lantern lists (summarised in `ehr-vendors.md`,
the team's reference sheet); re-check a fact against its source before relying on it in production.
`src/holovitals/sandbox/flavours.py` is our local sandbox, cited for the sandbox paths and tenants.

`holovitals vendors list` and `holovitals vendors show NAME` print the same data.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(profiles: tuple[VendorProfile, ...]) -> list[str]:
    head = ["key", "vendor", "base URL", "paging", "page size", "incremental (default)", "rate limit",
            "version conflict", "bulk"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in profiles:
        conflict = str(p.versioning.conflict_status) if p.versioning.conflict_status else "no versioning"
        rate = f"{p.rate_limit.requests_per_minute}/min" if p.rate_limit.requests_per_minute else "none published"
        cells = [p.key, p.name, f"`{p.base_url}`" if p.base_url else "given by the user", p.paging.style,
                 p.paging.page_size_param or NONE, format_value(p.incremental_default), rate, conflict,
                 format_value(p.bulk.levels)]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def render_markdown() -> str:
    profiles = all_profiles()
    out = [INTRO, "## Summary", "", *_summary(profiles), ""]
    aliases: dict[str, list[str]] = {}
    for alias, key in ALIASES.items():
        aliases.setdefault(key, []).append(alias)
    for p in profiles:
        out += [f"## {p.name} (`{p.key}`)", ""]
        if p.key in aliases:
            out += ["Also found as: " + ", ".join(f"`{a}`" for a in sorted(aliases[p.key])) + ".", ""]
        out += ["| field | value | source |", "|---|---|---|"]
        out += [f"| `{name}` | {_cell(value)} | {_cell(source)} |" for name, value, source in rows(p)]
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> None:
    text = render_markdown()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
