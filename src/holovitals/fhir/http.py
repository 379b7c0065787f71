"""The transport under the FHIR client: one pooled httpx client, retries, Retry-After, 401 re-auth.

Everything that decides *whether to try again* lives here, so the REST methods, paging and bulk
download share one behaviour: transient failures are retried with full-jitter backoff, a 429 waits
as long as the server asks (within reason), a 401 gets exactly one fresh token, and whatever still
fails is raised as a typed error from :mod:`holovitals.fhir.errors`.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Protocol, runtime_checkable

import httpx
import orjson

from holovitals.fhir.errors import (
    AuthenticationRequired,
    BadRequest,
    FhirError,
    Gone,
    MalformedResponse,
    NetworkError,
    NotFound,
    OutcomeUnknown,
    PagingSessionExpired,
    PolicyDenied,
    RateLimited,
    RequestRejected,
    ServerUnreachable,
    TransientError,
    VersionConflict,
    host_of,
    outcome_codes,
    outcome_diagnostics,
)
from holovitals.fhir.ratelimit import RateLimit, RateLimitedTransport
from holovitals.security.redaction import register_sensitive, scrub_text

FHIR_JSON = "application/fhir+json"
USER_AGENT = "HoloVitals-Sync/0.1 (+httpx)"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0)
DEFAULT_HEADERS = {"Accept": FHIR_JSON, "Accept-Encoding": "gzip, deflate", "User-Agent": USER_AGENT}

# 500 is retried although it is not always transient: several EHRs (Epic among them) answer 500 for
# both a database hiccup and a permanent fault in one record, and only a retry tells them apart.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

EPIC_PAGING_EXPIRED = frozenset({"4113"})
EPIC_BREAK_THE_GLASS = frozenset({"4130", "4131", "4134"})
_EXPIRED_TEXT = re.compile(
    r"(?i)(session|search|page|paging|cursor|context|continuation).{0,40}(expired|no longer|not found|unknown)"
    r"|(expired|stale).{0,20}(session|page|paging|search|cursor)"
)

# A Retry-After larger than this, sent as plain seconds, is really an absolute epoch (one reference
# bulk server sends `Retry-After: 1767225600`). Anything above a day in the past counts as epoch.
_EPOCH_SLACK_S = 86_400.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``max_attempts`` counts the first try; a 401 re-auth is not an attempt."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (AWS's result: fewest collisions)."""
        return rng() * min(self.cap, self.base * (2 ** max(0, attempt)))

    def retry_after(self, value: str | None, *, now: float | None = None) -> float | None:
        """The server's Retry-After as seconds from now, clamped to ``[0, max_retry_after]``.

        Field experience: values in the wild run from 1 s to hours (Oracle Health's bulk status can
        say several hours), some servers send a negative number, and one sends an absolute epoch as
        if it were seconds. We wait at most ``max_retry_after`` and then try again: a retry that
        comes early costs one more 429, a worker parked for hours costs the whole sync.
        """
        wanted = parse_retry_after(value, now=now)
        if wanted is None:
            return None
        return min(wanted, self.max_retry_after)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait (>= 0), or None when absent or nonsense. Not clamped above."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    now = time.time() if now is None else now
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT by definition
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    if seconds != seconds or seconds < 0:  # NaN or negative: ignore, back off on our own
        return None
    if seconds > now - _EPOCH_SLACK_S:
        return max(0.0, seconds - now)
    return seconds


@runtime_checkable
class TokenProvider(Protocol):
    """What the transport needs from authentication: a current token, and a fresh one after a 401."""

    async def get_token(self) -> str: ...

    async def force_refresh(self, stale: str | None = None) -> str: ...


class StaticToken:
    """A fixed bearer token (tests, a token pasted by an operator). A 401 cannot be repaired."""

    def __init__(self, token: str) -> None:
        register_sensitive(token)
        self._token = token

    async def get_token(self) -> str:
        return self._token

    async def force_refresh(self, stale: str | None = None) -> str:
        raise AuthenticationRequired("the static access token was refused and cannot be refreshed")

    def __repr__(self) -> str:
        return "StaticToken(***)"


@dataclass
class TransportStats:
    """Counters the sync runner reports (how hard the server pushed back)."""

    requests: int = 0
    retries: int = 0
    reauthentications: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


def make_http_client(
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
    rate_limit: RateLimit | None = None,
    verify: bool | str = True,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """A pooled keep-alive client; with ``rate_limit`` every request through it (tokens too) is paced."""
    inner: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits, verify=verify, retries=0)
    transport = RateLimitedTransport(inner, rate_limit) if rate_limit is not None else inner
    return httpx.AsyncClient(
        timeout=timeout,
        headers={**DEFAULT_HEADERS, **(headers or {})},
        transport=transport,
        follow_redirects=True,  # httpx drops Authorization when a redirect leaves the origin
    )


def _describe(method: str, url: str) -> str:
    path = httpx.URL(url).path if url else ""
    return f"{method} {path}"


def _body_json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def etag_version(etag: str | None) -> str | None:
    """``W/"3"`` -> ``3``."""
    if not etag:
        return None
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def error_for_response(
    response: httpx.Response,
    *,
    method: str,
    url: str,
    next_link: bool = False,
    idempotent: bool = True,
    version_conflict_statuses: tuple[int, ...] = (409, 412),
    retry: RetryPolicy | None = None,
) -> FhirError:
    """Turn a 4xx/5xx into the error type that says what to do about it."""
    status = response.status_code
    body = _body_json(response)
    outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    resource = body if isinstance(body, dict) and body.get("resourceType") and outcome is None else None
    codes = outcome_codes(outcome)
    diagnostics = outcome_diagnostics(outcome)
    what = _describe(method, url)
    reason = f"{status} {response.reason_phrase}".strip()
    detail = f": {diagnostics}" if diagnostics else ""
    common: dict[str, Any] = {"status": status, "url": url, "outcome": outcome}

    if codes & EPIC_PAGING_EXPIRED or (
        next_link and 400 <= status < 500 and status not in (401, 403, 429) and (
            status in (404, 410) or _EXPIRED_TEXT.search(diagnostics or "")
        )
    ):  # fmt: skip
        return PagingSessionExpired(f"{what}: the server's paging session expired{detail}", **common)
    if codes & EPIC_BREAK_THE_GLASS:
        return PolicyDenied(f"{what}: break-the-glass policy denies access{detail}", **common)
    if status == 401:
        return AuthenticationRequired(f"{what}: the server refused our credentials{detail}", **common)
    if status == 403:
        return PolicyDenied(f"{what}: forbidden by the server's policy{detail}", **common)
    if status == 404:
        return NotFound(f"{what}: not found{detail}", **common)
    if status == 410:
        return Gone(f"{what}: gone (deleted){detail}", **common)
    if status in version_conflict_statuses and method in ("PUT", "PATCH", "DELETE", "POST"):
        current = resource if resource and resource.get("resourceType") != "Bundle" else None
        version = etag_version(response.headers.get("ETag"))
        if version is None and current:
            version = (current.get("meta") or {}).get("versionId")
        return VersionConflict(
            f"{what}: version conflict, the resource changed on the server{detail}",
            current_resource=current,
            current_version=version,
            **common,
        )
    if status in (400, 422):
        return BadRequest(f"{what}: {reason}{detail}", **common)
    if status == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(f"{what}: rate limited{detail}", retry_after=wait, **common)
    if status in TRANSIENT_STATUSES or (status >= 500 and status != 501):
        if not idempotent and status != 503:
            return OutcomeUnknown(f"{what}: {reason} after sending; the write may or may not have happened", **common)
        return TransientError(f"{what}: {reason}{detail}", **common)
    return RequestRejected(f"{what}: {reason}{detail}", **common)


def error_for_exception(exc: httpx.HTTPError, *, method: str, url: str, idempotent: bool) -> FhirError:
    """Network failures: unreachable (never sent, safe to retry) vs cut off mid-way (maybe sent)."""
    host = host_of(url)
    if isinstance(exc, httpx.ConnectTimeout):
        return ServerUnreachable(f"cannot reach {host}: connection timed out", host=host, url=url)
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        why = "name does not resolve" if ("name" in text or "resolution" in text or "nodename" in text) else None
        why = why or ("connection refused" if "refused" in text else "connection failed")
        return ServerUnreachable(f"cannot reach {host}: {why}", host=host, url=url)
    if isinstance(exc, httpx.PoolTimeout):
        return ServerUnreachable(f"no free connection to {host} in time", host=host, url=url)
    kind = type(exc).__name__
    what = _describe(method, url)
    if not idempotent:
        return OutcomeUnknown(f"{what}: {kind} after sending; the write may or may not have happened", url=url)
    return NetworkError(f"{what}: {kind}: {scrub_text(str(exc))[:200]}", url=url)


class Transport:
    """One connection's requests: auth header, pacing, retries, typed errors. Async-safe."""

    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        auth: TokenProvider | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = None,
        extra_headers: Mapping[str, str] | None = None,
        version_conflict_statuses: tuple[int, ...] = (409, 412),
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.owns_http = http is None
        # Pace at the httpx transport when we build the client (so token calls over it pay too);
        # a caller's own client cannot be wrapped, so pace here instead.
        self.http = http or make_http_client(timeout=timeout, rate_limit=rate_limit)
        self._pace_here = rate_limit is not None and not self.owns_http
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.rate_limit = rate_limit
        self.extra_headers = dict(extra_headers or {})
        self.version_conflict_statuses = tuple(version_conflict_statuses)
        self.stats = TransportStats()
        self._sleep = sleep
        self._rng = rng

    async def aclose(self) -> None:
        if self.owns_http:
            await self.http.aclose()

    def _headers(self, headers: Mapping[str, str] | None, token: str | None) -> dict[str, str]:
        merged = {**DEFAULT_HEADERS, **self.extra_headers, **(headers or {})}
        if token:
            merged["Authorization"] = f"Bearer {token}"
        return merged

    async def _token(self, authenticate: bool) -> str | None:
        if not authenticate or self.auth is None:
            return None
        try:
            return await self.auth.get_token()
        except TransientError:
            raise
        except FhirError as exc:
            raise AuthenticationRequired(f"no usable access token: {exc.message}") from exc

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited_s += seconds
            await self._sleep(seconds)

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        content: bytes | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
        next_link: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with retries; returns a response with status < 400 (caller closes it if ``stream``)."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if json is not None:
            content = orjson.dumps(json)
            headers = {"Content-Type": FHIR_JSON, **(headers or {})}
        attempt = 0
        reauthenticated = False
        while True:
            token = await self._token(authenticate)
            request = self.http.build_request(
                method, url, params=params, content=content, data=data, headers=self._headers(headers, token)
            )
            shown_url = str(request.url)
            if self._pace_here and self.rate_limit is not None:
                await self.rate_limit.acquire()
            self.stats.requests += 1
            try:
                response = await self.http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                error = error_for_exception(exc, method=method, url=shown_url, idempotent=idempotent)
                # A write cut off after sending is never repeated here: it may have happened.
                if error.retryable and not isinstance(error, OutcomeUnknown) and attempt + 1 < self.retry.max_attempts:
                    attempt += 1
                    self.stats.retries += 1
                    await self._wait(self.retry.backoff(attempt - 1, self._rng))
                    continue
                raise error from None
            status = response.status_code
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status < 400:
                return response
            if stream:
                await response.aread()
                await response.aclose()
            if status == 401 and token is not None and self.auth is not None and not reauthenticated:
                # One fresh token per request, not counted as a retry: tokens die early (revoked,
                # server restarted, clock skew) and the first 401 is usually just that.
                reauthenticated = True
                self.stats.reauthentications += 1
                try:
                    await self.auth.force_refresh(token)
                except TransientError:
                    raise
                except FhirError as exc:
                    raise AuthenticationRequired(
                        f"{_describe(method, shown_url)}: token refused and refresh failed: {exc.message}",
                        status=401,
                        url=shown_url,
                    ) from exc
                continue
            error = error_for_response(
                response,
                method=method,
                url=shown_url,
                next_link=next_link,
                idempotent=idempotent,
                version_conflict_statuses=self.version_conflict_statuses,
            )
            may_retry = error.retryable and (idempotent or isinstance(error, RateLimited) or status == 503)
            if may_retry and attempt + 1 < self.retry.max_attempts:
                attempt += 1
                self.stats.retries += 1
                delay = self.retry.retry_after(response.headers.get("Retry-After"))
                if isinstance(error, RateLimited):
                    self.stats.rate_limited += 1
                    if delay is None:  # 429 with no Retry-After (eClinicalWorks): back off, at least 1 s
                        delay = max(1.0, self.retry.backoff(attempt, self._rng))
                    if self.rate_limit is not None:
                        self.rate_limit.pause(delay)  # the whole connection waits, not just this call
                if delay is None:
                    delay = self.retry.backoff(attempt - 1, self._rng)
                await self._wait(delay)
                continue
            raise error

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.send(method, url, **kwargs)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A streamed response (bulk NDJSON): retries apply until the headers arrive."""
        response = await self.send(method, url, stream=True, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()

    async def get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.send("GET", url, **kwargs)
        return parse_json_resource(response, url=str(response.request.url))


def parse_json_resource(response: httpx.Response, *, url: str, expect: str | None = None) -> dict[str, Any]:
    """The body as a FHIR resource, or :class:`MalformedResponse` saying what is wrong with it."""
    what = _describe(response.request.method if response.request else "GET", url)
    if not response.content:
        raise MalformedResponse(f"{what}: empty response body", status=response.status_code, url=url)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        ctype = response.headers.get("Content-Type", "?").split(";")[0]
        raise MalformedResponse(
            f"{what}: response is not JSON (Content-Type {ctype})", status=response.status_code, url=url
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise MalformedResponse(f"{what}: response has no resourceType", status=response.status_code, url=url)
    if expect and body["resourceType"] != expect:
        raise MalformedResponse(
            f"{what}: expected a {expect}, got a {body['resourceType']}", status=response.status_code, url=url
        )
    return body
