"""Token revocation (RFC 7009) on disconnect: best effort, every outcome reported, nothing raised.

A disconnect must succeed even when the EHR is down or has no revocation endpoint: the tokens are
deleted on our side regardless, and what the EHR said is written to the audit log instead.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import httpx

from holovitals.fhir.errors import host_of


@dataclass
class RevocationReport:
    revoked: list[str] = field(default_factory=list)  # token type hints the EHR accepted
    failures: list[str] = field(default_factory=list)  # safe one-liners: no token, no secret

    def summary(self) -> str:
        parts = []
        if self.revoked:
            parts.append("revoked " + ", ".join(self.revoked))
        if self.failures:
            parts.append("revocation failed: " + "; ".join(self.failures))
        return "; ".join(parts) or "no tokens to revoke"


def basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-urlencoded first (RFC 6749 section 2.3.1)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


async def revoke_tokens(
    http: httpx.AsyncClient,
    endpoint: str,
    tokens: Mapping[str, str],
    *,
    client_id: str | None,
    client_secret: str | None = None,
    extra_form: Mapping[str, str] | None = None,
) -> RevocationReport:
    """POST each token (``{"refresh_token": ..., "access_token": ...}``) to the revocation endpoint.

    The refresh token goes first: at most servers revoking it ends the whole grant, so if the
    second call fails the access token still dies within its lifetime.
    """
    report = RevocationReport()
    for hint in sorted(tokens, key=lambda h: h != "refresh_token"):
        form = {"token": tokens[hint], "token_type_hint": hint, **(extra_form or {})}
        headers = {"Accept": "application/json"}
        if client_secret and client_id:
            headers["Authorization"] = basic_auth(client_id, client_secret)
        elif client_id:
            form["client_id"] = client_id
        try:
            response = await http.post(endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            report.failures.append(f"{hint}: {host_of(endpoint)} unreachable ({type(exc).__name__})")
            continue
        if response.status_code == 200:
            report.revoked.append(hint)
        else:
            report.failures.append(f"{hint}: HTTP {response.status_code} from {host_of(endpoint)}")
    return report
