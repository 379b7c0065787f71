"""`holovitals vendors list|show`: what we know about each EHR vendor, and where we learned it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from holovitals.vendors.describe import format_value, rows
from holovitals.vendors.registry import ALIASES, UnknownVendor, all_profiles, get_profile

app = typer.Typer(no_args_is_help=True, help="EHR vendor profiles: endpoints, auth, search quirks, limits.")
out = Console()
err = Console(stderr=True)


@app.command("list")
def list_vendors() -> None:
    """One line per vendor profile."""
    table = Table("key", "vendor", "base URL", "auth", "paging", "incremental", "rate limit", "conflict")
    for p in all_profiles():
        rate = f"{p.rate_limit.requests_per_minute}/min" if p.rate_limit.requests_per_minute else "-"
        cells = (
            p.key,
            p.name,
            p.base_url or "(give --base-url)",
            ", ".join(p.auth.styles),
            f"{p.paging.style} ({p.paging.page_size_param})",
            format_value(p.incremental_default),
            rate,
            str(p.versioning.conflict_status or "none"),
        )
        table.add_row(*(Text(c) for c in cells))
    out.print(table)
    out.print("aliases: " + ", ".join(f"{a} -> {k}" for a, k in sorted(ALIASES.items())), highlight=False)


@app.command("show")
def show_vendor(name: Annotated[str, typer.Argument(help="A vendor key or alias, e.g. epic, cerner, ecw")]) -> None:
    """Every value of one profile, each with its source."""
    try:
        profile = get_profile(name)
    except UnknownVendor as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table("field", "value", "source", title=f"{profile.name} ({profile.key})", show_lines=True)
    for field, value, source in rows(profile):
        table.add_row(Text(field), Text(value), Text(source))  # Text: "search[Observation]" is not markup
    out.print(table)
