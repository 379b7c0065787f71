"""`holovitals hl7 ...`: listen for MLLP feeds, send files, convert to FHIR, search and reprocess stored messages."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

app = typer.Typer(no_args_is_help=True, help="HL7 v2: MLLP listener and sender, FHIR conversion, message store.")
out = Console()
err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _ctx():
    from holovitals.config import get_settings
    from holovitals.context import AppContext

    return AppContext(get_settings())


def _ready_ctx():
    """A context whose database is at the latest schema (else one line telling what to run)."""
    from holovitals.store import migrate
    from holovitals.store.db import check_database

    ctx = _ctx()
    check_database(ctx.engine)
    if migrate.current_revision(ctx.engine) != migrate.head_revision(ctx.engine):
        _fail("database schema is not at the latest revision: run `holovitals db upgrade`")
    return ctx


def _org_id(session, slug: str) -> str:
    from sqlalchemy import select

    from holovitals.store.models import Organization

    org_id = session.execute(select(Organization.id).where(Organization.slug == slug)).scalar()
    if not org_id:
        _fail(f"no organization with slug {slug!r} (run `holovitals db seed`)")
    return org_id


def _read_messages(path: Path) -> list[str]:
    from holovitals.hl7v2 import HL7ParseError, split_messages

    try:
        data = path.read_bytes()
    except OSError as exc:
        _fail(f"{path}: cannot read ({exc.strerror})")
    try:
        messages = split_messages(data)
    except HL7ParseError as exc:
        _fail(f"{path}: {exc.reason}")
    if not messages:
        _fail(f"{path}: no HL7 messages in the file")
    return messages


def _audit(session, org_id: str, action: str, detail: str) -> None:
    from holovitals.security.audit import AuditEvent, record

    record(session, AuditEvent(actor="cli", action=action, outcome="success", org_id=org_id,
                               resource_type="Hl7Message", detail=detail))  # fmt: skip


# ---------------------------------------------------------------- listen


@app.command("listen")
def listen(
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default HOLOVITALS_MLLP_PORT)")] = None,
    host: Annotated[str | None, typer.Option(help="Address (default HOLOVITALS_MLLP_HOST)")] = None,
    channels: Annotated[Path | None, typer.Option(help="Channels file (YAML or JSON)")] = None,
    db_channels: Annotated[bool, typer.Option("--db-channels", help="Also run channels saved through the API")] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate chain: listen with TLS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert")] = None,
    workers: Annotated[int, typer.Option(min=0, max=64, help="Worker processes for FHIR conversion")] = 0,
    org: Annotated[str, typer.Option(help="Organization of the default channel and of --db-channels")] = "default",
    lenient: Annotated[bool, typer.Option("--lenient", help="Accept messages that fail strict validation")] = False,
    stats_every: Annotated[float, typer.Option(help="Seconds between count lines (0: only at the end)")] = 10.0,
) -> None:
    """Receive HL7 v2 over MLLP until Ctrl-C: store, acknowledge, convert to FHIR, route."""
    from holovitals.tuning import tune_for_throughput

    tune_for_throughput()
    from holovitals.config import get_settings
    from holovitals.hl7v2.channels import Channel, ChannelConfigError, channel_of, list_db_channels, load_channels
    from holovitals.hl7v2.server import Listener, ListenerError
    from holovitals.logs import configure_logging

    settings = get_settings()
    ctx = _ready_ctx()
    configure_logging(settings.log_level.value, settings.log_format.value)
    try:
        chosen = load_channels(channels) if channels else []
    except ChannelConfigError as exc:
        _fail(str(exc))
    if db_channels:
        with ctx.sessions() as session:
            chosen += [
                channel_of(row) for row in list_db_channels(session, _org_id(session, org)) if row.status == "ACTIVE"
            ]
    if not chosen:
        chosen = [Channel(org=org)]
    names = [c.name for c in chosen]
    if len(set(names)) != len(names):
        _fail(f"channel names must be unique across --channels and --db-channels ({', '.join(names)})")
    update: dict = {"strict": False} if lenient else {}
    if len(chosen) == 1:
        update |= {"port": port} if port is not None else {}
        update |= {"host": host} if host else {}
        update |= {"tls_cert": str(tls_cert)} if tls_cert else {}
        update |= {"tls_key": str(tls_key)} if tls_key else {}
    elif tls_cert or tls_key:
        _fail("--tls-cert/--tls-key need a single channel: set tls_cert and tls_key per channel in the file")
    chosen = [c.model_copy(update=update) for c in chosen]
    listener = Listener(ctx.sessions, chosen, default_host=host or settings.mllp_host,
                        default_port=settings.mllp_port if port is None else port, workers=workers)  # fmt: skip
    try:
        _run(listener, stats_every)
    except ListenerError as exc:
        _fail(str(exc))
    finally:
        ctx.close()


def _run(listener, stats_every: float) -> None:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(_serve(listener, stats_every))


async def _serve(listener, stats_every: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await listener.start()
    for server in listener.servers:
        scheme = "mllps" if server.ssl_context else "mllp"
        out.print(f"channel {server.rt.name}: listening on {scheme}://{server.host}:{server.port}", highlight=False)
    sys.stdout.flush()
    last = None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), stats_every if stats_every > 0 else None)
        counts = listener.counts()
        if stats_every > 0 and counts != last and not stop.is_set():
            _print_counts(counts)
            last = counts
    out.print("stopping: finishing what was received")
    await listener.stop()
    _print_counts(listener.counts())


def _print_counts(counts: dict[str, dict[str, int]]) -> None:
    for name, c in counts.items():
        out.print(
            f"{name}: received {c['received']}, accepted {c['accepted']}, refused {c['refused']}, "
            f"duplicates {c['duplicates']}, filtered {c['filtered']}, transformed {c['transformed']}, "
            f"sent {c['sent']}, errors {c['errors']}, connections {c['connections']}",
            highlight=False,
            soft_wrap=True,
        )
    sys.stdout.flush()


# ---------------------------------------------------------------- send


@app.command("send")
def send(
    file: Annotated[Path, typer.Argument(help="A message, a batch file, or concatenated messages")],
    host: Annotated[str | None, typer.Option(help="Receiver address (default HOLOVITALS_MLLP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Receiver port")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Connect with TLS")] = False,
    ca_file: Annotated[Path | None, typer.Option(help="CA bundle that signed the receiver's certificate")] = None,
    window: Annotated[int, typer.Option(min=1, max=1000, help="Messages in flight before waiting for ACKs")] = 1,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each ACK")] = 30.0,
    retries: Annotated[int, typer.Option(min=0, max=100, help="Reconnects after a lost connection")] = 3,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="A line per ACK even for long files")] = False,
) -> None:
    """Send every message of FILE over MLLP; prints the ACK codes, exits 1 if any was refused."""
    import ssl

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from holovitals.config import get_settings
    from holovitals.hl7v2 import HL7ParseError
    from holovitals.hl7v2.client import MllpClient, MllpConnectionError, prepare

    settings = get_settings()
    texts = _read_messages(file)
    try:
        outgoing = [prepare(t) for t in texts]
    except HL7ParseError as exc:
        _fail(f"{file}: {exc}")
    context = None
    if tls or ca_file:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    host, port = host or settings.mllp_host, port or settings.mllp_port
    results: list = [None] * len(outgoing)
    lines = verbose or len(outgoing) <= 100
    columns = [TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("send", total=len(outgoing))

        def on_result(index: int, ack) -> None:
            results[index] = ack
            progress.advance(task)
            if lines or (ack is not None and not ack.accepted):
                progress.console.print(_ack_line(index, outgoing[index].control_id, ack), highlight=False)

        try:
            with MllpClient(host, port, tls=context, timeout=timeout, retries=retries) as client:
                client.send_many(outgoing, window=window, on_result=on_result)
        except MllpConnectionError as exc:
            done = sum(r is not None for r in results)
            _fail(f"{exc}; {done} of {len(outgoing)} messages were acknowledged")
    codes: dict[str, int] = {}
    for ack in results:
        code = ack.code if ack is not None else "no ACK asked (MSH-15)"
        codes[code] = codes.get(code, 0) + 1
    summary = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
    out.print(f"{len(outgoing)} messages sent to {host}:{port}: {summary}", highlight=False)
    if any(ack is not None and not ack.accepted for ack in results):
        raise typer.Exit(1)


def _ack_line(index: int, control_id: str, ack) -> Text:
    line = Text(f"{index + 1:>6}  {control_id}  ")
    if ack is None:
        line.append("sent; the message asks for no ACK (MSH-15)", style="yellow")
        return line
    line.append(ack.code, style="green" if ack.accepted else "bold red")
    if ack.text:
        line.append(f"  {ack.text}")
    return line


# ---------------------------------------------------------------- to-fhir


@app.command("to-fhir")
def to_fhir(
    file: Annotated[Path, typer.Argument(help="A message, a batch file, or concatenated messages")],
    source_system: Annotated[str | None, typer.Option(help="Name of the feed for resource ids")] = None,
) -> None:
    """Print the FHIR Bundle of each message in FILE (JSON; one Bundle per message)."""
    import orjson

    from holovitals.hl7v2 import HL7Error, parse
    from holovitals.hl7v2.to_fhir import convert

    for number, text in enumerate(_read_messages(file), start=1):
        try:
            result = convert(parse(text), source_system=source_system)
        except HL7Error as exc:
            _fail(f"{file}: message {number}: {exc}")
        sys.stdout.write(orjson.dumps(result.bundle(), option=orjson.OPT_INDENT_2).decode() + "\n")
        for warning in result.warnings:
            err.print(f"message {number}: warning: {warning}", markup=False, highlight=False)


# ---------------------------------------------------------------- the message store


def _filter(type_: str | None, patient: str | None, status: str | None, channel: str | None,
            since: datetime | None, until: datetime | None):  # fmt: skip
    from datetime import UTC

    from holovitals.hl7v2.message_store import MessageFilter, Status

    if status and status.upper() not in Status.__members__:
        _fail(f"--status must be one of {', '.join(Status.__members__)}")
    since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=UTC) if until and until.tzinfo is None else until
    return MessageFilter(message_type=type_, patient_id=patient, status=status.upper() if status else None,
                         channel=channel, since=since, until=until)  # fmt: skip


@app.command("messages")
def messages(
    type_: Annotated[str | None, typer.Option("--type", help="ADT, ADT^A01 or a pattern like ADT^A0*")] = None,
    patient: Annotated[str | None, typer.Option(help="Patient id (PID-3)")] = None,
    status: Annotated[str | None, typer.Option(help="RECEIVED TRANSFORMED SENT QUEUED FILTERED ERROR")] = None,
    channel: Annotated[str | None, typer.Option(help="Channel name")] = None,
    since: Annotated[datetime | None, typer.Option(help="Received at or after (UTC unless an offset is given)")] = None,
    until: Annotated[datetime | None, typer.Option(help="Received before")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    org: Annotated[str, typer.Option(help="Organization slug")] = "default",
) -> None:
    """List stored messages, newest first."""
    from holovitals.hl7v2.message_store import search
    from holovitals.store.db import transaction

    ctx = _ready_ctx()
    with transaction(ctx.sessions) as session:
        org_id = _org_id(session, org)
        rows, total = search(session, org_id, _filter(type_, patient, status, channel, since, until), limit=limit)
        _audit(session, org_id, "search", f"hl7 messages: {len(rows)} of {total}")
    table = Table("id", "received", "channel", "type", "control id", "patient", "ack", "status", "error")
    for r in rows:
        cells = [str(r.pk), r.received_at.strftime("%Y-%m-%d %H:%M:%S"), r.channel, r.message_type or "",
                 r.control_id or "", r.patient_id or "", r.ack_code or "",
                 r.status + (f" (dup of {r.duplicate_of})" if r.duplicate_of else ""), r.error or ""]  # fmt: skip
        table.add_row(*(Text(c) for c in cells))
    out.print(table)
    out.print(f"{len(rows)} of {total} messages", highlight=False)


@app.command("reprocess")
def reprocess(
    ids: Annotated[list[int] | None, typer.Argument(help="Message ids")] = None,
    status: Annotated[str | None, typer.Option(help="Every message with this status, e.g. ERROR")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this message type (with --status)")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel (with --status)")] = None,
    channels: Annotated[Path | None, typer.Option(help="Channels file: use its filters and destinations")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="At most this many messages")] = 1000,
    org: Annotated[str, typer.Option(help="Organization slug")] = "default",
) -> None:
    """Run stored messages through parse, convert and destinations again (idempotent)."""
    from holovitals.hl7v2.channels import ChannelConfigError, channel_of, list_db_channels, load_channels
    from holovitals.hl7v2.message_store import reprocess as run_reprocess
    from holovitals.hl7v2.message_store import search
    from holovitals.store.db import transaction

    if not ids and not status:
        _fail("give message ids or --status")
    ctx = _ready_ctx()
    try:
        by_name = {c.name: c for c in load_channels(channels)} if channels else {}
    except ChannelConfigError as exc:
        _fail(str(exc))
    with transaction(ctx.sessions) as session:
        org_id = _org_id(session, org)
        for row in list_db_channels(session, org_id):
            by_name.setdefault(row.name, channel_of(row))
        if ids:
            chosen = list(ids)
        else:
            rows, _ = search(session, org_id, _filter(type_, None, status, channel, None, None), limit=limit)
            chosen = [r.pk for r in rows]
        report = run_reprocess(session, org_id, chosen, channels=by_name)
        _audit(session, org_id, "update", f"hl7 reprocess: {len(report.outcomes)} messages")
    for pk, new_status, error in report.outcomes:
        out.print(Text(f"{pk:>8}  {new_status}" + (f"  {error}" if error else "")))
    summary = ", ".join(f"{s} {n}" for s, n in sorted(report.counts.items())) or "nothing to do"
    out.print(f"reprocessed {len(report.outcomes)} messages: {summary}"
              + (f"; skipped {report.skipped} duplicates" if report.skipped else ""), highlight=False)  # fmt: skip


@app.command("purge")
def purge(
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than", min=0, help="Delete messages older than DAYS (default HOLOVITALS_HL7_RETENTION_DAYS)"
        ),
    ] = None,
    org: Annotated[str | None, typer.Option(help="Only this organization (default: all)")] = None,
) -> None:
    """Retention: delete stored messages received more than DAYS ago."""
    from holovitals.hl7v2.message_store import purge as run_purge
    from holovitals.store.db import transaction

    ctx = _ready_ctx()
    if older_than is None:
        older_than = ctx.settings.hl7_retention_days
    started = time.monotonic()
    with transaction(ctx.sessions) as session:
        org_id = _org_id(session, org) if org else None
        deleted = run_purge(session, older_than, org_id=org_id)
    out.print(f"deleted {deleted} messages older than {older_than:g} days "
              f"in {time.monotonic() - started:.1f} s", highlight=False)  # fmt: skip
