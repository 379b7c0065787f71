"""The sandbox EHR's SMART on FHIR authorization server: one object the sandbox mounts and asks.

HTTP lives in :mod:`smart_routes`, launches in :mod:`smart_authorize`, tokens in :mod:`smart_grants`;
this module ties them together and answers the REST layer's one question per request
(:meth:`SmartAuthServer.authenticate`). One instance serves every flavour it is mounted under; each
token remembers the FHIR base it was issued for (``aud``), so a token from one flavour is refused by
another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import APIRouter

from holovitals.sandbox.smart_authorize import AuthorizeEndpoint, AuthorizeResult, normalise_base
from holovitals.sandbox.smart_clients import ClientAuthenticator, ClientRegistration
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.smart_grants import TokenEndpoint
from holovitals.sandbox.smart_scopes import (
    INTERACTION_PERMISSIONS,
    NON_COMPARTMENT_TYPES,
    READ_INTERACTIONS,
    permitting_contexts,
)
from holovitals.sandbox.smart_tokens import TokenContext, TokenStore

SCOPES_SUPPORTED = [
    "openid", "fhirUser", "launch/patient", "offline_access", "online_access",
    "patient/*.read", "patient/*.write", "patient/*.*", "patient/*.rs", "patient/*.cruds",
    "user/*.read", "user/*.write", "user/*.*", "user/*.rs", "user/*.cruds",
    "system/*.read", "system/*.write", "system/*.*", "system/*.rs", "system/*.cruds",
]  # fmt: skip
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CAPABILITIES = [
    "launch-standalone", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
    "context-standalone-patient", "permission-offline", "permission-online", "permission-patient",
    "permission-user", "permission-v1", "permission-v2", "sso-openid-connect",
]  # fmt: skip


class SmartAuthServer:
    """SMART App Launch 2.x (standalone launch, PKCE S256) and Backend Services for the sandbox EHR."""

    def __init__(
        self,
        *,
        token_lifetime: int = 3600,
        code_lifetime: int = 60,
        auto_approve: bool = True,
        clock: Callable[[], float] = time.time,
        default_patient: str | None = None,
    ):
        self._clock = clock
        self._clients = ClientAuthenticator(clock)
        self._tokens = TokenStore(clock)
        self._authorize = AuthorizeEndpoint(
            self._clients,
            self._tokens,
            clock,
            code_lifetime=code_lifetime,
            auto_approve=auto_approve,
            default_patient=default_patient,
        )
        self._grants = TokenEndpoint(self._clients, self._tokens, clock, lifetime=token_lifetime)

    # -- configuration -------------------------------------------------------------------------------

    def register_client(self, client: ClientRegistration) -> None:
        self._clients.register(client)

    def set_patient(self, patient_id: str) -> None:
        """The patient an auto-approved launch selects (and the picker's pre-selection)."""
        self._authorize.set_patient(patient_id)

    def set_patient_choices(self, choices: Iterable[tuple[str, str]]) -> None:
        """(id, label) pairs the consent page's patient picker offers; none means a free-text id field."""
        self._authorize.set_patient_choices(choices)

    @property
    def patient_choices(self) -> list[tuple[str, str]]:
        return self._authorize.patient_choices

    @property
    def default_patient(self) -> str | None:
        return self._authorize.default_patient

    def expire_all_tokens(self) -> None:
        """Fault injection: every access token is expired from now on; refresh tokens keep working."""
        self._tokens.expire_all_access()

    def router(self) -> APIRouter:
        from holovitals.sandbox.smart_routes import build_router

        return build_router(self)

    # -- discovery -----------------------------------------------------------------------------------

    def discovery(self, base_url: str) -> dict[str, Any]:
        """``.well-known/smart-configuration`` for the flavour at ``base_url``."""
        base = normalise_base(base_url)
        return {
            "issuer": base,
            "jwks_uri": f"{base}/auth/jwks",
            "authorization_endpoint": f"{base}/auth/authorize",
            "token_endpoint": f"{base}/auth/token",
            "revocation_endpoint": f"{base}/auth/revoke",
            "introspection_endpoint": f"{base}/auth/introspect",
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "capabilities": CAPABILITIES,
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    # -- endpoints (the routes call these) -----------------------------------------------------------

    def authorize(self, params: Mapping[str, str], base_url: str) -> AuthorizeResult:
        return self._authorize.authorize(params, base_url)

    def decide(self, ticket: str, approve: bool, patient: str | None) -> str:
        return self._authorize.decide(ticket, approve, patient)

    def token(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> dict[str, Any]:
        return self._grants.token(form, authorization, base_url)

    def revoke(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> None:
        self._grants.revoke(form, authorization, base_url)

    def introspect(self, form: Mapping[str, str], authorization: str | None, base_url: str) -> dict[str, Any]:
        return self._grants.introspect(form, authorization, base_url)

    def jwks(self) -> dict[str, Any]:
        return self._grants.jwks()

    # -- resource access -----------------------------------------------------------------------------

    def authenticate(
        self,
        authorization_header: str | None,
        *,
        base_url: str,
        resource_type: str,
        interaction: str,
        patient_id: str | None = None,
    ) -> TokenContext:
        """Check a FHIR request's bearer token; the returned context says what it may see.

        ``patient_id`` is the patient compartment the request targets. A request the REST layer could
        not narrow (None) passes a patient-scoped token only for reads of types outside the Patient
        compartment (Practitioner, Organization, ...); everything else must name the token's patient.
        """
        if interaction not in INTERACTION_PERMISSIONS:
            raise ValueError(f"unknown interaction {interaction!r}")
        record = self._tokens.access(bearer_token(authorization_header))
        if record is None or not record.active:
            raise SmartError(401, "invalid_token", "access token is unknown or revoked")
        if self._clock() >= record.expires_at:
            raise SmartError(401, "invalid_token", "access token has expired")
        if record.grant.aud != normalise_base(base_url):
            raise SmartError(401, "invalid_token", "access token was issued for another FHIR base")
        contexts = permitting_contexts(record.scopes, resource_type, interaction)
        if not contexts:
            raise SmartError(403, "insufficient_scope", f"granted scopes do not allow {interaction} on {resource_type}")
        if contexts == {"patient"}:
            check_patient(record.grant.patient, resource_type, interaction, patient_id)
        return TokenContext(
            client_id=record.grant.client_id,
            scopes=list(record.scopes),
            patient=record.grant.patient,
            expires_at=record.expires_at,
        )


def check_patient(token_patient: str | None, resource_type: str, interaction: str, patient_id: str | None) -> None:
    """A patient-scoped token reaches its own patient's compartment and shared, non-compartment reads."""
    if patient_id is None:
        if resource_type in NON_COMPARTMENT_TYPES and interaction in READ_INTERACTIONS:
            return
        raise SmartError(403, "forbidden", "a patient-scoped token needs a request limited to its patient")
    if patient_id != token_patient:
        raise SmartError(403, "forbidden", "the request targets a patient outside this token's patient context")


def bearer_token(header: str | None) -> str:
    if not header:
        raise SmartError(401, "invalid_token", "an Authorization: Bearer token is required")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise SmartError(401, "invalid_token", "an Authorization: Bearer token is required")
    return token
