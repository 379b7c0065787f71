"""`holovitals sandbox ...`: run the sandbox EHR, make synthetic data, check a data folder.

A failure prints one line and exits non-zero, like the main CLI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .flavours import FLAVOURS

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="The sandbox EHR: a local FHIR R4 server that behaves like Epic, Oracle Health, MEDITECH, "
    "athenahealth, eClinicalWorks, NextGen and Veradigm.",
)
out = Console()
err = Console(stderr=True)

from holovitals.sandbox.mutate_cli import mutate  # noqa: E402  (after `app` exists)

app.command("mutate")(mutate)


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table("resource type", "count", title=title)
    for rtype, count in sorted(counts.items()):
        table.add_row(rtype, f"{count:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values()):,}[/bold]")
    return table


def _load_folder(folder: Path):
    from .loader import LoadError, load_dir
    from .store import InvalidResource, SandboxStore

    store = SandboxStore()
    try:
        store.load(load_dir(folder))
    except (LoadError, InvalidResource) as exc:
        err.print(f"[red]cannot load {folder}:[/red] {exc}")
        raise typer.Exit(1) from None
    return store


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8100,
    patients: Annotated[int, typer.Option(min=0, help="Synthetic patients to generate (without --data).")] = 10,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    data: Annotated[
        Path | None, typer.Option(help="Serve this folder (NDJSON/Bundles, e.g. from `generate`) instead.")
    ] = None,
    open_api: Annotated[
        bool, typer.Option("--open", help="No SMART authorization: any request is served without a token.")
    ] = False,
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client",
            help="Register a public SMART client as CLIENT_ID=REDIRECT_URI (repeatable); "
            "more via POST /_sandbox/clients.",
        ),
    ] = None,
) -> None:
    """Serve every vendor flavour over one data set until Ctrl-C, with SMART on FHIR authorization."""
    import uvicorn

    from .app import create_sandbox_app
    from .bulk import BulkExporter
    from .generator import generate_population
    from .store import SandboxStore

    started = time.perf_counter()
    if data is not None:
        store = _load_folder(data)
    else:
        store = SandboxStore()
        store.load(generate_population(patients, seed))
    auth = None
    if not open_api:
        from .smart import ClientRegistration, SmartAuthServer

        first_patient = next(iter(store.scan("Patient")), None)
        auth = SmartAuthServer(default_patient=first_patient.id if first_patient else None)
        for spec in client or []:
            client_id, sep, redirect = spec.partition("=")
            if not sep or not client_id or not redirect.startswith(("http://", "https://")):
                raise typer.BadParameter(f"{spec!r}: expected CLIENT_ID=REDIRECT_URI", param_hint="--client")
            auth.register_client(ClientRegistration(client_id=client_id, kind="public", redirect_uris=(redirect,)))
    sandbox = create_sandbox_app(store, auth=auth, bulk=BulkExporter(store, auth=auth))
    root = f"http://{host}:{port}"
    out.print(f"{store.count():,} resources ready in {time.perf_counter() - started:.1f} s")
    for flavour in FLAVOURS:
        tenant = sorted(flavour.tenants)[0] if flavour.tenants else None
        out.print(f"  {flavour.vendor:32} {root}{flavour.base_path(tenant)}", soft_wrap=True, highlight=False)
    out.print(f"  {'admin (faults, stats, reset)':32} {root}/_sandbox/stats", soft_wrap=True, highlight=False)
    if auth is None:
        out.print("SMART authorization is off (--open): requests need no token")
    else:
        out.print(f"SMART authorization on; register clients with --client or POST {root}/_sandbox/clients")
    uvicorn.run(sandbox, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the NDJSON files (one per type).")],
    patients: Annotated[int, typer.Option(min=0, help="How many patients.")] = 100,
    seed: Annotated[int, typer.Option(help="Generator seed: the same seed gives the same data.")] = 42,
) -> None:
    """Write a synthetic US Core population as NDJSON (`serve --data` and `load` read it back)."""
    from .generator import directory, generate_patient, write_ndjson

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    started = time.perf_counter()
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("patients", total=patients)

        def resources() -> Iterator[dict]:
            yield from directory(seed)
            for index in range(patients):
                yield from generate_patient(index, seed)
                progress.advance(task)

        try:
            counts = write_ndjson(out_dir, resources())
        except OSError as exc:
            err.print(f"[red]cannot write {out_dir}:[/red] {exc.strerror or exc}")
            raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started
    out.print(_counts_table(f"{patients:,} patients written to {out_dir}", counts))
    out.print(f"{sum(counts.values()):,} resources in {elapsed:.1f} s")


@app.command()
def load(folder: Annotated[Path, typer.Argument(help="Folder (or file) of NDJSON and JSON Bundles.")]) -> None:
    """Check that a folder loads into the sandbox, and count what it holds."""
    started = time.perf_counter()
    store = _load_folder(folder)
    counts = {rtype: store.count(rtype) for rtype in store.types()}
    out.print(_counts_table(f"{folder}", counts))
    out.print(f"{sum(counts.values()):,} resources loaded in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    app()
