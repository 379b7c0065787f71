"""`holovitals ...`: every command has --help; a failure prints one clear line and exits non-zero."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from holovitals.config import SettingsError, get_settings
from holovitals.hl7v2.cli import app as hl7_app
from holovitals.hub.connect_cli import connect
from holovitals.sandbox.cli import app as sandbox_app
from holovitals.security.secretbox import SecretBoxError
from holovitals.store.db import DatabaseUnavailable
from holovitals.sync import cli as sync_cli
from holovitals.vendors.cli import app as vendors_app

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="HoloVitals Sync: health records between EHRs, HL7 v2 feeds and a local versioned store.",
)
config_app = typer.Typer(no_args_is_help=True, help="Show the effective settings.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema and reference data.")
keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys for secrets at rest.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log of patient-data access.")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(hl7_app, name="hl7")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(vendors_app, name="vendors")
app.command("connect")(connect)
app.add_typer(sync_cli.sync_app, name="sync")
app.add_typer(sync_cli.resources_app, name="resources")
app.command("worker")(sync_cli.worker)

# Piped output (CI logs, `| tee`) gets room for the tables instead of rich's 80-column default.
out = Console() if sys.stdout.isatty() else Console(width=120)
err = Console(stderr=True)


class CliError(Exception):
    """A failure to report as one line."""


def _ctx():
    from holovitals.context import AppContext

    return AppContext(get_settings())


def _setup_logging() -> None:
    from holovitals.logs import configure_logging

    s = get_settings()
    configure_logging(s.log_level.value, s.log_format.value)


# ---------------------------------------------------------------- config


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings, secrets masked."""
    table = Table("setting", "value", title="HoloVitals settings")
    for name, value in get_settings().masked().items():
        table.add_row(f"HOLOVITALS_{name.upper()}", value)
    out.print(table)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from holovitals.store import migrate
    from holovitals.store.db import check_database

    ctx = _ctx()
    check_database(ctx.engine)
    migrate.upgrade(ctx.engine, revision)
    out.print(f"database at revision {migrate.current_revision(ctx.engine)} ({ctx.engine.dialect.name})")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, or 'base'")] = "-1") -> None:
    """Revert migrations down to REVISION (default: one step)."""
    from holovitals.store import migrate
    from holovitals.store.db import check_database

    ctx = _ctx()
    check_database(ctx.engine)
    migrate.downgrade(ctx.engine, revision)
    out.print(f"database at revision {migrate.current_revision(ctx.engine) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    from holovitals.store import migrate

    ctx = _ctx()
    out.print(migrate.current_revision(ctx.engine) or "base (empty)")


def _require_schema(ctx) -> None:
    from holovitals.store import migrate
    from holovitals.store.db import check_database

    check_database(ctx.engine)
    current, head = migrate.current_revision(ctx.engine), migrate.head_revision(ctx.engine)
    if current != head:
        raise CliError(f"database schema is at {current or 'base'}, expected {head}: run `holovitals db upgrade`")


def seed_database(ctx) -> str | None:
    """Seed reference data and create the keyring if missing; returns a new owner key, if any."""
    from holovitals.security.vault import init_keyring
    from holovitals.store.db import transaction
    from holovitals.store.seed import seed

    _require_schema(ctx)
    _, created = init_keyring(ctx.settings)
    if created:
        out.print(f"created keyring {ctx.settings.effective_keyring_file} (keep it safe and backed up)")
    with transaction(ctx.sessions) as session:
        result = seed(session)
    out.print(
        f"seeded {result.roles} roles, {result.permissions} permissions, {result.retention_policies} retention policies"
    )
    return result.owner_key


def print_owner_key(key: str | None) -> None:
    if key:
        out.print("[bold]First OWNER API key (shown once, store it now):[/bold]")
        out.print(key, markup=False, highlight=False)
    else:
        out.print("an OWNER key already exists; issue more with POST /api/keys")


@db_app.command("seed")
def db_seed() -> None:
    """Add roles, permissions, retention policies and a first OWNER API key (printed once)."""
    print_owner_key(seed_database(_ctx()))


# ---------------------------------------------------------------- keys


@keys_app.command("init")
def keys_init() -> None:
    """Create the keyring file if there is none."""
    from holovitals.security.vault import init_keyring

    settings = get_settings()
    keyring, created = init_keyring(settings)
    where = "HOLOVITALS_KEYRING" if settings.keyring else settings.effective_keyring_file
    out.print(f"{'created' if created else 'using'} keyring {where}, active key {keyring.active}")


@keys_app.command("jwks")
def keys_jwks(
    private_key: Annotated[
        list[str], typer.Argument(help="Private key files (PEM or JWK JSON) used for SMART backend services")
    ],
    alg: Annotated[str, typer.Option(help="RS384 or ES384")] = "RS384",
    kid: Annotated[str | None, typer.Option(help="Key id (default: the RFC 7638 thumbprint)")] = None,
) -> None:
    """Print the public JWKS to register with a vendor (never the private parts)."""
    import json
    from pathlib import Path

    from holovitals.fhir.backend import jwk_from_pem, jwks_document

    keys = []
    for name in private_key:
        path = Path(name)
        if not path.is_file():
            raise CliError(f"{name}: no such key file")
        text = path.read_text()
        try:
            jwk = json.loads(text) if text.lstrip().startswith("{") else jwk_from_pem(text, alg=alg, kid=kid)
        except (ValueError, TypeError) as exc:
            raise CliError(f"{name}: not a PEM or JWK private key ({type(exc).__name__})") from None
        keys.append(jwk)
    typer.echo(json.dumps(jwks_document(keys), indent=2))


@keys_app.command("list")
def keys_list() -> None:
    """Key ids in the keyring and how many stored secrets each seals."""
    from holovitals.security.secretbox import SecretBox
    from holovitals.security.vault import keyring_from_settings, keys_in_use

    ctx = _ctx()
    keyring = keyring_from_settings(ctx.settings)
    _require_schema(ctx)
    with ctx.sessions() as session:
        usage = keys_in_use(session, SecretBox(keyring))
    table = Table("key id", "active", "secrets sealed")
    for kid in keyring.keys:
        table.add_row(kid, "yes" if kid == keyring.active else "", str(usage.get(kid, 0)))
    for kid in set(usage) - set(keyring.keys):
        table.add_row(f"{kid} (MISSING)", "", str(usage[kid]))
    out.print(table)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new active key and re-encrypt every stored secret with it."""
    from holovitals.security.vault import keyring_from_settings, rotate
    from holovitals.store.db import transaction

    ctx = _ctx()
    if ctx.settings.keyring:
        raise CliError(
            "the keyring comes from HOLOVITALS_KEYRING: rotate with a keyring file, then update the variable"
        )
    keyring = keyring_from_settings(ctx.settings)
    _require_schema(ctx)
    with transaction(ctx.sessions) as session:
        report = rotate(session, keyring, ctx.settings.effective_keyring_file)
    out.print(f"new active key {report.new_key_id}; re-encrypted {report.reencrypted} secrets")


@keys_app.command("retire")
def keys_retire(key_id: str) -> None:
    """Remove an old key; refused while any stored secret is still sealed with it."""
    from holovitals.security.secretbox import SecretBox
    from holovitals.security.vault import keyring_from_settings, keys_in_use

    ctx = _ctx()
    keyring = keyring_from_settings(ctx.settings)
    _require_schema(ctx)
    with ctx.sessions() as session:
        in_use = keys_in_use(session, SecretBox(keyring)).get(key_id, 0)
    if in_use:
        raise CliError(f"key {key_id} still seals {in_use} secrets: run `holovitals keys rotate` first")
    keyring.retire(key_id)
    keyring.save(ctx.settings.effective_keyring_file)
    out.print(f"retired key {key_id}")


# ---------------------------------------------------------------- audit


@audit_app.command("tail")
def audit_tail(
    n: Annotated[int, typer.Option("-n", "--lines", min=1, max=10000, help="How many entries")] = 20,
) -> None:
    """Show the latest audit entries."""
    from holovitals.security.audit import tail

    ctx = _ctx()
    _require_schema(ctx)
    with ctx.sessions() as session:
        rows = tail(session, limit=n)
    table = Table("id", "at", "actor", "action", "outcome", "resource", "patient", "client")
    for e in rows:
        resource = f"{e.resource_type or ''}/{e.resource_id or ''}".strip("/")
        table.add_row(
            str(e.pk),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.outcome,
            resource,
            e.patient_id or "",
            e.client_addr or "",
        )
    out.print(table)


# ---------------------------------------------------------------- serve and demo


def _serve(host: str, port: int) -> None:
    import uvicorn

    from holovitals.api.app import create_app

    _setup_logging()
    ctx = _ctx()
    _require_schema(ctx)
    out.print(f"API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(ctx), host=host, port=port, log_config=None, access_log=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default HOLOVITALS_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default HOLOVITALS_API_PORT)")] = None,
) -> None:
    """Serve the HTTP API."""
    s = get_settings()
    _serve(host or s.api_host, port or s.api_port)


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit after syncing instead of serving the API")] = False,
    patients: Annotated[int, typer.Option(min=1, max=10000, help="Synthetic patients in the sandbox")] = 10,
) -> None:
    """Sandbox EHR, SMART connections to its Epic and Oracle Health flavours, full and incremental sync."""
    from holovitals.demo import run_demo
    from holovitals.logs import configure_logging
    from holovitals.store import migrate

    settings = get_settings()
    # The demo narrates itself; routine INFO lines from the sandbox and the worker would bury it.
    configure_logging("WARNING" if settings.log_level.value == "INFO" else settings.log_level.value)
    ctx = _ctx()
    migrate.upgrade(ctx.engine)
    print_owner_key(seed_database(ctx))
    raise typer.Exit(run_demo(ctx, once=once, patients=patients, console=out))


@app.command()
def version() -> None:
    """Print the version."""
    from holovitals import __version__

    out.print(__version__)


def main() -> None:
    """Entry point: known failures become one line on stderr and exit status 1."""
    try:
        app()
    except (CliError, sync_cli.CliError, SettingsError, SecretBoxError, DatabaseUnavailable) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except SQLAlchemyError as exc:
        err.print(f"error: database: {str(getattr(exc, 'orig', exc)).splitlines()[0]}", markup=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
