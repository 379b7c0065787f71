"""Bulk Data 2.0 `$export` for the sandbox EHR: kick-off, status polling, cancel, file download.

Mounted under each flavour's FHIR base (which may hold `{tenant}`-style path parameters: they are
ignored here). The flavour's rules come from a :class:`BulkPolicy`, looked up per request:

1. the policy bound with ``router(policy=...)``;
2. else ``policies`` given to the constructor, keyed by base path template
   (``"/epic/api/FHIR/R4"``, ``"/cerner/r4/{tenant}"``);
3. else ``request.app.state.bulk_policies``, keyed the same way;
4. else the exporter's default (every level, ``one_export_per_client``, ``retry_after``).
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from holovitals.sandbox.bulk_jobs import ExportJob, ExportWriter, JobRegistry, JobState
from holovitals.sandbox.bulk_policy import LEVELS, BulkPolicy
from holovitals.sandbox.bulk_request import (
    ExportRequest,
    KickoffError,
    check_headers,
    parameters_from_body,
    parse_kickoff,
    prefer_tokens,
)
from holovitals.sandbox.outcomes import FHIR_JSON, outcome_bytes, outcome_response
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.store import Gone, NotFound, SandboxStore

ALL_PATIENTS_GROUP = "all-patients"  # virtual Group: every Patient in the store
NDJSON = "application/fhir+ndjson"
PolicyLike = BulkPolicy | Mapping[str, Any]


class BulkExporter:
    """Runs exports against a :class:`SandboxStore`; one instance serves every flavour."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        files_dir: Path | None = None,
        auth: Any = None,
        clock: Callable[[], float] = time.time,
        min_duration: float = 0.0,
        retry_after: int = 1,
        one_export_per_client: bool = False,
        policies: Mapping[str, PolicyLike] | None = None,
        lines_per_file: int = 10_000,
        file_ttl: float = 3600.0,
    ) -> None:
        self.store = store
        self.files_dir = Path(files_dir) if files_dir else Path(tempfile.mkdtemp(prefix="holovitals-bulk-"))
        self.auth = auth
        self.clock = clock
        self.min_duration = min_duration
        self.retry_after = retry_after
        self.default_policy = BulkPolicy(levels=LEVELS, one_per_client=one_export_per_client, retry_after=retry_after)
        self.policies = {k: BulkPolicy.coerce(v) for k, v in (policies or {}).items()}
        self.lines_per_file = lines_per_file
        self.file_ttl = file_ttl
        self.jobs = JobRegistry()

    # ------------------------------------------------------------------ router

    def router(self, policy: PolicyLike | None = None) -> APIRouter:
        """The routes; ``policy`` binds one flavour's rules to this router instance."""
        bound = BulkPolicy.coerce(policy)
        router = APIRouter()

        async def system_export(request: Request) -> Response:
            return await self._kickoff(request, "system", None, bound)

        async def patient_export(request: Request) -> Response:
            return await self._kickoff(request, "patient", None, bound)

        async def group_export(request: Request, group_id: str) -> Response:
            return await self._kickoff(request, "group", group_id, bound)

        def poll(request: Request, job_id: str) -> Response:
            return self._poll(request, job_id)

        def cancel(request: Request, job_id: str) -> Response:
            return self._cancel(request, job_id)

        def download(request: Request, job_id: str, name: str) -> Response:
            return self._download(request, job_id, name)

        for path, endpoint in (
            ("/$export", system_export),
            ("/Patient/$export", patient_export),
            ("/Group/{group_id}/$export", group_export),
        ):
            router.add_api_route(path, endpoint, methods=["GET", "POST"], include_in_schema=False)
        router.add_api_route("/_bulk/status/{job_id}", poll, methods=["GET"], include_in_schema=False)
        router.add_api_route("/_bulk/status/{job_id}", cancel, methods=["DELETE"], include_in_schema=False)
        router.add_api_route("/_bulk/files/{job_id}/{name}.ndjson", download, methods=["GET"], include_in_schema=False)
        return router

    # ------------------------------------------------------------------ helpers for tests and shutdown

    def expire_files(self) -> None:
        """Drop finished jobs older than ``file_ttl`` (their status and file URLs then give 404)."""
        now = self.clock()
        for job in self.jobs.all():
            if job.finished_at is not None and now - job.finished_at >= self.file_ttl:
                self.jobs.remove(job.id)

    def close(self) -> None:
        """Cancel every job and delete every file (app shutdown, test teardown)."""
        for job in self.jobs.all():
            self.jobs.remove(job.id)

    # ------------------------------------------------------------------ kick-off

    async def _kickoff(self, request: Request, level: str, group_id: str | None, bound: BulkPolicy | None) -> Response:
        base = _base_url(request, {"system": 1, "patient": 2, "group": 3}[level])
        policy = bound or self._policy_for(request, base)
        retry = str(policy.retry_after if policy.retry_after is not None else self.retry_after)
        try:
            if level not in policy.levels:
                offered = ", ".join(sorted(policy.levels)) or "none"
                message = f"{level}-level export is not offered here (offered: {offered})"
                raise KickoffError(message, code="not-supported")
            check_headers(request.headers.get("accept"), request.headers.get("prefer"))
            pairs = list(request.query_params.multi_items())
            if request.method == "POST":
                pairs += parameters_from_body(await request.body())
            lenient = "handling=lenient" in prefer_tokens(request.headers.get("prefer"))
            export = parse_kickoff(level, pairs, group_id=group_id, lenient=lenient)
            client = self._authenticate_kickoff(request, base, export)
            members = self._scope_patients(export)
        except KickoffError as exc:
            return outcome_response(exc.status, str(exc), code=exc.code)
        except SmartError as exc:
            return _auth_refusal(exc)

        job = ExportJob(
            id=uuid.uuid4().hex,
            request=export,
            request_url=str(request.url),
            base_url=base,
            client=client,
            requires_token=self.auth is not None,
            directory=self.files_dir / uuid.uuid4().hex,
            started=self.clock(),
            min_duration=self.min_duration,
        )
        self.expire_files()
        reason = self.jobs.reserve(job, lambda jobs: _refusal(policy, job, jobs, self.clock()))
        if reason:
            return outcome_response(429, reason, code="throttled", headers={"Retry-After": retry})
        try:
            await run_in_threadpool(self._take_snapshot, job, policy, members)
        except Exception:
            self.jobs.remove(job.id)
            raise
        ExportWriter(job, lines_per_file=self.lines_per_file, clock=self.clock).start()
        status_url = f"{base}/_bulk/status/{job.id}"
        body = outcome_bytes(f"export accepted; poll {status_url}", code="informational", severity="information")
        return Response(body, 202, media_type=FHIR_JSON, headers={"Content-Location": status_url})

    def _authenticate_kickoff(self, request: Request, base: str, export: ExportRequest) -> str:
        """Check the token for every requested type; returns the client key used for concurrency rules."""
        if self.auth is None:
            return request.client.host if request.client else "anonymous"
        header = request.headers.get("authorization")
        context = None
        for rtype in export.types or ("*",):
            context = self.auth.authenticate(header, base_url=base, resource_type=rtype, interaction="export")
        return str(getattr(context, "client_id", None) or header)

    def _scope_patients(self, export: ExportRequest) -> set[str] | None:
        """The patients a Patient/Group export covers (None = every patient's compartment)."""
        members: set[str] | None = None
        if export.level == "group":
            members = self._group_members(export.group_id or "")
        if export.patients is not None:
            wanted = set(export.patients)
            if members is not None:
                outside = sorted(wanted - members)
                if outside:
                    raise KickoffError(f"patient(s) not in Group/{export.group_id}: {', '.join(outside)}")
            else:
                missing = sorted(p for p in wanted if not self._patient_exists(p))
                if missing:
                    raise KickoffError(f"unknown patient(s): {', '.join(missing)}", code="not-found")
            members = wanted
        return members

    def _group_members(self, group_id: str) -> set[str]:
        try:
            group = self.store.get("Group", group_id).body
        except (NotFound, Gone):
            if group_id == ALL_PATIENTS_GROUP:
                return {r.id for r in self.store.scan("Patient")}
            raise KickoffError(f"Group/{group_id} is not known", status=404, code="not-found") from None
        members = set()
        for member in group.get("member") or []:
            ref = (member.get("entity") or {}).get("reference", "")
            if ref.startswith("Patient/") and not member.get("inactive"):
                members.add(ref[8:])
        return members

    def _patient_exists(self, patient_id: str) -> bool:
        try:
            self.store.get("Patient", patient_id)
        except (NotFound, Gone):
            return False
        return True

    def _take_snapshot(self, job: ExportJob, policy: BulkPolicy, members: set[str] | None) -> None:
        export = job.request
        supported = policy.supported_types
        if export.types is not None:
            types: list[str] = list(export.types)
            if supported is not None:
                refused = [t for t in types if t not in supported]
                job.problems += [f"resource type {t} is not exported by this server" for t in refused]
                types = [t for t in types if t in supported]
        else:
            types = [t for t in self.store.types() if supported is None or t in supported]
        job.problems += list(export.warnings)
        at, snapshot = self.store.snapshot(types, patients=members)
        if export.level == "patient" and members is None:
            snapshot = {t: [r for r in rs if r.patient_id is not None] for t, rs in snapshot.items()}
            snapshot = {t: rs for t, rs in snapshot.items() if rs}
        job.transaction_time = at
        job.snapshot = snapshot
        job.snapshot_types = frozenset(snapshot)
        job.total_types = len(snapshot)
        if export.since is not None:
            tombs = self.store.deleted_since(export.since, set(types))
            if export.level != "system":
                tombs = [t for t in tombs if t.patient_id is not None and (members is None or t.patient_id in members)]
            job.deleted = [t for t in tombs if t.last_updated <= at]

    # ------------------------------------------------------------------ status, cancel, files

    def _poll(self, request: Request, job_id: str) -> Response:
        job, refusal = self._job_for(request, job_id, suffix_segments=3)
        if refusal is not None:
            return refusal
        assert job is not None
        now = self.clock()
        state = job.visible_state(now)
        if state is JobState.FAILED:
            return outcome_response(500, job.failure or "export failed", code="exception")
        if state is JobState.COMPLETE:
            return Response(orjson.dumps(job.manifest()), media_type="application/json")
        pct, done, total = job.progress(now)
        policy = self._policy_for(request, job.base_url)
        retry = policy.retry_after if policy.retry_after is not None else self.retry_after
        headers = {"X-Progress": f"{pct}% ({done} of {total} types)", "Retry-After": str(retry)}
        return Response(status_code=202, headers=headers)

    def _cancel(self, request: Request, job_id: str) -> Response:
        job, refusal = self._job_for(request, job_id, suffix_segments=3)
        if refusal is not None:
            return refusal
        assert job is not None
        self.jobs.remove(job.id)
        body = outcome_bytes(f"export {job_id} deleted", code="informational", severity="information")
        return Response(body, 202, media_type=FHIR_JSON)

    def _download(self, request: Request, job_id: str, name: str) -> Response:
        job, refusal = self._job_for(request, job_id, suffix_segments=4, file_type=name.rpartition("-")[0])
        if refusal is not None:
            return refusal
        assert job is not None
        path = job.files.get(name)
        if path is None or job.visible_state(self.clock()) is not JobState.COMPLETE or not path.exists():
            return outcome_response(404, f"no file {name}.ndjson in export {job_id}", code="not-found")
        return FileResponse(path, media_type=NDJSON, filename=f"{name}.ndjson", content_disposition_type="inline")

    def _job_for(
        self, request: Request, job_id: str, *, suffix_segments: int, file_type: str | None = None
    ) -> tuple[ExportJob | None, Response | None]:
        """The job if it exists under this base and the caller may see it; else a refusal response.

        With auth, the token must allow export of the file's type (or, for the status URL and the
        error/deleted files, of the types the job was started for: a `system/Patient.rs` client that
        exported Patient must be able to poll) and belong to the client that started the job.
        """
        base = _base_url(request, suffix_segments)
        self.expire_files()
        job = self.jobs.get(job_id)
        message = f"no export job {job_id} (finished jobs are deleted or expire)"
        missing = outcome_response(404, message, code="not-found")
        if job is None or job.base_url != base:
            return None, missing
        if self.auth is not None:
            header = request.headers.get("authorization")
            wanted = [file_type] if file_type in job.snapshot_types else list(job.request.types or ("*",))
            context = None
            try:
                for rtype in wanted:
                    context = self.auth.authenticate(header, base_url=base, resource_type=rtype, interaction="export")
            except SmartError as exc:
                return None, _auth_refusal(exc)
            if str(getattr(context, "client_id", None) or header) != job.client:
                return None, missing
        return job, None

    def _policy_for(self, request: Request, base_url: str) -> BulkPolicy:
        path = _path_of(base_url)
        app_policies = getattr(request.app.state, "bulk_policies", None) or {}
        for mapping in (self.policies, app_policies):
            for template, policy in mapping.items():
                if _template_matches(template, path):
                    return BulkPolicy.coerce(policy) or self.default_policy
        return self.default_policy


# ---------------------------------------------------------------------- pure helpers


def _refusal(policy: BulkPolicy, job: ExportJob, existing: Iterable[ExportJob], now: float) -> str | None:
    """Why a new job may not start now (vendor concurrency rules), or None."""
    mine = [j for j in existing if j.client == job.client and j.base_url == job.base_url]
    if policy.one_per_client and mine:
        return (
            "one bulk export per client at a time: DELETE the previous export's status URL "
            f"({job.base_url}/_bulk/status/{mine[0].id}) first"
        )
    if policy.refuse_identical:
        signature = job.request.signature()
        for other in mine:
            in_flight = other.visible_state(now) in (JobState.QUEUED, JobState.RUNNING)
            if in_flight and other.request.signature() == signature:
                return f"an identical export is still in progress: {job.base_url}/_bulk/status/{other.id}"
    return None


def _base_url(request: Request, suffix_segments: int) -> str:
    """The flavour's absolute FHIR base: the request URL minus the route's own trailing segments."""
    path = request.url.path.rstrip("/")
    base_path = "/".join(path.split("/")[:-suffix_segments])
    return str(request.url.replace(path=base_path, query="", fragment="")).rstrip("/")


def _path_of(url: str) -> str:
    return "/" + url.split("://", 1)[-1].partition("/")[2]


_TEMPLATE_CACHE: dict[str, re.Pattern[str]] = {}


def _template_matches(template: str, path: str) -> bool:
    pattern = _TEMPLATE_CACHE.get(template)
    if pattern is None:
        parts = re.split(r"(\{[^/{}]+\})", template.rstrip("/"))
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        pattern = _TEMPLATE_CACHE[template] = re.compile(f"^{regex}/?$")
    return bool(pattern.match(path))


def _auth_refusal(exc: SmartError) -> Response:
    headers = {"WWW-Authenticate": exc.www_authenticate()} if exc.status in (401, 403) else None
    code = {401: "login", 403: "forbidden"}.get(exc.status, "security")
    return outcome_response(exc.status, exc.message, code=code, headers=headers)
