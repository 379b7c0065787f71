"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from holovitals import __version__
from holovitals.api.problems import install_problem_handlers
from holovitals.api.routers import audit, connections, ehr_connect, health, hl7, keys, resources, sync
from holovitals.context import AppContext


def create_app(ctx: AppContext | None = None) -> FastAPI:
    """Build the app around a context (tests pass their own; ``serve`` uses the environment's)."""
    ctx = ctx or AppContext.from_env()
    app = FastAPI(
        title="HoloVitals Sync",
        version=__version__,
        description="Health records sync engine: FHIR R4 + SMART on FHIR, HL7 v2, versioned local store.",
    )
    app.state.ctx = ctx
    install_problem_handlers(app)
    for module in (health, resources, connections, ehr_connect, keys, audit, sync, hl7):
        app.include_router(module.router)
    return app
