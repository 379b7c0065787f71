"""Engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from holovitals.config import normalise_database_url
from holovitals.logs import get_logger
from holovitals.store.types import json_deserializer, json_serializer

log = get_logger(__name__)


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message names it without credentials."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API read while a sync writes; NORMAL sync is durable across process crashes
    # (only an OS crash can lose the last transactions), which is SQLite's own advice for WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    # Checkpoint the WAL every ~40 MB instead of every 4 MB: a sync writes in bursts, and fewer,
    # larger checkpoints write each page once (27.6 -> 24.7 us a row in bench measurements).
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    # A multi-row upsert inside a transaction keeps a statement journal; past 64 KiB SQLite spilled
    # it to a temporary file, created, written page by page and deleted for every batch statement.
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


#: Frames left to copy that are worth pausing the writer for (about a millisecond's copy).
_SMALL_REST = 256


def _no_autocheckpoint(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


class WriterGate:
    """What a process's writer holds while it writes, so the WAL checkpointer can pause it.

    A plain lock starves the checkpointer: a writer that releases and at once re-acquires it wins
    every time. The turnstile stops new rounds from starting once the checkpointer waits.
    """

    def __init__(self) -> None:
        self._turnstile = threading.Lock()
        self._lock = threading.Lock()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._turnstile:
            pass
        with self._lock:
            yield

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._turnstile, self._lock:
            yield


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log from a thread of its own.

    SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so that writer
    stalls while ~40 MB are copied (50-100 ms here), and in the MLLP listener every message waiting
    for its ACK stalls behind it. While this runs, the engine's connections leave checkpoints to it,
    and a PASSIVE checkpoint copies committed pages while writers carry on. Anything but a SQLite
    file (PostgreSQL, ``:memory:``) needs none: ``start`` does nothing.

    A log that writers append to during every checkpoint is never fully copied, so SQLite never
    starts it over and it grows for as long as the load lasts (1 GB for 20,000 HL7 messages).
    ``gate``, which the process's writer holds while it writes, fixes that: after the bulk copy
    the checkpointer pauses the writer and copies the few frames written meanwhile, and the next
    write transaction starts the log from the beginning.
    """

    def __init__(self, engine: Engine | None, *, interval: float = 0.5, gate: WriterGate | None = None) -> None:
        self.engine, self.interval, self.gate = engine, interval, gate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        engine = self.engine
        if engine is None or engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
            return self
        if not event.contains(engine, "connect", _no_autocheckpoint):  # one engine, two listeners
            event.listen(engine, "connect", _no_autocheckpoint)
        engine.dispose()  # pooled connections still checkpoint themselves: open new ones
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """A last checkpoint, then the engine's connections checkpoint themselves again."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(30)
        self._thread = None
        if event.contains(self.engine, "connect", _no_autocheckpoint):
            event.remove(self.engine, "connect", _no_autocheckpoint)
        self._checkpoint()
        self.engine.dispose()  # type: ignore[union-attr]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            # A connection of its own, not the pool's: a pooled one would go back to the writer,
            # whose page cache SQLite then drops (it was another connection's), so every pooled
            # connection turn cost the writer a re-read of the pages it works on.
            conn = sqlite3.connect(self.engine.url.database, timeout=30, isolation_level=None)  # type: ignore[union-attr]
            try:  # autocommit: a checkpoint cannot run inside a transaction
                _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if self.gate is not None and frames > 0:
                    # Each pass copies what writers added during the one before (a copy is about
                    # ten times faster than writing), then the last few with our writer waiting.
                    for _ in range(4):
                        _, now, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        added, frames = now - frames, now
                        if added < _SMALL_REST:
                            break
                    with self.gate.paused():  # nothing is added now: the copy ends at the log's end
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                conn.close()
        except Exception as exc:  # the next round tries again; a WAL that grows meanwhile loses nothing
            log.warning("sqlite checkpoint failed", error_type=type(exc).__name__)


def _sqlite_begin(conn) -> None:
    # A deferred transaction that reads first cannot become the writer once another connection has
    # committed since its read (SQLITE_BUSY at once, busy_timeout or not). Write transactions
    # therefore take the write lock up front and queue politely behind each other.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine with our JSON handling; creates the SQLite folder when needed."""
    url = normalise_database_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable("database URL is not a valid SQLAlchemy URL") from None
    kwargs: dict = {"json_serializer": json_serializer, "json_deserializer": json_deserializer, "echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Last in, first out: a thread that writes again gets the connection it just used, whose
            # page cache is still valid. First in, first out rotates connections, and SQLite drops a
            # connection's cache whenever another one has written since it last ran.
            kwargs["pool_use_lifo"] = True
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy issue BEGIN itself so transactions are real (pysqlite defers them otherwise).
        event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **kwargs)
    return engine


def check_database(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` unless a trivial query answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach the {engine.dialect.name} database at "
            f"{engine.url.render_as_string(hide_password=True)}: {str(exc.orig).splitlines()[0]}"
        ) from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A write transaction: committed on success, rolled back on any error.

    On SQLite it begins IMMEDIATE (see ``_sqlite_begin``); plain ``factory()`` sessions are readers.
    """
    with factory() as session, session.begin():
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session
