"""OperationOutcome errors as the sandbox's vendors send them (status, issue code, vendor number)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from .flavours import Flavour

FHIR_JSON = "application/fhir+json"

# The OperationOutcome issue code FHIR suggests for each HTTP status we send.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


class FhirError(Exception):
    """Raise anywhere below a route; the route answers with an OperationOutcome.

    ``kind`` is one of ``flavours.ERROR_KINDS`` when the vendor has its own number for the error.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        code: str | None = None,
        expression: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code or ISSUE_CODES.get(status, "processing")
        self.expression = expression
        self.headers = dict(headers or {})


def issue(
    message: str,
    *,
    code: str,
    severity: str = "error",
    flavour: Flavour | None = None,
    kind: str | None = None,
    expression: str | None = None,
) -> dict:
    entry: dict = {"severity": severity, "code": code, "diagnostics": message}
    details: dict = {"text": message}
    vendor = flavour.error_codes.get(kind) if flavour is not None and kind else None
    if vendor and flavour is not None and flavour.error_system:
        details["coding"] = [{"system": flavour.error_system, "code": vendor[0], "display": vendor[1]}]
    entry["details"] = details
    if expression:
        entry["expression"] = [expression]
    return entry


def outcome_bytes(message: str, *, code: str, severity: str = "error", **kwargs) -> bytes:
    body = {"resourceType": "OperationOutcome", "issue": [issue(message, code=code, severity=severity, **kwargs)]}
    return orjson.dumps(body)


def outcome_response(
    status: int,
    message: str,
    *,
    flavour: Flavour | None = None,
    kind: str | None = None,
    code: str | None = None,
    expression: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = outcome_bytes(
        message,
        code=code or ISSUE_CODES.get(status, "processing"),
        flavour=flavour,
        kind=kind,
        expression=expression,
    )
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=dict(headers or {}))


def error_response(error: FhirError, flavour: Flavour | None = None) -> Response:
    return outcome_response(
        error.status,
        error.message,
        flavour=flavour,
        kind=error.kind,
        code=error.code,
        expression=error.expression,
        headers=error.headers,
    )
