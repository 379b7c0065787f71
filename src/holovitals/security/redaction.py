"""Scrub secrets and patient data from anything about to be logged.

Three nets, because any one alone leaks: sensitive *keys* anywhere in a structured event; known
*shapes* in any string (bearer tokens, JWTs, our API keys and ciphertexts, OAuth query parameters,
SSNs, e-mail addresses, HL7 v2 segments that carry demographics, FHIR name/identifier JSON); and
*known values* registered at run time (every secret the secret box opens, every API key presented).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

SENSITIVE_KEYS = frozenset(
    {
        "access_token", "refresh_token", "id_token", "token", "secret", "client_secret", "password",
        "passwd", "authorization", "api_key", "apikey", "x-api-key", "private_key", "client_assertion",
        "assertion", "code", "code_verifier", "cookie", "set-cookie", "keyring", "master_key",
        "webhook_secret", "signature",
        # patient identity
        "name", "given", "family", "patient_name", "first_name", "last_name", "birthdate", "birth_date",
        "dob", "mrn", "ssn", "identifier", "identifiers", "phone", "telecom", "email", "address",
        "line", "postalcode", "postal_code",
    }
)  # fmt: skip

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),
    (re.compile(r"hv_[0-9a-f]{12}_[A-Za-z0-9_\-]+"), REDACTED),
    (re.compile(r"hv1:[A-Za-z0-9]+:[A-Za-z0-9_\-]+"), REDACTED),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|code|code_verifier|client_secret|"
            r"client_assertion|password|token|state|api_key)=[^&\s\"']+"
        ),
        r"\1=" + REDACTED,
    ),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), REDACTED),
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), REDACTED),
    # HL7 v2 segments with demographics: keep the segment name, drop its fields.
    (re.compile(r"\b(PID|NK1|GT1|IN1|IN2|PD1|MRG)\|[^\r\n\x1c]*"), r"\1|" + REDACTED),
    # FHIR JSON fragments naming a person or carrying identifiers.
    (
        re.compile(
            r"\"(family|given|birthDate|name|text|line|postalCode|value|prefix|suffix)\"\s*:\s*"
            r"(\"(?:[^\"\\]|\\.)*\"|\[[^\]]*\])"
        ),
        r'"\1": "' + REDACTED + '"',
    ),
]

_known_lock = threading.Lock()
_known_values: set[str] = set()
_known_regex: re.Pattern[str] | None = None
MIN_KNOWN_LENGTH = 6


def register_sensitive(value: str | None) -> None:
    """Remember a value (a decrypted secret, a presented key) so it never appears in a log."""
    global _known_regex
    if not value or len(value) < MIN_KNOWN_LENGTH:
        return
    with _known_lock:
        if value in _known_values:
            return
        _known_values.add(value)
        ordered = sorted(_known_values, key=len, reverse=True)
        _known_regex = re.compile("|".join(re.escape(v) for v in ordered))


def scrub_text(text: str) -> str:
    """Redact known shapes and known values from one string."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    known = _known_regex
    if known is not None:
        text = known.sub(REDACTED, text)
    return text


def scrub(value: Any, key: str | None = None) -> Any:
    """Redact recursively: sensitive keys lose their value, strings are scrubbed."""
    if key is not None and key.lower() in SENSITIVE_KEYS:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [scrub(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return scrub_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, BaseException):
        return scrub_text(f"{type(value).__name__}: {value}")
    return value


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last line of defence before rendering."""
    out: dict[str, Any] = {}
    for k, v in event_dict.items():
        if k == "event":
            out[k] = scrub_text(str(v))
        elif k == "exc_info":
            out[k] = v
        else:
            out[k] = scrub(v, k)
    return out


def scrub_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """Applied to the final rendered line too (tracebacks are rendered after the processors)."""
    if isinstance(rendered, str):
        return scrub_text(rendered)
    return rendered
