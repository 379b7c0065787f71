"""HTTP face of the sandbox authorization server: discovery, authorize, consent, token, revoke, introspect.

The router is mounted under each flavour's FHIR base, which may carry path parameters
(``/cerner/r4/{tenant}``); handlers never declare them and work out the base from the request URL
by dropping their own suffix, so one router fits every flavour.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from holovitals.sandbox.smart_errors import SmartError

if TYPE_CHECKING:
    from holovitals.sandbox.smart_authorize import ConsentRequest
    from holovitals.sandbox.smart_server import SmartAuthServer

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def base_url_of(request: Request, suffix: str) -> str:
    """The flavour's absolute FHIR base: this request's URL without query and without ``suffix``."""
    url = str(request.url.replace(query="", fragment="")).rstrip("/")
    return url[: -len(suffix)] if url.endswith(suffix) else url


def single_values(items: list[tuple[str, Any]]) -> dict[str, str]:
    """OAuth parameters must not repeat (RFC 6749 section 3.1); files are not parameters."""
    values: dict[str, str] = {}
    for key, value in items:
        if not isinstance(value, str):
            raise SmartError(400, "invalid_request", f"parameter {key} must be a plain value")
        if key in values:
            raise SmartError(400, "invalid_request", f"parameter {key} is repeated")
        values[key] = value
    return values


def oauth_error(exc: SmartError, *, basic_used: bool = False) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401 and basic_used:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
    return JSONResponse(exc.oauth_body(), status_code=exc.status, headers=headers)


def build_router(server: SmartAuthServer) -> APIRouter:
    router = APIRouter(tags=["smart"])

    @router.get("/.well-known/smart-configuration")
    async def smart_configuration(request: Request) -> JSONResponse:
        return JSONResponse(server.discovery(base_url_of(request, "/.well-known/smart-configuration")))

    @router.get("/auth/jwks")
    async def jwks() -> JSONResponse:
        return JSONResponse(server.jwks())

    @router.get("/auth/authorize")
    async def authorize(request: Request) -> Response:
        try:
            params = single_values(request.query_params.multi_items())
            result = server.authorize(params, base_url_of(request, "/auth/authorize"))
        except SmartError as exc:
            return oauth_error(exc)
        if result.redirect is not None:
            return RedirectResponse(result.redirect, status_code=302, headers=NO_STORE)
        assert result.consent is not None and result.ticket is not None
        return HTMLResponse(
            consent_page(result.consent, result.ticket, server.patient_choices, server.default_patient),
            headers=NO_STORE,
        )

    @router.post("/auth/consent")
    async def consent(request: Request) -> Response:
        try:
            form = single_values((await request.form()).multi_items())
            location = server.decide(
                form.get("ticket", ""), form.get("decision") == "approve", form.get("patient") or None
            )
        except SmartError as exc:
            return oauth_error(exc)
        return RedirectResponse(location, status_code=302, headers=NO_STORE)

    @router.post("/auth/token")
    async def token(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            form = single_values((await request.form()).multi_items())
            body = server.token(form, authorization, base_url_of(request, "/auth/token"))
        except SmartError as exc:
            return oauth_error(exc, basic_used=bool(authorization))
        return JSONResponse(body, headers=NO_STORE)

    @router.post("/auth/revoke")
    async def revoke(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            form = single_values((await request.form()).multi_items())
            server.revoke(form, authorization, base_url_of(request, "/auth/revoke"))
        except SmartError as exc:
            return oauth_error(exc, basic_used=bool(authorization))
        return Response(status_code=200, headers=NO_STORE)

    @router.post("/auth/introspect")
    async def introspect(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            form = single_values((await request.form()).multi_items())
            body = server.introspect(form, authorization, base_url_of(request, "/auth/introspect"))
        except SmartError as exc:
            return oauth_error(exc, basic_used=bool(authorization))
        return JSONResponse(body, headers=NO_STORE)

    return router


def consent_page(
    consent: ConsentRequest, ticket: str, choices: list[tuple[str, str]], default_patient: str | None
) -> str:
    """A plain form: the scopes asked for, a patient picker when the launch needs one, approve or deny.

    Machine-friendly on purpose: the ticket sits in ``<input name="ticket" value="...">`` so a test or
    the demo can post the decision without a browser.
    """
    esc = html.escape
    client = esc(consent.client.name or consent.client.client_id)
    scopes = "\n".join(f"      <li><code>{esc(s)}</code></li>" for s in consent.scopes)
    picker = ""
    if consent.needs_patient:
        if choices:
            options = "\n".join(
                f'        <option value="{esc(pid)}"{" selected" if pid == default_patient else ""}>'
                f"{esc(label)} ({esc(pid)})</option>"
                for pid, label in choices
            )
            picker = f'    <label>Patient <select name="patient">\n{options}\n    </select></label>\n'
        else:
            picker = f'    <label>Patient id <input name="patient" value="{esc(default_patient or "")}"></label>\n'
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Authorize {client}</title></head>
<body>
  <h1>{client} asks for access</h1>
  <form method="post" action="consent">
    <input type="hidden" name="ticket" value="{esc(ticket)}">
    <ul>
{scopes}
    </ul>
{picker}    <button type="submit" name="decision" value="approve">Approve</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </form>
</body>
</html>
"""
