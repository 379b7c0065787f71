"""Who may see what: the SMART check on every FHIR request, then patient-compartment confinement.

The attached auth server (`SmartAuthServer.authenticate`) decides whether a token may do an
interaction on a type for a patient; this module tells it which patient a request targets and
then holds a patient-context token to that patient's records (403 otherwise), including a
Binary, whose patient is the one of the DocumentReference in its `securityContext`. Faults aimed
at one SMART client fire here, once the client is known.
"""

from __future__ import annotations

import inspect
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .faults import Faults
from .outcomes import FhirError
from .search import NON_COMPARTMENT_TYPES, SearchQuery
from .store import Gone, NotFound, Record, SandboxStore, patient_of


class Answer(Exception):
    """Carries a ready response (an injected fault) up to the route."""

    def __init__(self, response: Response) -> None:
        self.response = response


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


class Access:
    """The access rules of one flavour's API; without an auth server everything is open."""

    def __init__(self, auth: Any | None, store: SandboxStore, faults: Faults, flavour_key: str) -> None:
        self.auth = auth
        self.store = store
        self.faults = faults
        self.flavour_key = flavour_key

    async def authenticate(
        self, request: Request, base: str, interaction: str, resource_type: str, patient_id: str | None
    ) -> Any:
        """The token's context (None when open); raises FhirError with the auth server's status."""
        if self.auth is None:
            return None
        try:
            ctx = self.auth.authenticate(
                request.headers.get("authorization"),
                base_url=base,
                resource_type=resource_type,
                interaction=interaction,
                patient_id=patient_id,
            )
            if inspect.isawaitable(ctx):
                ctx = await ctx
        except Exception as exc:
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                raise
            raise auth_error(exc, status, base) from None
        rule = self.faults.take(
            path=request.url.path,
            method=request.method,
            flavour=self.flavour_key,
            token=bearer_token(request),
            client_id=getattr(ctx, "client_id", None),
            after_auth=True,
        )
        if rule is not None:
            response = await self.faults.perform(rule)
            if response is not None:
                raise Answer(response)
        return ctx

    def owner(self, record: Record) -> str | None:
        """The patient whose compartment holds the record (a Binary: its document's patient)."""
        if record.patient_id:
            return record.patient_id
        if record.resource_type == "Binary" and record.raw:
            ref = (record.body.get("securityContext") or {}).get("reference", "")
            rtype, _, rid = ref.partition("/")
            try:
                return self.store.get(rtype, rid).patient_id if rid else None
            except (NotFound, Gone):
                return None
        return None

    def confine_record(self, record: Record, ctx: Any) -> None:
        patient = getattr(ctx, "patient", None)
        if patient and record.resource_type not in NON_COMPARTMENT_TYPES - {"Patient", "Binary"}:
            owner = self.owner(record)
            if owner is not None and owner != patient:
                raise FhirError(403, f"this token is limited to Patient/{patient}'s records")

    def confine_search(self, q: SearchQuery, ctx: Any) -> str | None:
        """Narrow a search to the token's patient; 403 when it names another. Returns that patient."""
        patient = getattr(ctx, "patient", None)
        if not patient:
            return None
        if q.resource_type == "Patient":
            if q.ids is not None and q.ids - {patient}:
                raise FhirError(403, f"this token is limited to Patient/{patient}")
            q.restrict_patient(patient)
        elif q.resource_type not in NON_COMPARTMENT_TYPES:
            if q.patients is not None and q.patients - {patient}:
                raise FhirError(403, f"this token is limited to Patient/{patient}'s records")
            q.restrict_patient(patient)
        return patient

    def confine_write(self, body: dict[str, Any], ctx: Any) -> None:
        patient = getattr(ctx, "patient", None)
        owner = patient_of(body)
        if patient and owner is not None and owner != patient:
            raise FhirError(403, f"this token may only write Patient/{patient}'s records")


def auth_error(exc: Exception, status: int, base: str) -> FhirError:
    """A SMART refusal as an OperationOutcome; 401 carries the RFC 6750 challenge."""
    message = str(getattr(exc, "message", "") or exc)
    headers = {}
    if status == 401:
        challenge = getattr(exc, "www_authenticate", None)
        headers["WWW-Authenticate"] = challenge(realm=base) if callable(challenge) else f'Bearer realm="{base}"'
    return FhirError(status, message, headers=headers)
