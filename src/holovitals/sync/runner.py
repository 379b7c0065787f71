"""Run one sync job: plan streams, page through them concurrently, store each page with its checkpoint.

Invariants (DESIGN.md): a page is stored and its checkpoint moved in one transaction, so a crash at
any point resumes from the page after the last commit and replays nothing twice; a page that still
fails after the transport's retries is recorded with its reason, and the job fails (and is retried)
rather than completing with a hole; per-record problems are recorded and the rest of the page stored.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from holovitals.context import AppContext
from holovitals.fhir.bundle import Deduplicator, check_bundle, next_link, split_entries
from holovitals.fhir.errors import Action, FhirError, Gone, NotFound
from holovitals.fhir.http import Transport
from holovitals.logs import get_logger
from holovitals.store.db import transaction
from holovitals.store.models import Connection, Resource, SyncError, SyncJob
from holovitals.store.resources import mark_deleted
from holovitals.store.types import utcnow
from holovitals.sync import checkpoints
from holovitals.sync.documents import DocumentTooLarge, FileStore, attachments_of, inline_bytes
from holovitals.sync.jobs import JobType, heartbeat
from holovitals.sync.pipeline import PageOutcome, Pipeline
from holovitals.sync.planner import Stream, plan_streams
from holovitals.sync.source import open_source
from holovitals.sync.stats import JobStats, persist
from holovitals.sync.tasks import FatalSyncError, JobCancelled
from holovitals.transform.validate import ValidationMode
from holovitals.vendors.registry import get_profile

log = get_logger(__name__)
REFERENCE = re.compile(r'"reference":"(Practitioner|Organization|Location|Medication)/([A-Za-z0-9\-.]{1,64})"')
DEFAULT_PAGE_SIZE = 500
MAX_PAGES_PER_STREAM = 100_000  # a next-link loop the server invents anew each time still ends


@dataclass
class JobPlan:
    job_id: str
    org_id: str
    connection_id: str
    job_type: JobType
    params: dict[str, Any]
    base_url: str
    vendor: str
    tenant: str | None
    patient_context: str | None
    page_size: int
    validation: ValidationMode
    attempt: int
    documents: bool = True


@dataclass
class StreamFailure:
    stream: str
    reason: str


# listener(event, stream, count, total): "start" when a stream begins, "page" after each committed
# page (count = resources on it, total = the server's Bundle.total when it sends one), "done".
Listener = Callable[[str, str, int, int | None], None]


@dataclass
class RunState:
    listener: Listener | None = None
    stats: JobStats = field(default_factory=JobStats)
    failures: list[StreamFailure] = field(default_factory=list)
    references: set[tuple[str, str]] = field(default_factory=set)
    documents: list[dict[str, Any]] = field(default_factory=list)
    sync_start: datetime = field(default_factory=utcnow)


def run_job(ctx: AppContext, job_id: str, listener: Listener | None = None) -> None:
    """Entry point for the queue task (a worker thread) and the CLI: runs the async job to the end."""
    asyncio.run(_run(ctx, job_id, listener))


def _load_plan(ctx: AppContext, job_id: str) -> JobPlan:
    with ctx.sessions() as session:
        job = session.get(SyncJob, job_id)
        conn = session.get(Connection, job.connection_id) if job else None
        if job is None or conn is None:
            raise FatalSyncError("the job or its connection no longer exists")
        if conn.status == "REVOKED":
            raise FatalSyncError("the connection was revoked; reconnect it before syncing")
        if not conn.base_url:
            raise FatalSyncError("the connection has no FHIR base URL")
        settings = dict(conn.sync_settings or {})
        return JobPlan(
            job_id=job.id,
            org_id=job.org_id,
            connection_id=conn.id,
            job_type=JobType(job.job_type),
            params=dict(job.params or {}),
            base_url=conn.base_url,
            vendor=conn.vendor or "generic",
            tenant=settings.get("tenant"),
            patient_context=conn.patient_id,
            page_size=int(settings.get("page_size", DEFAULT_PAGE_SIZE)),
            validation=ValidationMode(job.params.get("validation", settings.get("validation", "structural"))),
            attempt=job.attempts,
            documents=bool(settings.get("documents", True)),
        )


async def _run(ctx: AppContext, job_id: str, listener: Listener | None = None) -> None:
    plan = _load_plan(ctx, job_id)
    try:
        profile = get_profile(plan.vendor)
    except KeyError:
        raise FatalSyncError(f"unknown vendor profile {plan.vendor!r}") from None
    state = RunState(listener=listener)
    pipeline = Pipeline(mode=plan.validation)
    source = await asyncio.to_thread(open_source, ctx, plan.connection_id, profile)
    runner = _Runner(ctx, plan, profile, source.transport, pipeline, state)
    beating = threading.Thread(target=runner.beat_forever, name=f"heartbeat-{job_id[:8]}", daemon=True)
    beating.start()
    try:
        await runner.run()
    finally:
        runner.finished.set()
        state.stats.add(retries=source.transport.stats.retries)
        await source.aclose()
        await asyncio.to_thread(_finish, ctx, plan, state)
    if state.failures:
        reasons = "; ".join(f"{f.stream}: {f.reason}" for f in state.failures[:5])
        raise RuntimeError(f"{len(state.failures)} stream(s) failed: {reasons}")


def _finish(ctx: AppContext, plan: JobPlan, state: RunState) -> None:
    with transaction(ctx.sessions) as session:
        persist(
            session,
            org_id=plan.org_id,
            connection_id=plan.connection_id,
            job_id=plan.job_id,
            stats=state.stats,
            day=state.sync_start.date(),
        )
        if not state.failures:
            conn = session.get(Connection, plan.connection_id)
            conn.last_sync_at = state.sync_start


class _Runner:
    def __init__(self, ctx, plan: JobPlan, profile, transport: Transport, pipeline: Pipeline, state: RunState):
        self.ctx = ctx
        self.plan = plan
        self.profile = profile
        self.transport = transport
        self.pipeline = pipeline
        self.state = state
        self.base = plan.base_url.rstrip("/")
        self.limit = asyncio.Semaphore(ctx.settings.sync_concurrency)
        self.files = FileStore(ctx.settings.files_dir, max_bytes=ctx.settings.documents_max_bytes)
        self.source = f"{self.base}"
        self.stopped = False
        self.finished = threading.Event()

    # ---------------------------------------------------------------- orchestration

    async def run(self) -> None:
        jt = self.plan.job_type
        if jt == JobType.BULK_SYNC:
            from holovitals.sync.bulk_sync import run_bulk

            await run_bulk(self)
            return
        if jt in (JobType.WEBHOOK_SYNC, JobType.RESOURCE_SYNC) and self.plan.params.get("resources"):
            await self.read_each([tuple(r.split("/", 1)) for r in self.plan.params["resources"]])
            await self.fetch_references()
            await self.fetch_documents()
            return
        incremental = jt == JobType.INCREMENTAL_SYNC
        types = self.plan.params.get("resource_types")
        if not self.plan.tenant and any(
            "{tenant}" in v or "{practice}" in v
            for rule in self.profile.search.values()
            for v in rule.defaults.values()
        ):
            raise FatalSyncError(
                f"{self.profile.name} searches need the practice or tenant id: connect with --tenant "
                "(or set sync_settings.tenant on the connection)"
            )
        if jt == JobType.RESOURCE_SYNC and not types:
            raise FatalSyncError("a RESOURCE_SYNC needs params.resource_types or params.resources")
        patient = self.plan.params.get("patient_id") if jt == JobType.PATIENT_SYNC else None
        patients = [p for p in (patient or self.plan.patient_context,) if p]
        scoped = bool(patients)

        def streams_for(pats: list[str]) -> list[Stream]:
            return plan_streams(
                self.profile,
                incremental=incremental,
                resource_types=types,
                patients=pats,
                tenant=self.plan.tenant,
                patient_scoped=scoped,
            )

        # Patients first: a vendor that wants a patient on every search gets the list from them.
        await self.run_streams([s for s in streams_for(patients) if s.resource_type == "Patient"])
        if not scoped:
            patients = await asyncio.to_thread(self.known_patients)
        await self.run_streams([s for s in streams_for(patients) if s.resource_type != "Patient"])
        await self.fetch_references()
        await self.fetch_documents()

    async def run_streams(self, streams: list[Stream]) -> None:
        async def guarded(stream: Stream) -> None:
            async with self.limit:
                await self.run_stream(stream)

        await asyncio.gather(*(guarded(s) for s in streams))

    def known_patients(self) -> list[str]:
        with self.ctx.sessions() as session:
            return list(
                session.execute(
                    select(Resource.resource_id).where(
                        Resource.connection_id == self.plan.connection_id,
                        Resource.resource_type == "Patient",
                        Resource.deleted.is_(False),
                    )
                ).scalars()
            )

    # ---------------------------------------------------------------- one stream

    async def run_stream(self, stream: Stream) -> None:
        cp = await asyncio.to_thread(self._load_checkpoint, stream.key)
        if cp.job_id == self.plan.job_id and cp.extra.get("done"):
            return  # finished in an earlier attempt of this job
        resuming = cp.job_id == self.plan.job_id and cp.next_url
        if not resuming:
            cp.job_id, cp.pages_done, cp.max_seen = self.plan.job_id, 0, None
            cp.extra = {}
        first_url = self._first_url(stream, cp.bookmark)
        url = cp.next_url if resuming else first_url
        self._emit("start", stream.key, 0, None)
        dedupe = Deduplicator()
        reissued = False
        pages = 0
        # The commit of page N runs in a thread while page N+1 is fetched and parsed; commits stay in
        # order because each one is awaited before the next is started.
        committing: tuple[asyncio.Task, PageOutcome, int, int | None] | None = None

        async def settle() -> None:
            nonlocal committing
            if committing is not None:
                task, done_outcome, count, total = committing
                committing = None
                await task
                self._collect(done_outcome, count)
                self._emit("page", stream.key, count, total)

        try:
            while url is not None and pages < MAX_PAGES_PER_STREAM:
                if self.stopped:
                    raise JobCancelled()
                try:
                    body = await self.transport.get_json(url, next_link=url != first_url)
                    bundle = check_bundle(body, url=url)
                except FhirError as exc:
                    if exc.action == Action.REISSUE and not reissued:
                        # Paging session expired: search again from the start; re-reads are harmless upserts.
                        reissued = True
                        url = first_url
                        self.state.stats.add(retries=1)
                        continue
                    await settle()
                    await asyncio.to_thread(self._record_failure, stream.key, stream.resource_type, exc)
                    if exc.action == Action.STOP:
                        raise FatalSyncError(f"{stream.resource_type}: {exc}") from None
                    self.state.failures.append(StreamFailure(stream.key, str(exc)))
                    return
                resources, _warnings, _dups, deleted = split_entries(bundle, dedupe)
                nxt = next_link(bundle, current_url=url, base_url=self.base)
                outcome = self.pipeline.prepare(resources)
                cp.next_url = nxt
                cp.pages_done += 1
                cp.max_seen = _max_seen(outcome, cp.max_seen)
                if nxt is None:
                    cp.extra["done"] = True
                    cp.bookmark = min(self.state.sync_start, cp.max_seen or self.state.sync_start)
                snapshot = replace(cp, extra=dict(cp.extra))
                await settle()
                task = asyncio.create_task(asyncio.to_thread(self._commit_page, stream, outcome, snapshot, deleted))
                committing = (task, outcome, len(resources), bundle.get("total"))
                pages += 1
                url = nxt
            await settle()
        finally:
            if committing is not None and not committing[0].done():
                committing[0].cancel()
        self._emit("done", stream.key, 0, None)

    def _emit(self, event: str, stream: str, count: int, total: int | None) -> None:
        if self.state.listener is not None:
            self.state.listener(event, stream, count, total if isinstance(total, int) else None)

    def _first_url(self, stream: Stream, bookmark: datetime | None) -> str:
        from urllib.parse import urlencode

        query = stream.search_params(bookmark, self.plan.page_size, self.profile.paging.page_size_param)
        return f"{self.base}/{stream.resource_type}" + (f"?{urlencode(query)}" if query else "")

    def _load_checkpoint(self, key: str) -> checkpoints.StreamState:
        with self.ctx.sessions() as session:
            return checkpoints.load(session, self.plan.connection_id, key)

    def _commit_page(
        self, stream: Stream, outcome: PageOutcome, cp: checkpoints.StreamState, deleted: list[tuple[str, str]]
    ) -> None:
        with transaction(self.ctx.sessions) as session:
            self.guard(session)
            self.pipeline.store(session, self.plan.connection_id, outcome, source=self.source)
            removed = mark_deleted(session, self.plan.connection_id, deleted, source=self.source) if deleted else 0
            for err in outcome.errors:
                session.add(
                    self.error_row(
                        "invalid_resource",
                        err.message,
                        stream=stream.key,
                        resource_type=err.resource_type,
                        resource_id=err.resource_id,
                    )
                )
            checkpoints.save(session, self.plan.connection_id, cp)
            if removed:
                self.state.stats.add(deleted=removed)

    def error_row(
        self,
        kind: str,
        message: str,
        *,
        stream: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        http_status: int | None = None,
    ) -> SyncError:
        """A recorded failure of this job, its text and ids cut to the columns' sizes."""
        return SyncError(
            org_id=self.plan.org_id,
            job_id=self.plan.job_id,
            connection_id=self.plan.connection_id,
            stream=stream[:200] if stream else None,
            resource_type=resource_type,
            resource_id=(resource_id or "")[:255] or None,
            kind=kind,
            http_status=http_status,
            message=message[:2000],
        )

    def _record_failure(self, stream_key: str, resource_type: str | None, exc: FhirError) -> None:
        with transaction(self.ctx.sessions) as session:
            session.add(
                self.error_row(
                    "page_failed", str(exc), stream=stream_key, resource_type=resource_type, http_status=exc.status
                )
            )
        self.state.stats.add(errors=1)

    def _collect(self, outcome: PageOutcome, queried: int) -> None:
        r = outcome.result
        self.state.stats.add(
            queried=queried,
            created=r.created,
            updated=r.updated,
            unchanged=r.unchanged,
            pages=1,
            errors=len(outcome.errors),
        )
        for item in outcome.stored:
            if self.plan.documents and item.resource_type in ("DocumentReference", "DiagnosticReport"):
                self.state.documents.append({"type": item.resource_type, "id": item.resource_id, "text": item.text})
            for match in REFERENCE.finditer(item.text):
                self.state.references.add((match.group(1), match.group(2)))

    async def _check_running(self) -> None:
        """At each page boundary: stop if the job was cancelled or handed to another worker."""
        if self.stopped or not await asyncio.to_thread(self._beat):
            self.stopped = True
            raise JobCancelled()

    def beat_forever(self) -> None:
        """Own thread: keep the lease fresh while a slow page, a Retry-After, a bulk poll or a busy event
        loop holds the runner up, so a live job is never mistaken for a dead one."""
        interval = max(self.ctx.settings.sync_lease_seconds / 4, 0.5)
        while not self.finished.wait(interval):
            try:
                if not self._beat():
                    self.stopped = True
                    return
            except Exception:  # a database hiccup: the next beat (or page commit) tries again
                continue

    def guard(self, session) -> None:
        """Inside a page's transaction: this attempt must still own the job, or nothing is written."""
        if not heartbeat(session, self.plan.job_id, self.plan.attempt):
            self.stopped = True
            raise JobCancelled()

    def _beat(self) -> bool:
        with transaction(self.ctx.sessions) as session:
            return heartbeat(session, self.plan.job_id, self.plan.attempt)

    # ---------------------------------------------------------------- reads by id

    async def read_each(self, keys: list[tuple[str, str]]) -> None:
        """Re-read named resources (webhook notifications, resource syncs); 404/410 become tombstones."""
        found: list[dict[str, Any]] = []
        gone: list[tuple[str, str]] = []

        async def one(rtype: str, rid: str) -> None:
            async with self.limit:
                try:
                    found.append(await self.transport.get_json(f"{self.base}/{rtype}/{rid}"))
                except (NotFound, Gone):
                    gone.append((rtype, rid))
                except FhirError as exc:
                    await asyncio.to_thread(self._record_failure, f"{rtype}/{rid}", rtype, exc)
                    self.state.failures.append(StreamFailure(f"{rtype}/{rid}", str(exc)))

        await self._check_running()
        await asyncio.gather(*(one(t, i) for t, i in keys))
        outcome = self.pipeline.prepare(found)
        await asyncio.to_thread(self._commit_reads, outcome, gone)
        self._collect(outcome, len(found))

    def _commit_reads(self, outcome: PageOutcome, gone: list[tuple[str, str]]) -> None:
        with transaction(self.ctx.sessions) as session:
            self.guard(session)
            self.pipeline.store(session, self.plan.connection_id, outcome, source=self.source)
            removed = mark_deleted(session, self.plan.connection_id, gone, source=self.source) if gone else 0
        self.state.stats.add(deleted=removed)

    async def fetch_references(self) -> None:
        """Practitioners, Organizations, Locations and Medications the synced records point at."""
        wanted = self.state.references
        if not wanted:
            return
        have = await asyncio.to_thread(self._present, {t for t, _ in wanted})
        missing = sorted(k for k in wanted if k not in have)
        self.state.references = set()
        if missing:
            await self.read_each(missing)

    def _present(self, types: set[str]) -> set[tuple[str, str]]:
        with self.ctx.sessions() as session:
            rows = session.execute(
                select(Resource.resource_type, Resource.resource_id).where(
                    Resource.connection_id == self.plan.connection_id, Resource.resource_type.in_(types)
                )
            ).all()
        return {(t, i) for t, i in rows}

    # ---------------------------------------------------------------- documents

    async def fetch_documents(self) -> None:
        """Attachments of the synced documents, several at once (bounded like every other request)."""
        import orjson

        docs, self.state.documents = self.state.documents, []

        async def one(doc: dict[str, Any], attachment: dict[str, Any]) -> None:
            async with self.limit:
                await self._fetch_attachment(doc, attachment)

        await asyncio.gather(*(one(doc, a) for doc in docs for a in attachments_of(orjson.loads(doc["text"]))))

    async def _fetch_attachment(self, doc: dict[str, Any], attachment: dict[str, Any]) -> None:
        content_type = attachment.get("contentType")
        size = attachment.get("size")
        limit = self.files.max_bytes
        try:
            if isinstance(size, int) and size > limit:
                raise DocumentTooLarge(f"attachment of {size} bytes exceeds the {limit}-byte limit")
            data = inline_bytes(attachment)
            if data is not None:
                stored = await asyncio.to_thread(self.files.put_bytes, data, content_type)
            elif isinstance(attachment.get("url"), str):
                url = attachment["url"]
                if not url.startswith(("http://", "https://")):
                    url = f"{self.base}/{url.lstrip('/')}"
                elif not url.startswith(self.base):
                    return  # an outside link: not ours to fetch with this connection's token
                chunks: list[bytes] = []
                total = 0
                async with self.transport.stream("GET", url, headers={"Accept": content_type or "*/*"}) as resp:
                    async for chunk in resp.aiter_bytes():
                        total += len(chunk)
                        if total > limit:
                            raise DocumentTooLarge(f"attachment exceeds the {limit}-byte limit")
                        chunks.append(chunk)
                stored = await asyncio.to_thread(self.files.put_stream, iter(chunks), content_type)
            else:
                return
        except DocumentTooLarge as exc:
            await asyncio.to_thread(self._record_doc_error, doc, str(exc))
            return
        except FhirError as exc:
            await asyncio.to_thread(self._record_doc_error, doc, str(exc))
            return
        self.state.stats.add(documents=1, bytes=stored.size)

    def _record_doc_error(self, doc: dict[str, Any], message: str) -> None:
        with transaction(self.ctx.sessions) as session:
            session.add(self.error_row("document", message, resource_type=doc["type"], resource_id=doc["id"]))
        self.state.stats.add(errors=1)


def _max_seen(outcome: PageOutcome, current: datetime | None) -> datetime | None:
    for item in outcome.stored:
        if item.last_updated is not None and (current is None or item.last_updated > current):
            current = item.last_updated
    return current
