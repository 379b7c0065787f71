"""No token, secret, API key, or patient name or identifier reaches a log line."""

from __future__ import annotations

import io
import logging

import pytest

from holovitals.logs import configure_logging, get_logger
from holovitals.security.redaction import register_sensitive, scrub_text

JWT = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJwYXRpZW50In0.c2lnbmF0dXJlLWJ5dGVz"
API_KEY = "hv_0123456789ab_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFG"
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Zyxwerty", "given": ["Quillon"]}],
    "identifier": [{"system": "urn:mrn", "value": "MRN-99887766"}],
    "birthDate": "1961-07-04",
    "telecom": [{"system": "phone", "value": "555-867-5309"}],
}
FORBIDDEN = [
    "Zyxwerty",
    "Quillon",
    "MRN-99887766",
    "1961-07-04",
    "555-867-5309",
    JWT,
    API_KEY,
    "s3cr3t-client-value",
    "123-45-6789",
    "quillon@example.org",
    "refresh-abcdef-987",
]


@pytest.fixture(params=["console", "json"])
def captured(request):
    stream = io.StringIO()
    configure_logging("DEBUG", request.param, stream=stream)
    yield stream
    configure_logging("INFO", "console")


def assert_clean(text: str) -> None:
    leaked = [value for value in FORBIDDEN if value in text]
    assert leaked == [], f"leaked into logs: {leaked}"


def test_structured_events_lose_sensitive_values(captured):
    log = get_logger("test")
    log.info(
        "token exchange", access_token=JWT, refresh_token="refresh-abcdef-987", client_secret="s3cr3t-client-value"
    )
    log.info("patient stored", resource=PATIENT)
    log.info("key presented", api_key=API_KEY, headers={"Authorization": f"Bearer {JWT}"})
    text = captured.getvalue()
    assert_clean(text)
    assert "token exchange" in text and "patient stored" in text


def test_free_text_messages_are_scrubbed(captured):
    log = get_logger("test")
    log.warning(f"callback failed for https://app/cb?code=abc123456789&state=xyz987654321 with Bearer {JWT}")
    log.warning("HL7 received: MSH|^~\\&|EPIC|HOSP\rPID|1||MRN-99887766^^^HOSP^MR||Zyxwerty^Quillon||19610704\rPV1|1|I")
    log.warning("contact quillon@example.org, ssn 123-45-6789")
    log.warning('body was {"name":[{"family":"Zyxwerty","given":["Quillon"]}],"birthDate":"1961-07-04"}')
    assert_clean(captured.getvalue())
    assert "PV1|1|I" in captured.getvalue()  # segments without demographics stay useful


def test_exceptions_and_stdlib_loggers_are_scrubbed(captured):
    try:
        raise RuntimeError(f"token endpoint answered 400 for client_secret=s3cr3t-client-value, key {API_KEY}")
    except RuntimeError:
        get_logger("test").exception("refresh failed")
        logging.getLogger("uvicorn.error").exception("stdlib path")
    logging.getLogger("some.library").warning("Authorization: Bearer %s", JWT)
    assert_clean(captured.getvalue())
    assert "refresh failed" in captured.getvalue()


def test_values_registered_at_run_time_are_scrubbed_anywhere(captured):
    register_sensitive("opaque-vendor-token-0f9e8d")
    get_logger("test").info("using opaque-vendor-token-0f9e8d for the next page")
    assert "opaque-vendor-token-0f9e8d" not in captured.getvalue()


def test_scrub_keeps_ordinary_text():
    assert scrub_text("synced 120 Observation resources in 3 pages") == "synced 120 Observation resources in 3 pages"
