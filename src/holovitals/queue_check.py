"""Can the configured queue storage be reached? (The queue itself arrives with the sync engine.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def check_queue(url: str) -> str:
    """'ok', or a one-line reason."""
    if url.startswith("memory://"):
        return "ok"
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=5) as conn:
                conn.execute("SELECT 1")
            return "ok"
        except (OSError, sqlite3.Error) as exc:
            return f"queue database {path} cannot be opened: {exc}"
    if url.startswith(("redis://", "rediss://")):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
            return "ok"
        except redis.RedisError as exc:
            return f"redis does not answer: {type(exc).__name__}"
    return "unsupported queue URL"
