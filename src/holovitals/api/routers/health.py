"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from holovitals.api.deps import get_ctx
from holovitals.api.problems import Problem
from holovitals.context import AppContext
from holovitals.queue_check import check_queue
from holovitals.store.db import DatabaseUnavailable, check_database
from holovitals.store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: AppContext = Depends(get_ctx)) -> dict[str, object]:
    """Ready to serve: the database answers with the schema at head, and the queue answers."""
    checks: dict[str, str] = {}
    try:
        check_database(ctx.engine)
        current, head = current_revision(ctx.engine), head_revision(ctx.engine)
        checks["database"] = "ok" if current == head else f"schema at {current}, expected {head}"
    except DatabaseUnavailable as exc:
        checks["database"] = str(exc)
    checks["queue"] = check_queue(ctx.settings.effective_queue_url)
    if any(v != "ok" for v in checks.values()):
        raise Problem(503, "Service Unavailable", "not ready", checks=checks)
    return {"status": "ok", "checks": checks}
