"""Errors of the FHIR client, typed by what the caller should do next.

The sync runner never reads a message to decide: it looks at the class (or its ``action``).
``TransientError`` -> retry later, ``AuthenticationRequired`` -> re-authenticate, ``PolicyDenied`` /
``NotFound`` / ``BadRequest`` -> skip this item and record why, ``PagingSessionExpired`` -> re-issue
the search, ``VersionConflict`` -> hand to conflict resolution, ``DiscoveryError`` / ``TokenError``
-> stop this connection until a person fixes it.

Every message and every ``url`` is scrubbed: query parameters that carry tokens or patient
identity are redacted, user-info is dropped, and any value registered with
``holovitals.security.redaction.register_sensitive`` is masked, so an error can be logged or shown.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from holovitals.security.redaction import REDACTED, SENSITIVE_KEYS, scrub_text

# Query parameters never shown in an error, beyond redaction's SENSITIVE_KEYS (which already holds
# tokens, codes and the patient-identity search parameters like name, birthdate, identifier).
_SECRET_QUERY_KEYS = frozenset({"state", "client_assertion", "session_state", "launch", "iss_token", "sig"})


class Action(StrEnum):
    """What the caller should do with a failed request."""

    RETRY = "retry"
    REAUTHENTICATE = "reauthenticate"
    REISSUE = "reissue"  # start the search again from the first page
    CONFLICT = "conflict"  # record a conflict; do not overwrite
    SKIP = "skip"  # record the failure for this item and carry on
    STOP = "stop"  # configuration or consent problem: stop the connection


def redact_url(url: str | None) -> str | None:
    """The URL with secrets and patient identity removed from its query string and user-info."""
    if not url:
        return url
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return scrub_text(str(url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = []
        for key, value in pairs:
            base = key.split(":", 1)[0].lower()
            if base in SENSITIVE_KEYS or base in _SECRET_QUERY_KEYS:
                value = REDACTED
            cleaned.append((key, value))
        query = urlencode(cleaned, safe="[]:,/")
    return scrub_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def host_of(url: str | None) -> str:
    """Only the host (and port), for messages about reachability."""
    if not url:
        return "?"
    try:
        return urlsplit(str(url)).netloc.rsplit("@", 1)[-1] or "?"
    except ValueError:
        return "?"


def outcome_diagnostics(outcome: dict[str, Any] | None) -> str:
    """One line from an OperationOutcome: diagnostics, else details.text, else the codes."""
    if not isinstance(outcome, dict):
        return ""
    texts: list[str] = []
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        text = issue.get("diagnostics") or details.get("text")
        if not text:
            codes = [c.get("code") for c in details.get("coding") or [] if isinstance(c, dict) and c.get("code")]
            text = ", ".join(str(c) for c in codes) or issue.get("code")
        if text:
            texts.append(str(text))
    return scrub_text("; ".join(texts))[:500]


def outcome_codes(outcome: dict[str, Any] | None) -> set[str]:
    """Every coded detail in an OperationOutcome (Epic puts its numbered errors here: 4113, 4130...)."""
    codes: set[str] = set()
    if not isinstance(outcome, dict):
        return codes
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        for coding in details.get("coding") or []:
            if isinstance(coding, dict) and coding.get("code"):
                codes.add(str(coding["code"]))
    return codes


class FhirError(Exception):
    """Base of every FHIR client error; ``action`` says what to do, ``retryable`` whether to retry."""

    action: ClassVar[Action] = Action.STOP
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.url = redact_url(url)
        self.outcome = outcome if isinstance(outcome, dict) else None
        self.message = scrub_text(message)
        super().__init__(self.message)

    @property
    def diagnostics(self) -> str:
        return outcome_diagnostics(self.outcome)

    @property
    def codes(self) -> set[str]:
        return outcome_codes(self.outcome)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.url:
            parts.append(f"[{self.url}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self!s})"


class TransientError(FhirError):
    """408, 429, 500, 502, 503, 504 or a network failure: worth retrying later."""

    action = Action.RETRY
    retryable = True


class NetworkError(TransientError):
    """The request did not complete at the transport level (refused, reset, timed out)."""


class ServerUnreachable(NetworkError):
    """Nothing answered at the host: DNS failure, connection refused or connect timeout."""

    def __init__(self, message: str, *, host: str, url: str | None = None) -> None:
        self.host = host
        super().__init__(message, url=url)


class OutcomeUnknown(TransientError):
    """A non-idempotent request (create, transaction) failed after it may have reached the server.

    Retrying blindly could create a duplicate: search for the resource before creating it again.
    """


class RateLimited(TransientError):
    """429 Too Many Requests; ``retry_after`` is the server's requested wait in seconds, if it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class AuthenticationRequired(FhirError):
    """401 even after one fresh token, or no token could be obtained: the user must reconnect."""

    action = Action.REAUTHENTICATE


class PolicyDenied(FhirError):
    """403: the server's policy refuses this (scope, consent, Epic break-the-glass). Never retried."""

    action = Action.SKIP


class NotFound(FhirError):
    action = Action.SKIP


class Gone(FhirError):
    """410: the resource was deleted."""

    action = Action.SKIP


class BadRequest(FhirError):
    """400/422: the server refused the request's content; ``diagnostics`` says why."""

    action = Action.SKIP


class RequestRejected(FhirError):
    """Any other 4xx (405, 406, 415...): the server will not do this; retrying will not help."""

    action = Action.SKIP


class VersionConflict(FhirError):
    """409/412 on a versioned write: someone changed the resource since we read it."""

    action = Action.CONFLICT

    def __init__(
        self,
        message: str,
        *,
        current_resource: dict[str, Any] | None = None,
        current_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.current_resource = current_resource
        self.current_version = current_version
        super().__init__(message, **kwargs)


class PagingSessionExpired(FhirError):
    """The server forgot the search behind a next link (Epic 4113, HAPI 410): re-issue the search."""

    action = Action.REISSUE


class MalformedResponse(FhirError):
    """The answer is not what FHIR promises: not JSON, not a Bundle, a Bundle without ``type``..."""

    action = Action.SKIP


class DiscoveryError(FhirError):
    """The server's SMART configuration is missing or lacks a field we need (named in the message)."""

    action = Action.STOP


class TokenError(FhirError):
    """The token endpoint refused or answered badly; ``error`` is the OAuth error code if any."""

    action = Action.STOP

    def __init__(self, message: str, *, error: str | None = None, **kwargs: Any) -> None:
        self.error = error
        super().__init__(message, **kwargs)


class StateMismatch(FhirError):
    """The authorization response's ``state`` is not the one we sent: possible CSRF or a stale login."""

    action = Action.STOP


class BulkExportError(FhirError):
    """The bulk export failed as a whole (the status endpoint reported an error, or it never finished)."""

    action = Action.RETRY
    retryable = True
