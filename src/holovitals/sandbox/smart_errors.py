"""The one error type of the sandbox authorization server: its status and code are the decision."""

from __future__ import annotations


class SmartError(Exception):
    """An OAuth or resource-access refusal.

    ``status`` is the HTTP status to answer with (400, 401, 403), ``code`` the OAuth error code
    (``invalid_grant``, ``invalid_client``...) or, from :meth:`SmartAuthServer.authenticate`,
    ``invalid_token`` / ``insufficient_scope`` / ``forbidden``. ``message`` is safe to show: it
    never contains a token, code, secret or assertion.
    """

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"SmartError({self.status}, {self.code!r}, {self.message!r})"

    def oauth_body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.message}

    def www_authenticate(self, realm: str = "sandbox") -> str:
        """RFC 6750 challenge for a resource-server refusal (the REST layer's 401/403 header)."""
        description = self.message.replace('"', "'")
        return f'Bearer realm="{realm}", error="{self.code}", error_description="{description}"'
