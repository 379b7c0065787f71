"""The background WAL checkpointer: writers stop checkpointing, its thread copies the log instead."""

from __future__ import annotations

import os
import time

import pytest

from holovitals.store.db import WalCheckpointer, WriterGate, make_engine


def _autocheckpoint(engine) -> int:
    raw = engine.raw_connection()
    try:
        return raw.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    finally:
        raw.close()


def _write(engine, rows: int) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
        for _ in range(rows // 500):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO t (body) VALUES (?)", [("x" * 1000,)] * 500)
            conn.execute("COMMIT")
    finally:
        raw.close()


def test_sqlite_commits_leave_the_checkpoint_to_the_thread_which_copies_the_log_into_the_database(tmp_path):
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{path}")
    _write(engine, 0)
    empty = os.path.getsize(path)
    checkpointer = WalCheckpointer(engine, interval=0.05).start()
    try:
        assert _autocheckpoint(engine) == 0  # writers no longer stall on a checkpoint
        _write(engine, 3000)  # ~3 MB, committed to the log
        deadline = time.monotonic() + 10
        while os.path.getsize(path) < empty + 2_000_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.getsize(path) >= empty + 2_000_000  # the thread copied the pages into the file
    finally:
        checkpointer.stop()
    assert _autocheckpoint(engine) == 10000  # stopped: connections checkpoint themselves again
    raw = engine.raw_connection()
    try:
        assert raw.driver_connection.execute("SELECT count(*) FROM t").fetchone()[0] == 3000
    finally:
        raw.close()
    engine.dispose()


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_without_a_sqlite_file_there_is_nothing_to_checkpoint(db_url):
    # PostgreSQL has no WAL of ours to copy, an in-memory SQLite no file: start and stop change nothing.
    for url in (db_url, "sqlite:///:memory:"):
        engine = make_engine(url)
        checkpointer = WalCheckpointer(engine, interval=0.01).start()
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        finally:
            checkpointer.stop()
        engine.dispose()


def test_under_continuous_writes_the_log_starts_over_instead_of_growing(tmp_path):
    # Writers append during every copy, so a checkpoint alone never reaches the log's end and
    # SQLite never reuses it; with the writer's lock the checkpointer finishes the copy and it does.
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{path}")
    _write(engine, 0)
    gate = WriterGate()
    checkpointer = WalCheckpointer(engine, interval=0.02, gate=gate).start()
    largest = 0
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        for _ in range(800):  # 800 transactions of ~200 KB: 160 MB through the log
            with gate.writing():
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO t (body) VALUES (?)", [("y" * 1000,)] * 200)
                conn.execute("COMMIT")
            largest = max(largest, os.path.getsize(f"{path}-wal"))
    finally:
        raw.close()
        checkpointer.stop()
    # The log's file keeps its largest size; one that never started over would hold all 170 MB.
    # (A slow machine lets a few cycles' worth accumulate: ~20 MB here, 51 MB seen under load.)
    assert largest < 100_000_000
    engine.dispose()
