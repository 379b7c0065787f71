"""`holovitals connect`: connect an EHR from the terminal (browser + loopback redirect, or backend services).

Registered in ``holovitals.cli`` as a command: ``app.command("connect")(connect)``.
"""

from __future__ import annotations

import asyncio
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from holovitals.hub.connect_errors import AuthorizationDenied, AuthorizationNotFound, ConnectError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DEFAULT_PORT = 8765  # fixed, so the redirect URI can be registered once: http://127.0.0.1:8765/callback


class ConnectCliError(Exception):
    """A failure to report as one line."""


def _scopes(values: list[str] | None) -> tuple[str, ...] | None:
    scopes = tuple(s for v in values or () for s in v.split() if s)
    return scopes or None


def _ctx():
    from holovitals.config import get_settings
    from holovitals.context import AppContext
    from holovitals.store import migrate
    from holovitals.store.db import check_database

    ctx = AppContext(get_settings())
    check_database(ctx.engine)
    current, head = migrate.current_revision(ctx.engine), migrate.head_revision(ctx.engine)
    if current != head:
        raise ConnectCliError(
            f"database schema is at {current or 'base'}, expected {head}: run `holovitals db upgrade`"
        )
    return ctx


def _org_id(ctx, slug: str) -> str:
    from sqlalchemy import select

    from holovitals.store.models import Organization

    with ctx.sessions() as session:
        org_id = session.execute(select(Organization.id).where(Organization.slug == slug)).scalar_one_or_none()
    if org_id is None:
        raise ConnectCliError(f"no organization {slug!r}: run `holovitals db seed` first")
    return org_id


def _cli_audit(ctx, org_id: str):
    """Audit rows for the command line: actor "cli", same shape as the API's."""
    from holovitals.security.audit import AuditEvent, record
    from holovitals.store.db import transaction

    def audit(action: str, outcome: str = "success", *, session=None, **fields) -> None:
        event = AuditEvent(org_id=org_id, actor="cli", action=action, outcome=outcome, **fields)
        if session is not None:
            record(session, event)
            return
        with transaction(ctx.sessions) as own:
            record(own, event)

    return audit


async def _interactive(ctx, org_id: str, options: dict, *, port: int, open_browser: bool, timeout: float):
    from holovitals.hub.connect import ConnectRequest, EhrConnector, ehr_http_client
    from holovitals.hub.loopback import LoopbackReceiver

    try:
        receiver = LoopbackReceiver(port)
    except OSError as exc:
        raise ConnectCliError(f"cannot listen on 127.0.0.1:{port} for the redirect ({exc.strerror})") from None
    async with receiver, ehr_http_client() as http:
        connector = EhrConnector(ctx.sessions, ctx.vault, http, org_id=org_id, audit=_cli_audit(ctx, org_id))
        started = await connector.start(ConnectRequest(redirect_uri=receiver.redirect_uri, **options))
        out.print(f"Sign in at the EHR (redirect URI {receiver.redirect_uri}):")
        out.print(started.authorization_url, markup=False, soft_wrap=True)
        if open_browser:
            webbrowser.open(started.authorization_url)
        try:
            callback = await receiver.wait(timeout)
        except TimeoutError:
            raise ConnectCliError(f"no redirect came back within {timeout:.0f} s; run the command again") from None
        if callback.error:
            reason = f" ({callback.error_description})" if callback.error_description else ""
            raise AuthorizationDenied(f"the EHR answered {callback.error}{reason}")
        if not callback.code or callback.state != started.state:
            raise AuthorizationNotFound("state mismatch: the redirect does not belong to this sign-in")
        return await connector.complete(code=callback.code, state=started.state)


async def _backend(ctx, org_id: str, options: dict, *, private_key: str, kid: str | None, alg: str, jku: str | None):
    from holovitals.hub.connect import BackendRequest, EhrConnector, ehr_http_client

    async with ehr_http_client() as http:
        connector = EhrConnector(ctx.sessions, ctx.vault, http, org_id=org_id, audit=_cli_audit(ctx, org_id))
        options = {k: v for k, v in options.items() if k != "client_secret"}
        request = BackendRequest(private_key=private_key, kid=kid, alg=alg, jku=jku, **options)
        return await connector.connect_backend(request)


def _read_key(path: Path | None) -> str:
    try:
        return path.read_text(encoding="utf-8") if path else ""
    except (OSError, UnicodeDecodeError):
        raise ConnectCliError(f"cannot read {path} as a PEM or JWK text file") from None


def connect(
    vendor: Annotated[str, typer.Option(help="Vendor profile: epic, cerner, meditech, athena, ecw, nextgen, ...")],
    client_id: Annotated[str, typer.Option(help="The client id the EHR registered for this app")],
    base_url: Annotated[str | None, typer.Option(help="FHIR base URL (default: the vendor's, with --tenant)")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant or practice code for vendors that need one")] = None,
    scopes: Annotated[list[str] | None, typer.Option("--scopes", help="Scopes (repeat, or space-separated)")] = None,
    client_secret: Annotated[
        str | None, typer.Option(envvar="HOLOVITALS_EHR_CLIENT_SECRET", help="Confidential clients (or the env var)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name for the connection")] = None,
    org: Annotated[str, typer.Option(help="Organization slug")] = "default",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Loopback port for the redirect (0: any)")] = DEFAULT_PORT,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the sign-in URL, don't open it")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the redirect")] = 300,
    backend: Annotated[bool, typer.Option("--backend", help="SMART backend services (client_credentials)")] = False,
    private_key: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Backend: private key, PEM or JWK")
    ] = None,
    kid: Annotated[str | None, typer.Option(help="Backend: key id (default: the key's thumbprint)")] = None,
    alg: Annotated[str, typer.Option(help="Backend: assertion algorithm, RS384 or ES384")] = "RS384",
    jku: Annotated[str | None, typer.Option(help="Backend: the JWKS URL registered with the EHR")] = None,
) -> None:
    """Connect an EHR over SMART on FHIR and store the connection, tokens encrypted.

    Opens the EHR's sign-in page in the browser and catches the redirect on
    http://127.0.0.1:PORT/callback (register that redirect URI with the EHR); --backend connects
    with SMART backend services instead.
    """
    options = {
        "vendor": vendor,
        "client_id": client_id,
        "base_url": base_url,
        "tenant": tenant,
        "scopes": _scopes(scopes),
        "client_secret": client_secret,
        "name": name,
    }
    try:
        if backend and private_key is None:
            raise ConnectCliError("--backend needs --private-key FILE")
        ctx = _ctx()
        try:
            org_id = _org_id(ctx, org)
            if backend:
                key_text = _read_key(private_key)
                run = _backend(ctx, org_id, options, private_key=key_text, kid=kid, alg=alg, jku=jku)
            else:
                run = _interactive(ctx, org_id, options, port=port, open_browser=not no_browser, timeout=timeout)
            conn = asyncio.run(run)
        finally:
            ctx.close()
    except (ConnectError, ConnectCliError) as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    patient = f", patient {conn.patient_id}" if conn.patient_id else ""
    out.print(f"connected {conn.name}: connection {conn.id}{patient}", markup=False)
    out.print(f"granted scopes: {conn.scopes}", markup=False)
