"""BULK_SYNC: a Bulk Data $export with ``_since``, streamed through the same pipeline as paged syncs.

The export's poll URL lives in the stream's checkpoint, so a worker restarted mid-export resumes the
same export (Epic and eClinicalWorks refuse a second one while the first is in flight). The
manifest's transactionTime becomes the next ``_since``; `deleted` files become tombstones.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from holovitals.fhir.bulk import BulkExport
from holovitals.fhir.client import FhirClient
from holovitals.fhir.errors import FhirError
from holovitals.store.db import transaction
from holovitals.store.resources import mark_deleted
from holovitals.sync import checkpoints

if TYPE_CHECKING:
    from holovitals.sync.runner import _Runner


def _level(runner: _Runner) -> tuple[str, str | None]:
    settings = runner.plan.params
    # A profile that documents no bulk support (the generic one) still gets the standard system-level
    # kick-off: the server's answer, recorded if it refuses, is better than a guess.
    levels = runner.profile.bulk.levels or ("system",)
    level = settings.get("bulk_level") or ("group" if "group" in levels and "system" not in levels else levels[0])
    group = settings.get("group_id") or ("all-patients" if level == "group" else None)
    return level, group


async def run_bulk(runner: _Runner) -> None:
    level, group = _level(runner)
    key = f"bulk:{level}:{group or ''}"
    cp = await asyncio.to_thread(runner._load_checkpoint, key)
    since = cp.bookmark.strftime("%Y-%m-%dT%H:%M:%SZ") if cp.bookmark else None
    if cp.job_id != runner.plan.job_id:
        cp.job_id, cp.extra, cp.pages_done = runner.plan.job_id, {}, 0
    elif cp.extra.get("done"):
        return
    client = FhirClient(runner.base, transport=runner.transport)

    async def save_state(state: dict[str, Any]) -> None:
        cp.extra["export"] = state
        await asyncio.to_thread(_save, runner, cp)

    types = runner.plan.params.get("resource_types")
    # Big batches: one transaction per 5,000 resources (commits, not parsing, dominate small ones).
    options = {
        "on_state": save_state,
        "poll_interval": float(runner.plan.params.get("poll_interval", 1.0)),
        "batch_size": 5000,
        "keep_text": True,
    }
    if cp.extra.get("export", {}).get("poll_url"):
        export = BulkExport.resume(client, cp.extra["export"], **options)
    else:
        export = BulkExport(client, level=level, group_id=group, types=types, since=since, **options)
    runner._emit("start", key, 0, None)

    async def consume(batch: list[tuple[str, dict[str, Any], str]]) -> None:
        outcome = runner.pipeline.prepare([item[1] for item in batch], [item[2] for item in batch])
        await asyncio.to_thread(_commit, runner, outcome)
        runner._collect(outcome, len(batch))
        runner._emit("page", key, len(batch), None)

    try:
        result = await export.run(consume)
    except FhirError as exc:
        await asyncio.to_thread(runner._record_failure, key, None, exc)
        from holovitals.sync.runner import StreamFailure

        runner.state.failures.append(StreamFailure(key, str(exc)))
        return
    await asyncio.to_thread(_finish, runner, cp, result)
    runner._emit("done", key, 0, None)
    await runner.fetch_references()
    await runner.fetch_documents()


def _save(runner: _Runner, cp: checkpoints.StreamState) -> None:
    with transaction(runner.ctx.sessions) as session:
        checkpoints.save(session, runner.plan.connection_id, cp)


def _commit(runner: _Runner, outcome) -> None:
    with transaction(runner.ctx.sessions) as session:
        runner.guard(session)
        runner.pipeline.store(session, runner.plan.connection_id, outcome, source=runner.source)
        for err in outcome.errors:
            session.add(
                runner.error_row(
                    "invalid_resource",
                    err.message,
                    stream="bulk",
                    resource_type=err.resource_type,
                    resource_id=err.resource_id,
                )
            )


def _finish(runner: _Runner, cp: checkpoints.StreamState, result) -> None:
    from holovitals.sync.runner import StreamFailure

    with transaction(runner.ctx.sessions) as session:
        removed = mark_deleted(session, runner.plan.connection_id, result.deleted, source=runner.source)
        for outcome in result.errors:
            text = "; ".join(i.get("diagnostics", "") for i in outcome.get("issue", []) if isinstance(i, dict))
            session.add(runner.error_row("bulk_error", text or "the export reported an error", stream="bulk"))
        for failure in result.failures:
            session.add(runner.error_row("bulk_file_failed", failure.reason, stream="bulk", resource_type=failure.type))
        if result.complete:
            cp.extra = {"done": True}
            if result.transaction_time:
                cp.bookmark = datetime.fromisoformat(result.transaction_time)
        checkpoints.save(session, runner.plan.connection_id, cp)
    runner.state.stats.add(deleted=removed, errors=len(result.errors) + len(result.failures))
    if not result.complete:
        runner.state.failures.extend(StreamFailure("bulk", f.reason) for f in result.failures)
