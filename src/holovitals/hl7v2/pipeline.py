"""The listener's path from frame to store: accept → group commit → ACK → convert → FHIR store → destinations.

Nothing is acknowledged before it is committed, and nothing but the commit waits for the ACK. A
frame is first accepted on the event loop (decode, parse, validate, filter, build the ACK: tens of
microseconds); one writer thread owns every database write, so SQLite never makes two of our
writers wait on each other's lock, and it commits in groups: all the frames accepted while the
previous commit ran go into the next transaction, then all their ACKs are released at once. Under
load a commit carries dozens of messages; when idle, a lone message is committed at once.

Conversion to FHIR, ten times the work of accepting, comes after the ACK: stored messages go to
worker processes (or one conversion thread) in batches, come back in arrival order (messages for one
patient stay in order), and the writer upserts the resources of a whole group in one statement
and records their status. A sender therefore waits for a commit, not for conversion; if conversion
falls behind, connections stop being read until it catches up, so memory stays bounded (what was
acknowledged is in the store and is resumed after a crash). Network destinations run on a delivery
thread and report back their outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from holovitals.logs import get_logger
from holovitals.store.db import WalCheckpointer, WriterGate, transaction

from .ack import build_ack
from .channels import Channel
from .destinations import Deliverer, Delivery, DestinationError, ensure_connection, store
from .errors import HL7Issue
from .intake import Converted, Intake, IntakeOptions, convert_batch, intake, settle
from .message import parse
from .message_store import (
    Status,
    StatusUpdate,
    delivery_of,
    final_status,
    insert_messages,
    last_pk,
    options_for,
    set_status,
    unfinished,
)
from .mllp import encode

log = get_logger(__name__)

#: Messages handed to a conversion worker in one call: big enough to amortise a process round trip.
POOL_CHUNK = 128
#: Acknowledged messages not yet converted and stored above which connections stop being read (each
#: holds its text and, once converted, its resources: about 15 KB for an ADT^A01), and below which
#: they are read again.
MAX_UNSETTLED, RESUME_BELOW = 4096, 2048


@dataclass(slots=True)
class Receipt:
    """What the connection does once a frame is dealt with: send ``ack`` (if any), maybe close."""

    ack: bytes | None
    pk: int | None = None
    duplicate: bool = False
    close: bool = False


Done = Callable[[Receipt], Any]
AppAck = Callable[[str, str | None], Any]


@dataclass
class ChannelStats:
    received: int = 0
    accepted: int = 0
    refused: int = 0
    duplicates: int = 0
    filtered: int = 0
    transformed: int = 0
    sent: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(eq=False)  # hashed by identity: one per registered channel
class ChannelRuntime:
    """A channel as the pipeline runs it: its tenant, intake options, store connection and counters."""

    channel: Channel
    org_id: str
    options: IntakeOptions = field(init=False)
    accept: IntakeOptions = field(init=False)  # the options without conversion: what runs before the ACK
    connection_id: str | None = None
    stats: ChannelStats = field(default_factory=ChannelStats)

    def __post_init__(self) -> None:
        self.options = options_for(self.channel)
        self.accept = replace(self.options, convert=False)

    @property
    def name(self) -> str:
        return self.channel.name


@dataclass(slots=True)
class _Job:
    rt: ChannelRuntime
    item: Intake
    done: Done | None = None
    app_ack: AppAck | None = None
    pk: int | None = None


class Pipeline:
    """Shared by every channel of one listener process. ``submit`` is called on the event loop."""

    def __init__(self, sessions: sessionmaker[Session], *, workers: int = 0, deliver_attempts: int = 3) -> None:
        self.sessions = sessions
        self.workers = workers
        self.runtimes: dict[str, ChannelRuntime] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[ChannelRuntime, bytes, Done | None, AppAck | None]] = []
        self._flush_scheduled = False
        self._accept_lock = threading.Lock()  # the loop and ``stop`` may both flush: one at a time, in order
        self._pool: concurrent.futures.Executor | None = None
        self._to_convert: list[_Job] = []  # stored and acknowledged, waiting for a free worker
        self._ordered: deque[tuple[concurrent.futures.Future, list[_Job]]] = deque()
        self._convert_lock = threading.RLock()  # RLock: a future done at once runs its callback inside _dispatch
        self._in_pool = 0  # batches handed to the pool and not finished yet
        self._restarting = False  # a new pool is starting, off the writer thread: batches wait for it
        self._stopped = False
        self._on_drained: list[Callable[[], Any]] = []  # connections paused while conversion catches up
        self._taken = 0  # frames submitted (written on the loop only; see ``unsettled``)
        self._writer = _Writer(self, deliver_attempts)
        self._checkpointer = WalCheckpointer(sessions.kw.get("bind"), gate=self._writer.gate)

    def register(self, channel: Channel, org_id: str) -> ChannelRuntime:
        if channel.name in self.runtimes:
            raise ValueError(f"channel {channel.name!r} is registered twice")
        rt = self.runtimes[channel.name] = ChannelRuntime(channel, org_id)
        return rt

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer (which first resumes unfinished messages) and the worker processes."""
        self._loop = loop
        self._pool = self._new_pool()
        self._checkpointer.start()
        self._writer.start()

    def _new_pool(self) -> concurrent.futures.Executor:
        if self.workers > 0:
            # spawn, not fork: this process already runs threads, and a forked child inherits their locks.
            context = multiprocessing.get_context("spawn")
            pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker)
            _widen_pipes(pool)
            for f in [pool.submit(convert_batch, []) for _ in range(self.workers)]:
                f.result()  # import everything now, not on the first message
            return pool
        return _conversion_thread()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was received (stored, acknowledged, converted, processed), then stop the threads."""
        deadline = time.monotonic() + timeout
        self._flush()
        while not self.idle and time.monotonic() < deadline:
            with self._convert_lock:
                self._dispatch(force=True)  # nothing more arrives: no batch is worth waiting for
            time.sleep(0.01)
        self._writer.stop(max(deadline - time.monotonic(), 1.0))
        with self._convert_lock:
            self._stopped = True  # what is still unconverted stays stored; the next start resumes it
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._checkpointer.stop()

    @property
    def idle(self) -> bool:
        """Nothing received is still waiting to be stored, converted, processed or delivered."""
        # Under the lock, the writer cannot be between its commit and handing the messages over
        # (``convert`` takes it), nor a finished batch between ``_ordered`` and the writer.
        with self._convert_lock:
            return (not self._pending and not self._to_convert and not self._ordered and not self._restarting
                    and self._writer.idle)  # fmt: skip

    @property
    def unsettled(self) -> int:
        """Frames taken (or messages resumed) whose processing is not finished: in memory, somewhere here.

        Three counters, each written by one thread, so no increment is ever lost between threads.
        """
        return self._taken + self._writer.resumed - self._writer.finished

    @property
    def congested(self) -> bool:
        """So many messages wait, for the store or for conversion, that connections should stop being read."""
        return self.unsettled > MAX_UNSETTLED

    def when_drained(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` on the loop once the pipeline has caught up (at once if it has)."""
        self._on_drained.append(callback)
        # Checked after registering: the writer checks for callbacks after it lowers the count, so
        # one of the two always sees the other (both may: a connection's callback is idempotent).
        if self.unsettled < RESUME_BELOW:
            self._drained()

    # -- accept (event loop thread) --------------------------------------------------------

    def submit(self, rt: ChannelRuntime, payload: bytes, done: Done, app_ack: AppAck | None = None) -> None:
        """Take a frame; ``done(receipt)`` is called on the loop once it is stored (or refused)."""
        self._taken += 1
        self._pending.append((rt, payload, done, app_ack))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]

    def _flush(self) -> None:
        """Accept the frames received so far (no conversion: that comes after the commit) and hand them to the writer.

        Accepting costs tens of microseconds a frame, so the frames of one pass over the loop go
        to the writer together and become one commit.
        """
        with self._accept_lock:
            self._flush_scheduled = False
            pending = self._pending
            count = len(pending)  # frames stay in _pending (so the pipeline is not idle) until the writer has them
            if count:
                self._writer.put([_Job(rt, intake(p, rt.accept), d, a) for rt, p, d, a in pending[:count]])
                del pending[:count]

    # -- conversion (writer thread, pool threads) ------------------------------------------

    def convert(self, jobs: list[_Job]) -> None:
        """Convert stored messages to FHIR in a worker; the writer gets them back in this order."""
        with self._convert_lock:
            self._to_convert.extend(jobs)
            self._dispatch()

    def _dispatch(self, force: bool = False) -> None:
        """Hand waiting messages to the pool in batches (call with ``_convert_lock`` held).

        While every worker is busy and one more batch waits, messages wait here and leave as one
        batch when a worker is done: under load batches grow (a pool round trip costs about a
        message's work); when idle, a message leaves at once. One batch more than workers: a
        worker that finishes finds the next batch already queued.
        """
        if not self._to_convert or self._pool is None or self._restarting or self._stopped:
            return
        if self._in_pool > max(self.workers, 1) and not force:
            return  # _converted dispatches again
        waiting, self._to_convert = self._to_convert, []
        for start in range(0, len(waiting), POOL_CHUNK):
            chunk = waiting[start : start + POOL_CHUNK]
            try:
                future = self._pool.submit(convert_batch, [j.item.raw for j in chunk])
            except Exception as exc:  # a worker died (BrokenProcessPool): its batches are converted here
                self._to_convert[:0] = waiting[start:]  # back in front, in order, for the new pool
                self._restart(exc)
                return
            self._in_pool += 1
            self._ordered.append((future, chunk))
            future.add_done_callback(self._converted)

    def _restart(self, exc: Exception) -> None:
        """Start a new pool on a thread of its own: spawning workers takes a second, and the writer
        (which commits and so acknowledges) must not wait for it."""
        log.error("hl7 conversion workers failed; starting new ones", error_type=type(exc).__name__)
        self._restarting = True
        threading.Thread(target=self._replace_pool, name="hl7-pool-restart", daemon=True).start()

    def _replace_pool(self) -> None:
        try:
            pool = self._new_pool()
        except Exception as exc:  # e.g. no process can be started: convert in the listener, slower but sure
            log.error("hl7 conversion workers cannot start; converting in the listener", error_type=type(exc).__name__)
            pool = _conversion_thread()
        with self._convert_lock:
            old, self._pool, self._restarting = self._pool, pool, False
            if self._stopped:
                pool.shutdown(cancel_futures=True)
            else:
                self._dispatch()
        old.shutdown(wait=False, cancel_futures=True)  # type: ignore[union-attr]

    def _converted(self, _future: concurrent.futures.Future) -> None:
        """Settle finished batches in arrival order and hand them to the writer."""
        with self._convert_lock:
            self._in_pool -= 1
            self._dispatch()
            ready: list[_Job] = []
            while self._ordered and self._ordered[0][0].done():
                future, jobs = self._ordered.popleft()
                try:
                    results: list[Converted] = future.result()
                except Exception as exc:  # a dead worker must not lose messages: convert them here
                    log.error("hl7 conversion worker failed", error_type=type(exc).__name__)
                    results = convert_batch([j.item.raw for j in jobs])
                for job, result in zip(jobs, results, strict=True):
                    settle(job.item, result)
                ready.extend(jobs)
            if ready:  # still under the lock: ``idle`` never finds them in neither place
                self._writer.put_converted(ready)

    def _drained(self) -> None:
        callbacks, self._on_drained = self._on_drained, []
        for callback in callbacks:
            callback()

    # -- back to the event loop ------------------------------------------------------------

    def _call_loop(self, callback: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed while we were committing; its connections are gone.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)


def _conversion_thread() -> concurrent.futures.Executor:
    # One thread: conversion is CPU work, and running it on the event loop would stall every
    # connection's reads and ACKs for the length of a batch.
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hl7-convert")


def _start_worker() -> None:
    """In each conversion worker: import the converter now, then tune the collector like the listener."""
    from holovitals.tuning import tune_for_throughput

    from . import to_fhir  # noqa: F401

    tune_for_throughput()


#: Linux's F_SETPIPE_SZ, and the pipe size we ask for (the default limit for unprivileged processes).
_F_SETPIPE_SZ, _PIPE_SIZE = 1031, 1 << 20


def _widen_pipes(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Give the pool's pipes 1 MiB instead of 64 KiB (Linux only; elsewhere nothing changes).

    A batch's results are about 13 KB a converted message; through a 64 KiB pipe the worker and
    the listener take turns dozens of times a batch, each turn a wake-up of the other process.
    """
    try:
        import fcntl

        for queue_ in (pool._result_queue, pool._call_queue):  # type: ignore[attr-defined]
            fcntl.fcntl(queue_._reader.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, another Python's pool internals, or a lower limit: the default pipes work


def _resolve(receipts: list[tuple[Done, Receipt]]) -> None:
    for done, receipt in receipts:
        try:
            done(receipt)
        except Exception as exc:
            log.error("hl7 receipt callback failed", error_type=type(exc).__name__)


def _app_acks(calls: list[tuple[AppAck, str, str | None]]) -> None:
    for callback, status, error in calls:
        try:
            callback(status, error)
        except Exception as exc:
            log.error("hl7 application ack failed", error_type=type(exc).__name__)


def storage_failure_ack(item: Intake) -> bytes | None:
    """AE/CE 207 for a message we could not store: the sender keeps it and sends it again."""
    if item.ack is None:
        return None
    try:
        message = parse(item.raw)
        issue = HL7Issue(207, "message could not be stored; send it again")
        return encode(build_ack(message, "error", text=issue.message, issues=[issue]))
    except Exception:
        return None


class _Writer:
    """The one thread that writes: raw messages (group commit, then ACKs), FHIR upserts, statuses."""

    def __init__(self, pipeline: Pipeline, deliver_attempts: int) -> None:
        self.pipeline = pipeline
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._converted: list[_Job] = []
        self.finished = 0  # jobs done with: refused, stored as they are, or converted and stored
        self.resumed = 0  # jobs a previous run left unfinished, taken up again
        self._updates: list[tuple[ChannelRuntime, StatusUpdate, AppAck | None]] = []
        self._backlog: deque[_Job] = deque()
        self._stopping = False
        self._busy = False
        self.gate = WriterGate()  # held while writing; the WAL checkpointer may pause us with it
        self._recover: dict[str, tuple[int, int]] = {}  # channel -> (last pk resumed, last pk to resume)
        self._thread = threading.Thread(target=self._run, name="hl7-writer", daemon=True)
        self._deliveries: queue.Queue[tuple[ChannelRuntime, _Job] | None] = queue.Queue()
        self._in_delivery = 0
        self._delivery_thread = threading.Thread(target=self._deliver_loop, args=(deliver_attempts,),
                                                 name="hl7-delivery", daemon=True)  # fmt: skip

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.pipeline.sessions

    @property
    def idle(self) -> bool:
        with self._cond:
            return (not self._jobs and not self._converted and not self._updates and not self._backlog
                    and not self._busy and not self._recover and self._in_delivery == 0)  # fmt: skip

    def start(self) -> None:
        # Only what a previous run left: rows this run stores are already in the backlog.
        with self.sessions() as session:
            lasts = {name: last_pk(session, rt.org_id, name) for name, rt in self.pipeline.runtimes.items()}
        self._recover = {name: (0, last) for name, last in lasts.items() if last}
        self._thread.start()
        self._delivery_thread.start()

    def stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.idle and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
        self._deliveries.put(None)
        self._delivery_thread.join(timeout)

    def put(self, jobs: list[_Job]) -> None:
        """Accepted frames, to store and acknowledge."""
        with self._cond:
            self._jobs.extend(jobs)
            self._cond.notify()

    def put_converted(self, jobs: list[_Job]) -> None:
        """Stored messages back from conversion, in arrival order, to upsert."""
        with self._cond:
            self._converted.extend(jobs)
            self._cond.notify()

    def _put_update(self, rt: ChannelRuntime, update: StatusUpdate, app_ack: AppAck | None) -> None:
        with self._cond:
            self._updates.append((rt, update, app_ack))
            self._cond.notify()

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                resumable = self._recover and self.pipeline.unsettled < RESUME_BELOW
                if not (self._jobs or self._converted or self._updates or self._backlog or resumable
                        or self._stopping):  # fmt: skip
                    self._cond.wait(0.5)
                jobs, self._jobs = self._jobs, []
                self._backlog.extend(self._converted)
                self._converted.clear()
                updates, self._updates = self._updates, []
                stopping = self._stopping
                self._busy = True
            try:
                with self.gate.writing():
                    if jobs:
                        self._commit(jobs)
                    if updates:
                        self._apply_updates(updates)
                    if self._backlog:
                        # Keep pace with intake: process at least as many as were just stored.
                        self._process(max(64, 2 * len(jobs)))
                    elif self._recover and self.pipeline.unsettled < RESUME_BELOW:
                        self._resume()
                if self.pipeline._on_drained and self.pipeline.unsettled < RESUME_BELOW:
                    self.pipeline._call_loop(self.pipeline._drained)
            except Exception as exc:  # never let the writer die: log, keep serving
                log.error("hl7 writer error", error_type=type(exc).__name__)
            finally:
                with self._cond:
                    self._busy = False
            if stopping:
                with self._cond:
                    if not self._jobs and not self._updates:
                        return  # a backlog left here is resumed by the next start

    # -- raw messages: group commit, then ACKs ---------------------------------------------

    def _commit(self, jobs: list[_Job]) -> None:
        storable = [j for j in jobs if j.item.storable]
        try:
            with transaction(self.sessions) as session:
                ids = insert_messages(session, [(j.rt.org_id, j.rt.name, j.item) for j in storable])
        except Exception as exc:
            log.error("hl7 group commit failed, storing one by one", error_type=type(exc).__name__,
                      messages=len(storable))  # fmt: skip
            ids = [self._commit_one(j) for j in storable]
        results = iter(ids)
        receipts: list[tuple[Done, Receipt]] = []
        app_acks: list[tuple[AppAck, str, str | None]] = []
        received: list[_Job] = []
        for job in jobs:
            item, stats = job.item, job.rt.stats
            stats.received += 1
            if not item.storable:
                log.warning("hl7 frame refused, closing connection", channel=job.rt.name, reason=item.log_reason)
                stats.refused += 1
                receipt = Receipt(None, close=True)
            else:
                stored = next(results)
                if stored is None:
                    stats.errors += 1
                    receipt = Receipt(storage_failure_ack(item), close=item.ack is None)
                else:
                    job.pk, duplicate_of = stored
                    receipt = Receipt(item.ack, job.pk, duplicate_of is not None)
                    self._count_and_route(job, duplicate_of, app_acks, received)
            if job.done is not None:
                receipts.append((job.done, receipt))
        if receipts:
            self.pipeline._call_loop(_resolve, receipts)
        if app_acks:
            self.pipeline._call_loop(_app_acks, app_acks)
        self.finished += len(jobs) - len(received)
        self._route(received)

    def _route(self, received: list[_Job]) -> None:
        """Stored messages to process: through conversion first when their channel converts."""
        convert: list[_Job] = []
        for job in received:
            (convert if job.rt.options.convert else self._backlog).append(job)
        if convert:
            self.pipeline.convert(convert)

    def _commit_one(self, job: _Job) -> tuple[int, int | None] | None:
        try:
            with transaction(self.sessions) as session:
                return insert_messages(session, [(job.rt.org_id, job.rt.name, job.item)])[0]
        except Exception as exc:
            log.error("hl7 message could not be stored", channel=job.rt.name, error_type=type(exc).__name__)
            return None

    def _count_and_route(self, job: _Job, duplicate_of: int | None, app_acks: list, received: list) -> None:
        item, stats = job.item, job.rt.stats
        if duplicate_of is not None:
            stats.accepted += 1
            stats.duplicates += 1
            if job.app_ack and item.app_ack in ("AL", "SU"):
                app_acks.append((job.app_ack, Status.FILTERED.value, None))
            return
        if not item.accepted:
            stats.refused += 1
            log.warning("hl7 message refused", channel=job.rt.name, control_id=item.control_id,
                        ack=item.ack_code, reason=item.log_reason)  # fmt: skip
            return
        stats.accepted += 1
        if item.status == Status.RECEIVED:
            received.append(job)
            return
        if item.status == Status.FILTERED:
            stats.filtered += 1
        else:
            stats.errors += 1
            log.warning("hl7 message not converted", channel=job.rt.name, message_id=job.pk, reason=item.error)
        if job.app_ack and item.app_ack:
            app_acks.append((job.app_ack, item.status, item.error))

    # -- after the ACK: FHIR store, statuses, deliveries -----------------------------------

    def _process(self, limit: int) -> None:
        batch = [self._backlog.popleft() for _ in range(min(limit, len(self._backlog)))]
        self.finished += len(batch)
        groups: dict[str, list[_Job]] = {}
        failed: list[tuple[ChannelRuntime, StatusUpdate, AppAck | None]] = []
        for job in batch:
            if job.item.status == Status.ERROR:  # conversion failed: stored for a reprocess, nothing to upsert
                log.warning("hl7 message not converted", channel=job.rt.name, message_id=job.pk, reason=job.item.error)
                app_ack = job.app_ack if job.item.app_ack else None
                failed.append((job.rt, StatusUpdate(job.pk, Status.ERROR.value, job.item.error), app_ack))  # type: ignore[arg-type]
            else:
                groups.setdefault(job.rt.name, []).append(job)
        if failed:
            self._apply_updates(failed)
        for jobs in groups.values():
            try:
                self._store_group(jobs[0].rt, jobs)
            except Exception as exc:
                log.error("hl7 batch store failed, retrying one by one", error_type=type(exc).__name__)
                for job in jobs:
                    try:
                        self._store_group(job.rt, [job])
                    except Exception as one_exc:
                        error = f"store failed: {type(one_exc).__name__}"
                        app_ack = job.app_ack if job.item.app_ack else None
                        self._apply_updates([(job.rt, StatusUpdate(job.pk, Status.ERROR.value, error), app_ack)])

    def _store_group(self, rt: ChannelRuntime, jobs: list[_Job]) -> None:
        channel = rt.channel
        network = bool(channel.network_destinations)
        status = Status.QUEUED.value if network else final_status(channel)
        with transaction(self.sessions) as session:
            connection_id = rt.connection_id
            if channel.stores:
                connection_id = connection_id or ensure_connection(session, rt.org_id, rt.name)
                store(session, connection_id, rt.name, [r for j in jobs for r in j.item.resources or ()])
            set_status(session, [StatusUpdate(j.pk, status, final=not network) for j in jobs])  # type: ignore[arg-type]
        rt.connection_id = connection_id
        if network:
            for job in jobs:
                with self._cond:
                    self._in_delivery += 1
                self._deliveries.put((rt, job))
            return
        if status == Status.TRANSFORMED:
            rt.stats.transformed += len(jobs)
        calls = [(j.app_ack, status, None) for j in jobs if j.app_ack and j.item.app_ack in ("AL", "SU")]
        if calls:
            self.pipeline._call_loop(_app_acks, calls)

    def _apply_updates(self, updates: list[tuple[ChannelRuntime, StatusUpdate, AppAck | None]]) -> None:
        with transaction(self.sessions) as session:
            set_status(session, [u for _, u, _ in updates])
        calls = []
        for rt, update, app_ack in updates:
            if update.status == Status.ERROR:
                rt.stats.errors += 1
            elif update.status == Status.SENT:
                rt.stats.sent += 1
            if app_ack is not None:
                calls.append((app_ack, update.status, update.error))
        if calls:
            self.pipeline._call_loop(_app_acks, calls)

    def _deliver_loop(self, attempts: int) -> None:
        deliverer = Deliverer(attempts=attempts)
        try:
            while (entry := self._deliveries.get()) is not None:
                rt, job = entry
                update = self._deliver(deliverer, rt, job)
                self._put_update(rt, update, job.app_ack if job.item.app_ack else None)
                with self._cond:
                    self._in_delivery -= 1
        finally:
            deliverer.close()

    @staticmethod
    def _deliver(deliverer: Deliverer, rt: ChannelRuntime, job: _Job) -> StatusUpdate:
        delivery: Delivery = delivery_of(job.pk, rt.name, job.item)  # type: ignore[arg-type]
        for destination in rt.channel.network_destinations:
            try:
                deliverer.deliver(destination, delivery)
            except DestinationError as exc:
                log.warning("hl7 destination failed", channel=rt.name, message_id=job.pk, reason=str(exc))
                return StatusUpdate(job.pk, Status.ERROR.value, str(exc))  # type: ignore[arg-type]
        return StatusUpdate(job.pk, Status.SENT.value)  # type: ignore[arg-type]

    # -- resuming what a previous run stored but did not finish ----------------------------

    def _resume(self) -> None:
        name, (after, upto) = next(iter(self._recover.items()))
        rt = self.pipeline.runtimes[name]
        with self.sessions() as session:
            rows = unfinished(session, rt.org_id, name, after=after, upto=upto, limit=256)
        if not rows:
            del self._recover[name]
            return
        self._recover[name] = (rows[-1].pk, upto)
        log.info("hl7 resuming unfinished messages", channel=name, messages=len(rows))
        received = []
        for row in rows:
            item = intake(row.raw.encode("utf-8"), rt.accept)
            if item.status == Status.RECEIVED:
                received.append(_Job(rt, item, pk=row.pk))
            else:
                self._put_update(rt, StatusUpdate(row.pk, item.status, item.error), None)
        self.resumed += len(received)
        self._route(received)
