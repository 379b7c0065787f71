"""Retry-After arithmetic, backoff, error classification and redaction: pure functions, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from holovitals.fhir.errors import (
    Action,
    AuthenticationRequired,
    BadRequest,
    FhirError,
    Gone,
    NotFound,
    OutcomeUnknown,
    PagingSessionExpired,
    PolicyDenied,
    RateLimited,
    RequestRejected,
    TransientError,
    VersionConflict,
    redact_url,
)
from holovitals.fhir.http import RetryPolicy, error_for_response, parse_retry_after
from holovitals.security.redaction import register_sensitive

NOW = 1_767_225_000.0  # 2025-12-31T23:50:00Z


def outcome(text: str = "", code: str | None = None) -> dict:
    issue: dict = {"severity": "error", "code": "processing", "diagnostics": text}
    if code:
        issue["details"] = {"coding": [{"system": "urn:oid:1.2.840.114350", "code": code}]}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def response(status: int, body: dict | None = None, headers: dict | None = None) -> httpx.Response:
    import orjson

    return httpx.Response(status, content=orjson.dumps(body) if body else b"", headers=headers or {})


def classify(status: int, body: dict | None = None, *, method: str = "GET", **kw) -> FhirError:
    url = "https://ehr.example.org/fhir/Patient?_count=10"
    return error_for_response(response(status, body, kw.pop("headers", None)), method=method, url=url, **kw)


# -- Retry-After ---------------------------------------------------------------------------------


def test_retry_after_in_seconds_is_taken_as_is():
    assert parse_retry_after("30", now=NOW) == 30


def test_retry_after_as_an_http_date_counts_from_now():
    when = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert parse_retry_after(when, now=NOW) == pytest.approx(90)


def test_retry_after_sent_as_an_absolute_epoch_is_read_as_an_epoch():
    assert parse_retry_after("1767225600", now=NOW) == pytest.approx(600)


def test_retry_after_in_the_past_means_now():
    past = format_datetime(datetime.fromtimestamp(NOW - 60, UTC), usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0
    assert parse_retry_after(str(int(NOW - 60)), now=NOW) == 0


@pytest.mark.parametrize("value", ["-5", "soon", "", "NaN", None])
def test_nonsense_retry_after_is_ignored(value):
    assert parse_retry_after(value, now=NOW) is None


def test_policy_clamps_hours_long_retry_after_to_its_maximum():
    policy = RetryPolicy(max_retry_after=120)
    assert policy.retry_after("10800", now=NOW) == 120  # Oracle Health bulk: "come back in 3 hours"
    assert policy.retry_after(str(int(NOW + 10_000)), now=NOW) == 120
    assert policy.retry_after("7", now=NOW) == 7


def test_backoff_is_full_jitter_under_an_exponential_cap():
    policy = RetryPolicy(base=0.5, cap=30)
    assert policy.backoff(0, rng=lambda: 1.0) == 0.5
    assert policy.backoff(3, rng=lambda: 1.0) == 4.0
    assert policy.backoff(20, rng=lambda: 1.0) == 30
    assert policy.backoff(3, rng=lambda: 0.25) == 1.0


# -- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "action"),
    [
        (401, AuthenticationRequired, Action.REAUTHENTICATE),
        (403, PolicyDenied, Action.SKIP),
        (404, NotFound, Action.SKIP),
        (410, Gone, Action.SKIP),
        (400, BadRequest, Action.SKIP),
        (422, BadRequest, Action.SKIP),
        (405, RequestRejected, Action.SKIP),
        (429, RateLimited, Action.RETRY),
        (408, TransientError, Action.RETRY),
        (500, TransientError, Action.RETRY),
        (502, TransientError, Action.RETRY),
        (503, TransientError, Action.RETRY),
        (504, TransientError, Action.RETRY),
    ],
)
def test_status_maps_to_an_error_type_that_carries_the_decision(status, kind, action):
    error = classify(status, outcome("why"))
    assert type(error) is kind
    assert error.action == action
    assert error.retryable == (action == Action.RETRY)
    assert error.status == status


@pytest.mark.parametrize("status", [409, 412])
def test_409_and_412_on_a_write_are_both_version_conflicts(status):
    current = {"resourceType": "Observation", "id": "o1", "meta": {"versionId": "7"}}
    error = classify(status, current, method="PUT")
    assert isinstance(error, VersionConflict)
    assert error.current_resource == current
    assert error.current_version == "7"


def test_version_conflict_takes_the_version_from_the_etag():
    error = classify(412, outcome("changed"), method="PUT", headers={"ETag": 'W/"12"'})
    assert isinstance(error, VersionConflict)
    assert error.current_version == "12"
    assert error.current_resource is None


@pytest.mark.parametrize("code", ["4130", "4131", "4134"])
def test_epic_break_the_glass_is_a_policy_denial(code):
    error = classify(403, outcome("Break-the-glass required", code))
    assert isinstance(error, PolicyDenied)
    assert not error.retryable


def test_epic_4113_is_an_expired_paging_session():
    assert isinstance(classify(400, outcome("The search session has expired", "4113")), PagingSessionExpired)


def test_a_next_link_the_server_forgot_is_an_expired_paging_session():
    assert isinstance(classify(410, outcome("Search not found"), next_link=True), PagingSessionExpired)
    assert isinstance(classify(400, outcome("paging session expired"), next_link=True), PagingSessionExpired)
    assert isinstance(classify(400, outcome("bad date"), next_link=True), BadRequest)
    assert isinstance(classify(410, outcome("deleted")), Gone)  # not on a next link: a plain 410


def test_a_create_that_failed_after_sending_is_outcome_unknown():
    error = classify(504, None, method="POST", idempotent=False)
    assert isinstance(error, OutcomeUnknown)
    assert "may or may not have happened" in error.message


def test_rate_limited_carries_the_servers_retry_after():
    error = classify(429, None, headers={"Retry-After": "42"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 42


def test_bad_request_message_carries_the_outcome_diagnostics():
    error = classify(400, outcome("Observation search requires category or code"))
    assert "Observation search requires category or code" in str(error)
    assert error.diagnostics == "Observation search requires category or code"


# -- redaction -----------------------------------------------------------------------------------


def test_url_query_tokens_and_patient_identity_are_redacted():
    url = "https://u:pw@ehr.example.org/fhir/Patient?name=Smith&birthdate=1970-01-01&access_token=abc123&_count=5"
    shown = redact_url(url)
    assert "Smith" not in shown and "1970-01-01" not in shown and "abc123" not in shown
    assert "pw" not in shown and "u:" not in shown
    assert "_count=5" in shown and "ehr.example.org/fhir/Patient" in shown


def test_error_text_never_shows_a_registered_secret():
    register_sensitive("sk-live-0123456789")
    error = BadRequest(
        "server said: token sk-live-0123456789 is invalid",
        status=400,
        url="https://ehr.example.org/fhir/Patient?code=sk-live-0123456789&state=xyz",
        outcome=outcome("echo sk-live-0123456789"),
    )
    for text in (str(error), repr(error), error.diagnostics, error.url or ""):
        assert "sk-live-0123456789" not in text
    assert "xyz" not in str(error)
