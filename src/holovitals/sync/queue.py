"""The four work queues on Huey: SQLite storage by default, Redis at scale.

Huey has no named queues inside one instance, so each queue is its own Huey instance sharing the
storage location. On Redis we use PriorityRedisHuey: plain RedisHuey refuses task priorities.
Tasks are registered by ``build_queues`` on both sides (the API that enqueues and the worker that
runs), so they always agree on names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huey import MemoryHuey, PriorityRedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper

from holovitals.config import QUEUE_NAMES, Settings

SYNC_JOBS, WEBHOOKS, CONFLICTS, TRANSFORMS = QUEUE_NAMES


def make_huey(name: str, url: str, *, immediate: bool = False) -> Huey:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name=name, filename=str(path), immediate=immediate)
    if url.startswith(("redis://", "rediss://")):
        return PriorityRedisHuey(name=name, url=url, immediate=immediate)
    if url.startswith("memory://"):
        return MemoryHuey(name=name, immediate=immediate)
    raise ValueError(f"unsupported queue URL scheme in {url.split('://', 1)[0]}://")


@dataclass
class Queues:
    """The Huey instances and the tasks registered on them."""

    hueys: dict[str, Huey]
    workers: dict[str, int]
    tasks: dict[str, TaskWrapper] = field(default_factory=dict)

    def register(self, queue: str, name: str, fn: Callable[..., Any]) -> TaskWrapper:
        wrapper = self.hueys[queue].task(name=name)(fn)
        self.tasks[name] = wrapper
        return wrapper

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            name: {"waiting": h.pending_count(), "scheduled": h.scheduled_count()} for name, h in self.hueys.items()
        }

    def flush(self) -> None:
        for h in self.hueys.values():
            h.flush()


def build_queues(settings: Settings, *, immediate: bool = False) -> Queues:
    url = settings.effective_queue_url
    queues = Queues(
        hueys={name: make_huey(name, url, immediate=immediate) for name in QUEUE_NAMES},
        workers=dict(settings.queue_workers),
    )
    from holovitals.sync import tasks

    tasks.register_all(queues)
    return queues
