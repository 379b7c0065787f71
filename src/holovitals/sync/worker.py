"""`holovitals worker`: the queue consumers, plus a reaper that resumes jobs of dead workers."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable

from huey.consumer import Consumer

from holovitals.context import AppContext
from holovitals.logs import get_logger
from holovitals.sync import tasks
from holovitals.sync.queue import SYNC_JOBS, Queues, build_queues

log = get_logger(__name__)


class Worker:
    """Consumers for the chosen queues in this process (threads), started and stopped together."""

    def __init__(self, ctx: AppContext, queues: Queues | None = None, *, only: Iterable[str] | None = None) -> None:
        self.ctx = ctx
        self.queues = queues or build_queues(ctx.settings)
        tasks.bind(ctx, self.queues)
        names = list(only) if only else list(self.queues.hueys)
        self.consumers: list[Consumer] = [
            self.queues.hueys[name].create_consumer(
                workers=self.queues.workers[name],
                worker_type="thread",
                periodic=name == SYNC_JOBS,
                initial_delay=0.05,
                max_delay=1.0,
                check_worker_health=True,
            )
            for name in names
        ]
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="holovitals-reaper", daemon=True)

    def start(self) -> None:
        from holovitals.tuning import tune_for_throughput

        tune_for_throughput()
        tasks.resume_stale(self.ctx, self.queues)
        for consumer in self.consumers:
            consumer.start()
        self._reaper.start()
        log.info("worker started", queues=[c.huey.name for c in self.consumers])

    def _reap_loop(self) -> None:
        interval = max(self.ctx.settings.sync_lease_seconds / 3, 1.0)
        while not self._stop.wait(interval):
            try:
                resumed = tasks.resume_stale(self.ctx, self.queues)
                if resumed:
                    log.warning("resumed jobs of a worker that stopped responding", jobs=resumed)
            except Exception as exc:  # the reaper must outlive a database hiccup
                log.error("reaper failed", error=type(exc).__name__)

    def stop(self, graceful: bool = True) -> None:
        self._stop.set()
        for consumer in self.consumers:
            consumer.stop(graceful=graceful)

    def run_forever(self) -> None:
        """Block until SIGINT/SIGTERM, then stop gracefully (running pages finish and commit)."""
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        done.wait()
        self.stop(graceful=True)
