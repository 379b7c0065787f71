"""The authorize endpoint and the consent decision: from a launch request to a single-use code.

Errors follow RFC 6749 section 4.1.2.1: until the client and a *registered* redirect_uri are known,
the answer is a 400 to the browser (redirecting would make the sandbox an open redirector); after
that, every refusal goes back to the client as ``?error=...&state=...``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from holovitals.logs import get_logger
from holovitals.sandbox.smart_clients import ClientAuthenticator, ClientRegistration
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.smart_scopes import grant_scopes, parse_resource_scope, split_scope
from holovitals.sandbox.smart_tokens import Grant, TokenStore, new_secret

log = get_logger(__name__)

CONSENT_LIFETIME = 600.0
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url(sha256), unpadded


def normalise_base(url: str) -> str:
    return url.rstrip("/")


def with_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` appended to whatever query it already has (registered URIs may carry one)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def needs_patient_context(scopes: Iterable[str]) -> bool:
    """A launch needs a patient picked when it asks for launch/patient or any patient/ scope."""
    for text in scopes:
        if text == "launch/patient":
            return True
        parsed = parse_resource_scope(text)
        if parsed is not None and parsed.context == "patient":
            return True
    return False


@dataclass
class ConsentRequest:
    """An authorize request waiting for the user's decision on the consent page."""

    client: ClientRegistration
    redirect_uri: str
    state: str
    scopes: list[str]
    needs_patient: bool
    code_challenge: str
    nonce: str | None
    aud: str
    expires_at: float


@dataclass(frozen=True)
class AuthorizeResult:
    """Either a redirect (approved, or an error sent back to the client) or a consent page to show."""

    redirect: str | None = None
    consent: ConsentRequest | None = None
    ticket: str | None = None


class AuthorizeEndpoint:
    """Validates launches, holds pending consents, and turns approvals into authorization codes."""

    def __init__(
        self,
        clients: ClientAuthenticator,
        tokens: TokenStore,
        clock: Callable[[], float],
        *,
        code_lifetime: int,
        auto_approve: bool,
        default_patient: str | None,
    ):
        self._clients = clients
        self._tokens = tokens
        self._clock = clock
        self.code_lifetime = code_lifetime
        self.auto_approve = auto_approve
        self._default_patient = default_patient
        self._patient_choices: list[tuple[str, str]] = []
        self._consents: dict[str, ConsentRequest] = {}
        self._lock = threading.Lock()

    def set_patient(self, patient_id: str) -> None:
        self._default_patient = patient_id

    def set_patient_choices(self, choices: Iterable[tuple[str, str]]) -> None:
        self._patient_choices = list(choices)

    @property
    def patient_choices(self) -> list[tuple[str, str]]:
        return list(self._patient_choices)

    @property
    def default_patient(self) -> str | None:
        """The set patient, else the picker's first choice, else None."""
        if self._default_patient:
            return self._default_patient
        return self._patient_choices[0][0] if self._patient_choices else None

    def authorize(self, params: Mapping[str, str], base_url: str) -> AuthorizeResult:
        """Validate an authorize request. Raises SmartError while no registered redirect_uri is known."""
        client = self._clients.get(params.get("client_id"))
        if client is None:
            raise SmartError(400, "invalid_request", "unknown client_id")
        if client.kind == "backend":
            raise SmartError(400, "unauthorized_client", "backend clients use the client_credentials grant")
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri or redirect_uri not in client.redirect_uris:
            raise SmartError(400, "invalid_request", "redirect_uri is missing or not registered for this client")
        state = params.get("state")

        def refuse(code: str, message: str) -> AuthorizeResult:
            log.info("smart.authorize_refused", client_id=client.client_id, error=code, reason=message)
            return AuthorizeResult(
                redirect=with_query(redirect_uri, {"error": code, "error_description": message, "state": state})
            )

        if not state:
            return refuse("invalid_request", "state is required")
        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "response_type must be code")
        if params.get("code_challenge_method") != "S256":
            return refuse("invalid_request", "PKCE is required with code_challenge_method=S256 (plain is refused)")
        challenge = params.get("code_challenge") or ""
        if not _CHALLENGE_RE.match(challenge):
            return refuse("invalid_request", "code_challenge must be base64url(sha256(code_verifier))")
        aud = params.get("aud")
        if not aud or normalise_base(aud) != normalise_base(base_url):
            return refuse("invalid_request", "aud must be this server's FHIR base URL")
        requested = split_scope(params.get("scope"))
        if not requested:
            return refuse("invalid_scope", "scope is required")
        scopes = grant_scopes(requested, client.scopes)
        if not scopes:
            return refuse("invalid_scope", "none of the requested scopes can be granted to this client")
        consent = ConsentRequest(
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            scopes=scopes,
            needs_patient=needs_patient_context(scopes),
            code_challenge=challenge,
            nonce=params.get("nonce"),
            aud=normalise_base(base_url),
            expires_at=self._clock() + CONSENT_LIFETIME,
        )
        if self.auto_approve:
            return AuthorizeResult(redirect=self._approve(consent, self.default_patient))
        ticket = new_secret()
        with self._lock:
            now = self._clock()
            self._consents = {k: c for k, c in self._consents.items() if c.expires_at > now}
            self._consents[ticket] = consent
        return AuthorizeResult(consent=consent, ticket=ticket)

    def decide(self, ticket: str, approve: bool, patient: str | None) -> str:
        """The consent form's answer; returns where to redirect the browser. A ticket is single use."""
        with self._lock:
            consent = self._consents.pop(ticket, None)
        if consent is None or consent.expires_at <= self._clock():
            raise SmartError(400, "invalid_request", "this consent request is unknown or has expired; start again")
        if not approve:
            log.info("smart.consent_denied", client_id=consent.client.client_id)
            return with_query(
                consent.redirect_uri,
                {"error": "access_denied", "error_description": "the user denied access", "state": consent.state},
            )
        if consent.needs_patient and self._patient_choices and patient not in dict(self._patient_choices):
            raise SmartError(400, "invalid_request", "choose one of the offered patients")
        return self._approve(consent, patient or None)

    def _approve(self, consent: ConsentRequest, patient: str | None) -> str:
        if consent.needs_patient and not patient:
            return with_query(
                consent.redirect_uri,
                {
                    "error": "server_error",
                    "error_description": "no patient selected (the sandbox has no default patient)",
                    "state": consent.state,
                },
            )
        grant = Grant(
            client_id=consent.client.client_id,
            scopes=consent.scopes,
            patient=patient if consent.needs_patient else None,
            aud=consent.aud,
            nonce=consent.nonce,
        )
        code = self._tokens.issue_code(grant, consent.redirect_uri, consent.code_challenge, self.code_lifetime)
        log.info("smart.authorization_approved", client_id=grant.client_id, scopes=" ".join(grant.scopes))
        return with_query(consent.redirect_uri, {"code": code, "state": consent.state})
