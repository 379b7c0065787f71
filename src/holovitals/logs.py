"""Logging: structlog for our code, the same redacting pipeline for stdlib loggers (uvicorn, httpx)."""

from __future__ import annotations

import logging
import sys

import structlog

from holovitals.security.redaction import redact_processor, scrub_rendered

_configured = False


def configure_logging(level: str = "INFO", fmt: str = "console", stream=None) -> None:
    """Idempotent set-up; every record passes through redaction before and after rendering."""
    global _configured
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
            scrub_rendered,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("holovitals")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "holovitals"]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "huey"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    _configured = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
