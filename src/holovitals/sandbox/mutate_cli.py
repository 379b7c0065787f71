"""`holovitals sandbox mutate`: make a running sandbox's data move, round by round, over its admin API.

It talks HTTP rather than touching a store, because the store lives in the sandbox server process
that the sync under test is reading from; the lead registers :func:`mutate` on the sandbox Typer app.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

MUTATE_PATH = "/_sandbox/mutate"

out = Console()
err = Console(stderr=True)


class MutateFailed(Exception):
    """A round the sandbox refused or could not be reached for; the message is the one line to print."""


def post_round(client: httpx.Client, url: str, changes: int, seed: int | None, types: list[str] | None) -> dict:
    payload: dict[str, Any] = {"changes": changes}
    if seed is not None:
        payload["seed"] = seed
    if types:
        payload["types"] = types
    try:
        response = client.post(url.rstrip("/") + MUTATE_PATH, json=payload)
    except httpx.TransportError as exc:
        raise MutateFailed(f"cannot reach the sandbox at {url} ({type(exc).__name__}); is it running?") from None
    if response.status_code != 200:
        raise MutateFailed(f"the sandbox refused the round: HTTP {response.status_code}: {_reason(response)}")
    return response.json()


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(i.get("diagnostics", i.get("code", "")) for i in body.get("issue", []))
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:200]
    return str(body)[:200]


def mutate(
    url: Annotated[str, typer.Option(help="Root URL of the running sandbox.")] = "http://127.0.0.1:8100",
    changes: Annotated[int, typer.Option(min=1, max=10_000, help="Writes per round.")] = 50,
    rounds: Annotated[int, typer.Option(min=1, help="How many rounds.")] = 1,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between rounds.")] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the first round (round N uses seed+N); default: the server's sequence.")
    ] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only this resource type (repeatable), e.g. --type Observation.")
    ] = None,
) -> None:
    """Create, edit and delete sandbox records over time, so incremental sync and conflicts have work to do."""
    totals = {"create": 0, "update": 0, "delete": 0}
    by_type: dict[str, int] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with httpx.Client(timeout=30) as client, Progress(*columns, console=out, transient=False) as progress:
            task = progress.add_task("mutating", total=changes * rounds)
            for round_no in range(rounds):
                if round_no:
                    time.sleep(interval)
                round_seed = None if seed is None else seed + round_no
                summary = post_round(client, url, changes, round_seed, types)
                for action, count in summary["counts"].items():
                    totals[action] = totals.get(action, 0) + count
                for rtype, count in summary["by_type"].items():
                    by_type[rtype] = by_type.get(rtype, 0) + count
                progress.update(task, advance=changes, description=f"round {round_no + 1}/{rounds}")
                if summary["applied"] < changes:
                    progress.console.print(f"round {round_no + 1}: only {summary['applied']} changes were possible")
    except MutateFailed as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(code=1) from None
    table = Table("resource type", "changes", title=f"{sum(totals.values())} changes in {rounds} round(s)")
    for rtype, count in sorted(by_type.items()):
        table.add_row(rtype, str(count))
    out.print(table)
    out.print(f"created {totals['create']}, updated {totals['update']}, deleted {totals['delete']}")
