"""Bulk export jobs: the registry clients poll, and the background writer of NDJSON files.

A job holds a snapshot taken at kick-off (lists of immutable ``Record`` references), so the files
are consistent with the manifest's ``transactionTime`` however the store changes meanwhile. Lines
are the stored ``Record.raw`` bytes joined with newlines: exporting never re-serialises a resource
unless the client asked for ``_elements``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from holovitals.sandbox.bulk_request import ExportRequest, subset_elements
from holovitals.sandbox.outcomes import outcome_bytes
from holovitals.sandbox.store import Record, format_instant

DELETED_PER_BUNDLE = 500


class JobState(StrEnum):
    QUEUED = "queued"  # reserved (concurrency rules apply) while the snapshot is taken
    RUNNING = "in-progress"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass
class ExportJob:
    id: str
    request: ExportRequest
    request_url: str
    base_url: str
    client: str
    requires_token: bool
    directory: Path
    started: float
    min_duration: float
    state: JobState = JobState.QUEUED
    transaction_time: datetime | None = None
    snapshot: dict[str, list[Record]] = field(default_factory=dict)
    snapshot_types: frozenset[str] = frozenset()  # kept after the snapshot itself is released
    deleted: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # become OperationOutcome lines in `error`
    total_types: int = 0
    done_types: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    error: list[dict[str, Any]] = field(default_factory=list)
    deleted_output: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # "Observation-1" -> path
    failure: str | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def visible_state(self, now: float) -> JobState:
        """COMPLETE only after ``min_duration`` too, so even a tiny export makes clients poll."""
        if self.state is JobState.COMPLETE and now < self.started + self.min_duration:
            return JobState.RUNNING
        return self.state

    def progress(self, now: float) -> tuple[int, int, int]:
        """(percent, types done, types in total) as a client would be told in X-Progress."""
        total = max(self.total_types, 1)
        work = (self.done_types / total) if self.state is not JobState.COMPLETE else 1.0
        clock = (now - self.started) / self.min_duration if self.min_duration > 0 else 1.0
        fraction = max(0.0, min(work, clock, 1.0))
        shown = min(self.done_types, int(fraction * self.total_types))
        return int(fraction * 100), shown, self.total_types

    def manifest(self) -> dict[str, Any]:
        assert self.transaction_time is not None
        return {
            "transactionTime": format_instant(self.transaction_time),
            "request": self.request_url,
            "requiresAccessToken": self.requires_token,
            "output": self.output,
            "error": self.error,
            "deleted": self.deleted_output,
        }

    def discard(self) -> None:
        """Cancel a running writer and remove the files; the writer cleans up if still busy."""
        self.cancel.set()
        self.snapshot = {}
        if self.thread is None or not self.thread.is_alive():
            shutil.rmtree(self.directory, ignore_errors=True)


class ExportCancelled(Exception):
    pass


class ExportWriter:
    """Writes one job's files: ``Type-N.ndjson`` split every ``lines_per_file`` lines."""

    def __init__(self, job: ExportJob, *, lines_per_file: int, clock: Callable[[], float]) -> None:
        self.job = job
        self.lines_per_file = lines_per_file
        self.clock = clock
        self._numbers: dict[str, int] = {}

    def start(self) -> None:
        self.job.state = JobState.RUNNING
        self.job.thread = threading.Thread(target=self.run, name=f"bulk-export-{self.job.id}", daemon=True)
        self.job.thread.start()

    def run(self) -> None:
        job = self.job
        try:
            job.directory.mkdir(parents=True, exist_ok=True)
            for rtype, records in list(job.snapshot.items()):
                self._write_type(rtype, records)
                job.done_types += 1
            self._write_problems()
            self._write_deleted()
            job.snapshot = {}
            job.finished_at = self.clock()
            job.state = JobState.COMPLETE
        except ExportCancelled:
            pass
        except Exception as exc:  # a failed job must answer its poll with 500, not hang at 99%
            job.failure = f"export failed: {type(exc).__name__}: {exc}"
            job.finished_at = self.clock()
            job.state = JobState.FAILED
        finally:
            if job.cancel.is_set():
                shutil.rmtree(job.directory, ignore_errors=True)

    def _write_type(self, rtype: str, records: list[Record]) -> None:
        request = self.job.request
        since = request.since
        filters = request.filters_for(rtype)
        chosen = records
        if since is not None:
            chosen = [r for r in chosen if r.last_updated > since]
        if filters:  # several _typeFilter values for one type are alternatives (OR)
            chosen = [r for r in chosen if any(f.matches(r) for f in filters)]
        lines: list[bytes] = []
        for record in chosen:
            raw = record.raw
            if request.elements:
                raw = subset_elements(raw, rtype, request.elements)
            lines.append(raw)
            if len(lines) == self.lines_per_file:
                self._flush(rtype, lines, self.job.output)
                lines = []
        if lines:
            self._flush(rtype, lines, self.job.output)

    def _write_problems(self) -> None:
        lines = [outcome_bytes(text, code="not-supported") for text in self.job.problems]
        if lines:
            self._flush("OperationOutcome", lines, self.job.error)

    def _write_deleted(self) -> None:
        """`deleted`: transaction Bundles of DELETE entries, as Bulk Data 2.0 specifies."""
        tombs = self.job.deleted
        lines = []
        for start in range(0, len(tombs), DELETED_PER_BUNDLE):
            entries = [
                {"request": {"method": "DELETE", "url": f"{t.resource_type}/{t.id}"}}
                for t in tombs[start : start + DELETED_PER_BUNDLE]
            ]
            lines.append(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
        if lines:
            self._flush("Bundle", lines, self.job.deleted_output, stem="Bundle-deleted")

    def _flush(self, rtype: str, lines: list[bytes], target: list[dict[str, Any]], *, stem: str = "") -> None:
        if self.job.cancel.is_set():
            raise ExportCancelled
        stem = stem or rtype
        self._numbers[stem] = n = self._numbers.get(stem, 0) + 1
        name = f"{stem}-{n}"
        path = self.job.directory / f"{name}.ndjson"
        with path.open("wb") as fh:
            fh.write(b"\n".join(lines))
            fh.write(b"\n")
        self.job.files[name] = path
        url = f"{self.job.base_url}/_bulk/files/{self.job.id}/{name}.ndjson"
        target.append({"type": rtype, "url": url, "count": len(lines)})


class JobRegistry:
    """Jobs by id; concurrency rules are checked and a job reserved under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, ExportJob] = {}

    def get(self, job_id: str) -> ExportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[ExportJob]:
        with self._lock:
            return list(self._jobs.values())

    def reserve(self, job: ExportJob, refuse: Callable[[list[ExportJob]], str | None]) -> str | None:
        """Add ``job`` unless ``refuse(existing jobs)`` gives a reason; returns that reason."""
        with self._lock:
            reason = refuse(list(self._jobs.values()))
            if reason is None:
                self._jobs[job.id] = job
            return reason

    def remove(self, job_id: str) -> ExportJob | None:
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            job.discard()
        return job
