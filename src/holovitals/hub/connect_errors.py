"""Why a connect attempt failed, as types that carry their HTTP answer; messages are safe to show.

No message here ever holds a code, state, verifier, token or secret: they are composed from our own
words, the EHR's host and the FHIR client's already-scrubbed messages, and scrubbed once more.
"""

from __future__ import annotations

from holovitals.security.redaction import scrub_text


class ConnectError(Exception):
    """Base: ``status`` and ``title`` become the problem document's, ``message`` its detail."""

    status = 400
    title = "Bad Request"

    def __init__(self, message: str) -> None:
        self.message = scrub_text(message)
        super().__init__(self.message)


class InvalidConnectRequest(ConnectError):
    """The request itself cannot work: unknown vendor, no base URL, a scope the vendor never grants."""


class AuthorizationNotFound(ConnectError):
    """No pending authorization for this state: never started, already completed, or expired."""

    def __init__(self, message: str = "state mismatch or expired: start the connection again") -> None:
        super().__init__(message)


class AuthorizationDenied(ConnectError):
    """The EHR sent the browser back with an OAuth error (the user said no, or the request was refused)."""


class CodeRejected(ConnectError):
    """The token endpoint refused the code (expired, already used, wrong verifier): start again."""


class EhrUnavailable(ConnectError):
    """The EHR could not be reached, or its SMART configuration or token answer was unusable."""

    status = 502
    title = "Bad Gateway"


class ConnectionNotFound(ConnectError):
    status = 404
    title = "Not Found"

    def __init__(self) -> None:
        super().__init__("no connection with that id")
