"""Waking on writes to a file, and the SQLite watcher's wake on another process's commit."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pymetrix.store._filewatch import FileWatch
from pymetrix.store.sqlite import SQLiteDialect, _WatchedConnection


def _write_later(path: Path, delay: float) -> threading.Thread:
    def write() -> None:
        time.sleep(delay)
        with path.open("ab") as file:
            file.write(b"x")

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.mark.parametrize("native", [True, False])
def test_a_write_wakes_the_watch_long_before_its_timeout(tmp_path: Path, native: bool) -> None:
    target = tmp_path / "db-wal"
    target.write_bytes(b"")
    watch = FileWatch(str(target), native=native)
    assert watch.native is (native and sys.platform.startswith("linux"))
    writer = _write_later(target, 0.1)
    start = time.monotonic()
    try:
        assert watch.wait(30.0)
        assert time.monotonic() - start < 10
    finally:
        writer.join()
        watch.close()


@pytest.mark.parametrize("native", [True, False])
def test_writes_to_other_files_do_not_wake_the_watch(tmp_path: Path, native: bool) -> None:
    watch = FileWatch(str(tmp_path / "db-wal"), native=native)
    writer = _write_later(tmp_path / "other", 0.0)
    try:
        assert not watch.wait(0.3)
    finally:
        writer.join()
        watch.close()


def test_a_file_created_after_the_watch_began_wakes_it(tmp_path: Path) -> None:
    watch = FileWatch(str(tmp_path / "db-wal"))
    writer = _write_later(tmp_path / "db-wal", 0.1)
    try:
        assert watch.wait(30.0)
    finally:
        writer.join()
        watch.close()


@pytest.mark.parametrize("native", [True, False])
def test_a_file_deleted_and_made_again_is_still_followed(tmp_path: Path, native: bool) -> None:
    target = tmp_path / "db-wal"
    target.write_bytes(b"first")
    watch = FileWatch(str(target), native=native)
    try:
        target.unlink()
        watch.wait(0.05)  # the deletion itself may or may not count as a write
        target.write_bytes(b"")
        assert watch.wait(30.0)
        writer = _write_later(target, 0.1)
        assert watch.wait(30.0)
        writer.join()
    finally:
        watch.close()


def test_the_watcher_returns_on_a_commit_in_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "live.db")
    dialect = SQLiteDialect(path, busy_timeout=5.0, url=f"sqlite:///{path}")
    setup = dialect.connect()
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.close()
    conn = dialect.watch_connect()
    assert isinstance(conn, _WatchedConnection)
    script = (
        "import sqlite3, sys, time; time.sleep(0.2); "
        "c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('INSERT INTO t VALUES (1)'); c.close()"
    )
    child = subprocess.Popen([sys.executable, "-c", script, path])
    try:
        start = time.monotonic()
        conn.wait_for_commit(30.0)
        waited = time.monotonic() - start
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
        assert waited < 10
        # Nothing more is committed: the next wait runs to its timeout.
        start = time.monotonic()
        conn.wait_for_commit(0.3)
        assert time.monotonic() - start >= 0.25
    finally:
        child.wait(timeout=30)
        conn.close()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    assert os.path.exists(path)
