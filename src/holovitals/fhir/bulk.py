"""Bulk Data 2.0 client: kick-off, resumable polling, bounded parallel streaming NDJSON download.

An export can take hours (Oracle Health's Retry-After alone can be hours), so its state is a small
dict the caller persists (``on_state``): after a restart, :meth:`BulkExport.resume` polls the same
export instead of starting another, which Epic and eClinicalWorks would refuse while one is in
flight. Files are parsed line by line as they stream, so memory stays flat for multi-GB files; a
file that fails after retries is recorded as a failure, never skipped silently.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import orjson

from holovitals.fhir.client import FhirClient
from holovitals.fhir.errors import (
    BulkExportError,
    FhirError,
    Gone,
    MalformedResponse,
    NotFound,
    TransientError,
)
from holovitals.fhir.http import error_for_exception, parse_retry_after

NDJSON = "application/fhir+ndjson"
LEVELS = ("system", "patient", "group")
STATE_VERSION = 1

Batch = list[tuple[str, dict[str, Any]]]
Consumer = Callable[[Batch], Awaitable[None] | None]


@dataclass
class BulkFailure:
    """A file (or one line of it) that could not be read; the export is incomplete by this much."""

    url: str
    type: str
    reason: str
    error: FhirError | None = None
    line: int | None = None


@dataclass
class BulkResult:
    transaction_time: str | None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)  # OperationOutcomes from `error` files
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (type, id) tombstones
    failures: list[BulkFailure] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)
    cleanup_error: str | None = None

    @property
    def next_since(self) -> str | None:
        """Use as ``_since`` next time: the server's transactionTime, not our clock."""
        return self.transaction_time

    @property
    def complete(self) -> bool:
        return not self.failures


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


class BulkExport:
    """One $export. ``run(consumer)`` does it all; the steps are public for callers that persist between them."""

    def __init__(
        self,
        client: FhirClient,
        *,
        level: str = "system",
        group_id: str | None = None,
        types: Iterable[str] | None = None,
        since: str | None = None,
        type_filters: Iterable[str] | None = None,
        method: str = "GET",
        output_format: str = NDJSON,
        extra_params: Mapping[str, str] | None = None,
        lenient: bool = False,
        max_parallel: int = 4,
        batch_size: int = 500,
        keep_text: bool = False,
        on_progress: Callable[[str], Awaitable[None] | None] | None = None,
        on_state: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None,
        poll_interval: float = 2.0,
        max_poll_interval: float | None = None,
        timeout: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        if level == "group" and not group_id:
            raise ValueError("a group export needs group_id")
        if method not in ("GET", "POST"):
            raise ValueError("method must be GET or POST")
        self.client = client
        self.level = level
        self.group_id = group_id
        self.types = list(types or [])
        self.since = since
        self.type_filters = list(type_filters or [])
        self.method = method
        self.output_format = output_format
        self.extra_params = dict(extra_params or {})
        self.lenient = lenient
        self.max_parallel = max(1, max_parallel)
        self.batch_size = max(1, batch_size)
        # With keep_text each batch item is (type, resource, the NDJSON line as sent): a store that
        # keeps the source's text then needs no re-serialisation (the hot path of a bulk ingest).
        self.keep_text = keep_text
        self.on_progress = on_progress
        self.on_state = on_state
        self.poll_interval = poll_interval
        self.max_poll_interval = (
            max_poll_interval if max_poll_interval is not None else client.transport.retry.max_retry_after
        )
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self.poll_url: str | None = None
        self.kickoff_time: str | None = None
        self.kickoff_request: dict[str, Any] = {}
        self.completed: list[str] = []
        self.progress: str | None = None
        self._consumer_lock = asyncio.Lock()

    # -- state -------------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """What to persist to resume this export after a restart (no secrets in it)."""
        return {
            "version": STATE_VERSION,
            "poll_url": self.poll_url,
            "kickoff_time": self.kickoff_time,
            "request": dict(self.kickoff_request),
            "level": self.level,
            "group_id": self.group_id,
            "types": list(self.types),
            "since": self.since,
            "type_filters": list(self.type_filters),
            "method": self.method,
            "extra_params": dict(self.extra_params),
            "lenient": self.lenient,
            "completed": list(self.completed),
        }

    @classmethod
    def resume(cls, client: FhirClient, state: Mapping[str, Any], **kwargs: Any) -> BulkExport:
        """Continue an export from its persisted state (poll the same status URL; skip finished files)."""
        if not state.get("poll_url"):
            raise ValueError("the saved export state has no poll_url: kick off a new export")
        export = cls(
            client,
            level=state.get("level", "system"),
            group_id=state.get("group_id"),
            types=state.get("types"),
            since=state.get("since"),
            type_filters=state.get("type_filters"),
            method=state.get("method", "GET"),
            extra_params=state.get("extra_params"),
            lenient=bool(state.get("lenient")),
            **kwargs,
        )
        export.poll_url = str(state["poll_url"])
        export.kickoff_time = state.get("kickoff_time")
        export.kickoff_request = dict(state.get("request") or {})
        export.completed = list(state.get("completed") or [])
        return export

    async def _save(self) -> None:
        if self.on_state is not None:
            await _maybe_await(self.on_state(self.state))

    # -- kick-off ----------------------------------------------------------------------------
    def kickoff_url(self) -> str:
        base = self.client.base_url
        if self.level == "system":
            return f"{base}/$export"
        if self.level == "patient":
            return f"{base}/Patient/$export"
        return f"{base}/Group/{quote(str(self.group_id), safe='-._~')}/$export"

    def _params(self) -> list[tuple[str, str]]:
        params = [("_outputFormat", self.output_format)]
        if self.types:
            params.append(("_type", ",".join(self.types)))
        if self.since:
            params.append(("_since", self.since))
        # One _typeFilter per query: the queries themselves contain commas.
        params.extend(("_typeFilter", f) for f in self.type_filters)
        params.extend(self.extra_params.items())
        return params

    def _parameters_resource(self) -> dict[str, Any]:
        parameter: list[dict[str, Any]] = []
        for name, value in self._params():
            kind = "valueInstant" if name == "_since" else "valueString"
            parameter.append({"name": name, kind: value})
        return {"resourceType": "Parameters", "parameter": parameter}

    async def kick_off(self) -> dict[str, Any]:
        """Start the export; returns (and reports through ``on_state``) the state to persist.

        A 429 (a second concurrent export, or plain throttling) is retried by the transport as long
        as its policy allows, then raised as ``RateLimited`` with the server's ``retry_after``.
        """
        url = self.kickoff_url()
        # handling=lenient: the server drops what it does not support and says so in the `error` files.
        prefer = "respond-async, handling=lenient" if self.lenient else "respond-async"
        headers = {"Accept": "application/fhir+json", "Prefer": prefer}
        if self.method == "GET":
            response = await self.client.transport.send("GET", url, params=self._params(), headers=headers)
        else:
            response = await self.client.transport.send(
                "POST", url, json=self._parameters_resource(), headers=headers, idempotent=True
            )
        shown = str(response.request.url)
        location = response.headers.get("Content-Location")
        if response.status_code != 202 or not location:
            raise MalformedResponse(
                f"$export kick-off answered {response.status_code} without a Content-Location to poll",
                status=response.status_code,
                url=shown,
            )
        self.poll_url = urljoin(shown, location)
        self.kickoff_time = datetime.now(UTC).isoformat(timespec="seconds")
        self.kickoff_request = {"method": self.method, "url": url, "params": self._params()}
        self.completed = []
        await self._save()
        return self.state

    # -- polling -----------------------------------------------------------------------------
    async def wait(self) -> dict[str, Any]:
        """Poll until the manifest is ready, honouring Retry-After (capped) and reporting X-Progress."""
        if not self.poll_url:
            raise ValueError("nothing to poll: kick_off() or resume() first")
        started = self._clock()
        interval = self.poll_interval
        while True:
            try:
                response = await self.client.transport.send(
                    "GET", self.poll_url, headers={"Accept": "application/json"}
                )
            except (NotFound, Gone) as exc:
                raise BulkExportError(
                    "the export is gone from the server (expired or deleted): kick off a new one",
                    status=exc.status,
                    url=self.poll_url,
                    outcome=exc.outcome,
                ) from exc
            except FhirError as exc:
                if exc.status and exc.status >= 500 and not _transient_outcome(exc.outcome):
                    raise BulkExportError(
                        f"the export failed on the server: {exc.diagnostics or exc.status}",
                        status=exc.status,
                        url=self.poll_url,
                        outcome=exc.outcome,
                    ) from exc
                raise
            if response.status_code == 200:
                manifest = _manifest(response, self.poll_url)
                return manifest
            if response.status_code != 202:
                raise MalformedResponse(
                    f"export status answered {response.status_code}; expected 202 or 200", url=self.poll_url
                )
            progress = response.headers.get("X-Progress")
            if progress:
                self.progress = progress
                if self.on_progress is not None:
                    await _maybe_await(self.on_progress(progress))
            asked = parse_retry_after(response.headers.get("Retry-After"))
            delay = min(asked, self.max_poll_interval) if asked is not None else interval
            interval = min(interval * 1.5, self.max_poll_interval)
            if self.timeout is not None and self._clock() - started + delay > self.timeout:
                raise BulkExportError(
                    f"the export did not finish within {self.timeout:.0f} s; resume it later", url=self.poll_url
                )
            await self._sleep(delay)

    # -- download ----------------------------------------------------------------------------
    async def download(self, manifest: Mapping[str, Any], consumer: Consumer) -> BulkResult:
        """Stream every output file to ``consumer`` in batches (at most ``max_parallel`` files at once)."""
        result = BulkResult(transaction_time=manifest.get("transactionTime"), manifest=dict(manifest))
        # Send our bearer token to file URLs only when the manifest asks: files often live on a
        # storage service with pre-signed URLs, where an Authorization header breaks the signature.
        authenticate = bool(manifest.get("requiresAccessToken"))
        semaphore = asyncio.Semaphore(self.max_parallel)
        base = self.poll_url or self.client.base_url

        async def guarded(job: Awaitable[None]) -> None:
            async with semaphore:
                await job

        jobs: list[Awaitable[None]] = []
        for entry in manifest.get("output") or []:
            url = urljoin(base, str(entry.get("url", "")))
            if url in self.completed:
                continue
            jobs.append(self._output_file(url, str(entry.get("type") or "?"), authenticate, consumer, result))
        for entry in manifest.get("error") or []:
            jobs.append(self._error_file(urljoin(base, str(entry.get("url", ""))), authenticate, result))
        for entry in manifest.get("deleted") or []:
            jobs.append(self._deleted_file(urljoin(base, str(entry.get("url", ""))), authenticate, result))
        try:
            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(guarded(job))
        except BaseExceptionGroup as grouped:  # a consumer (store) failure: surface it as itself
            raise grouped.exceptions[0] from None
        return result

    async def _lines(self, url: str, authenticate: bool) -> AsyncIterator[tuple[int, str]]:
        """Lines of a file as they arrive; a connection cut mid-file resumes after the last line given."""
        policy = self.client.transport.retry
        given = 0
        attempt = 0
        while True:
            try:
                async with self.client.transport.stream(
                    "GET", url, headers={"Accept": NDJSON}, authenticate=authenticate
                ) as response:
                    number = 0
                    async for line in response.aiter_lines():
                        number += 1
                        if number <= given:
                            continue
                        given = number
                        yield number, line
                return
            except httpx.HTTPError as exc:
                error: FhirError = error_for_exception(exc, method="GET", url=url, idempotent=True)
            except TransientError as exc:
                error = exc
            attempt += 1
            if attempt >= policy.max_attempts:
                raise error
            await self._sleep(policy.backoff(attempt - 1))

    async def _deliver(self, consumer: Consumer, batch: Batch) -> None:
        async with self._consumer_lock:  # the consumer (a store upsert) never runs concurrently with itself
            await _maybe_await(consumer(batch))

    async def _objects(
        self, url: str, rtype: str, authenticate: bool, result: BulkResult
    ) -> AsyncIterator[tuple[dict[str, Any], str]]:
        """JSON objects of an NDJSON file with their line; a bad line is recorded as a failure and the
        rest still read."""
        async with aclosing(self._lines(url, authenticate)) as lines:
            async for number, line in lines:
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError:
                    result.failures.append(BulkFailure(url, rtype, f"line {number} is not JSON", line=number))
                    continue
                if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                    result.failures.append(
                        BulkFailure(url, rtype, f"line {number} is not a FHIR resource", line=number)
                    )
                    continue
                yield value, line

    async def _output_file(
        self, url: str, rtype: str, authenticate: bool, consumer: Consumer, result: BulkResult
    ) -> None:
        batch: Batch = []
        count = 0
        try:
            async with aclosing(self._objects(url, rtype, authenticate, result)) as resources:
                async for resource, line in resources:
                    if self.keep_text:
                        batch.append((resource["resourceType"], resource, line))  # type: ignore[arg-type]
                    else:
                        batch.append((resource["resourceType"], resource))
                    count += 1
                    if len(batch) >= self.batch_size:
                        await self._deliver(consumer, batch)
                        batch = []
            if batch:
                await self._deliver(consumer, batch)
        except FhirError as exc:
            result.failures.append(BulkFailure(url, rtype, str(exc), error=exc))
            return
        finally:
            result.counts[rtype] = result.counts.get(rtype, 0) + count
        self.completed.append(url)
        await self._save()

    async def _error_file(self, url: str, authenticate: bool, result: BulkResult) -> None:
        try:
            async with aclosing(self._objects(url, "OperationOutcome", authenticate, result)) as outcomes:
                async for outcome, _line in outcomes:
                    result.errors.append(outcome)
        except FhirError as exc:
            result.failures.append(BulkFailure(url, "OperationOutcome", str(exc), error=exc))

    async def _deleted_file(self, url: str, authenticate: bool, result: BulkResult) -> None:
        """Each line is a transaction Bundle of DELETE entries (Bulk Data 2.0)."""
        try:
            async with aclosing(self._objects(url, "Bundle", authenticate, result)) as bundles:
                async for bundle, _line in bundles:
                    for entry in bundle.get("entry") or []:
                        request = entry.get("request") if isinstance(entry, dict) else None
                        if not isinstance(request, dict) or str(request.get("method", "")).upper() != "DELETE":
                            continue
                        parts = str(request.get("url", "")).split("?")[0].strip("/").split("/")
                        if len(parts) >= 2:
                            result.deleted.append((parts[-2], parts[-1]))
        except FhirError as exc:
            result.failures.append(BulkFailure(url, "Bundle", str(exc), error=exc))

    # -- clean-up ----------------------------------------------------------------------------
    async def delete(self) -> None:
        """DELETE the status URL: tells the server to drop the files (Epic allows one export at a time)."""
        if not self.poll_url:
            return
        with suppress(NotFound, Gone):
            await self.client.transport.send("DELETE", self.poll_url, headers={"Accept": "application/json"})
        self.poll_url = None
        await self._save()

    async def run(self, consumer: Consumer, *, delete_on_failure: bool = False) -> BulkResult:
        """Kick off (unless resumed), wait, download, and DELETE the export when every file came through.

        With failures the export is kept (unless ``delete_on_failure``) so ``resume`` can fetch the
        missing files; the manifest's files usually stay for days.
        """
        if self.poll_url is None:
            await self.kick_off()
        manifest = await self.wait()
        result = await self.download(manifest, consumer)
        if result.complete or delete_on_failure:
            try:
                await self.delete()
            except FhirError as exc:  # the data is in; a failed clean-up is worth a note, not a failure
                result.cleanup_error = str(exc)
        return result


def _transient_outcome(outcome: Mapping[str, Any] | None) -> bool:
    issues = (outcome or {}).get("issue") or []
    return any(isinstance(i, dict) and i.get("code") == "transient" for i in issues)


def _manifest(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise MalformedResponse("export manifest is not JSON", status=200, url=url) from None
    if not isinstance(body, dict):
        raise MalformedResponse("export manifest is not a JSON object", status=200, url=url)
    if not isinstance(body.get("output"), list):
        raise MalformedResponse("export manifest has no output list", status=200, url=url)
    if not isinstance(body.get("transactionTime"), str):
        raise MalformedResponse("export manifest has no transactionTime", status=200, url=url)
    return body


__all__ = ["BulkExport", "BulkFailure", "BulkResult"]
