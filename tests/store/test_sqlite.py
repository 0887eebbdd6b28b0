"""The SQLite store: files it refuses, locks it waits out, rows retention deletes."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from pymetrix import InvalidArgument, ManualClock, Metrics, StoreError
from pymetrix.store import AppCount, NodeCount, Query, Store
from pymetrix.store._chunks import ALL_NODES, decode_bases, encode_bases
from pymetrix.store._schema import SCHEMA_VERSION
from pymetrix.store.sqlite import SQLiteStore
from pymetrix.testing import wait_until

from .conftest import START, MakeMetrics

START_NS = ManualClock(START).time_ns()


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """A file's content hash, modification time, and the files beside it."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "pymetrix.db"


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Hold the file's write lock from another connection, as another process would."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")


def test_sqlite_url_opens_a_sqlite_store_in_wal_mode(db: Path) -> None:
    with Metrics("Test", store=f"sqlite:///{db}") as metrics:
        assert isinstance(metrics.store, SQLiteStore)
        assert isinstance(metrics.store, Store)
        metrics.hit("Home")
        assert metrics.flush(timeout=10)
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT value FROM pymetrix_meta").fetchone() == (str(SCHEMA_VERSION),)


def test_relative_sqlite_urls_name_files_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    for url, path in [
        ("sqlite:here.db", "here.db"),
        ("sqlite:///third.db", "third.db"),
        ("sqlite://data/there.db", "data/there.db"),
    ]:
        with Metrics("Test", store=url) as metrics:
            metrics.hit("Home")
        assert (tmp_path / path).is_file()


@pytest.mark.parametrize(
    ("url", "relative", "absolute"),
    [
        ("sqlite:/pymetrix.db", "sqlite:///pymetrix.db", "sqlite:////pymetrix.db"),
        (
            "sqlite:/var/p.db?batch_size=5",
            "sqlite:///var/p.db?batch_size=5",
            "sqlite:////var/p.db?batch_size=5",
        ),
    ],
)
def test_a_sqlite_url_with_one_slash_is_refused_naming_both_spellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, relative: str, absolute: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument) as caught:
        Metrics("Test", store=url)
    message = str(caught.value)
    assert repr(url) in message
    assert f"{relative} (relative to the working directory)" in message
    assert f"{absolute} (absolute)" in message
    assert list(tmp_path.iterdir()) == []


def test_store_object_can_be_passed_directly(db: Path) -> None:
    store = SQLiteStore(db, app="shop", flush_interval=0.01)
    metrics = Metrics("shop", store=store, clock=ManualClock(START))
    metrics.hit("Cart")
    metrics.close()  # flushes, and leaves open the store it was given
    assert store.counts(Query()) == [NodeCount("Cart", 1, START_NS)]
    store.close()
    with SQLiteStore(db, app="shop") as reopened:
        assert [c.hits for c in reopened.counts(Query())] == [1]


def test_file_of_another_program_is_refused_untouched(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
        conn.commit()
    before = fingerprint(db)
    with pytest.raises(StoreError, match=r"not a Pymetrix database.*users") as caught:
        Metrics("Test", store=f"sqlite:///{db}")
    assert str(db) in str(caught.value)
    assert fingerprint(db) == before


def test_file_that_is_not_sqlite_is_refused_untouched(db: Path) -> None:
    db.write_bytes(b"this is a text file, not a database\n" * 200)
    before = fingerprint(db)
    with pytest.raises(StoreError, match="not a Pymetrix database"):
        Metrics("Test", store=f"sqlite:///{db}")
    assert fingerprint(db) == before


def test_database_of_a_newer_schema_is_refused_unchanged(db: Path) -> None:
    with Metrics("Test", store=f"sqlite:///{db}") as metrics:
        metrics.hit("Home")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE pymetrix_meta SET value = '99' WHERE key = 'schema_version'")
        conn.commit()
    before = fingerprint(db)[:2]
    with pytest.raises(StoreError, match=r"newer Pymetrix \(schema version 99"):
        Metrics("Test", store=f"sqlite:///{db}")
    # Reading a WAL-mode file makes SQLite's -wal/-shm files; the database is unchanged.
    assert fingerprint(db)[:2] == before


def test_missing_directory_is_a_store_error_naming_the_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/p.db"
    with pytest.raises(StoreError, match="cannot open") as caught:
        Metrics("Test", store=url)
    assert caught.value.url is not None
    assert "no/such/dir" in caught.value.url


def test_read_only_a_missing_file_is_refused_naming_it_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    with pytest.raises(StoreError, match="does not exist") as caught:
        Metrics("Test", store=f"sqlite:///{tmp_path}/nothere.db", read_only=True)
    assert str(tmp_path / "nothere.db") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_read_only_an_empty_file_is_refused_untouched(db: Path) -> None:
    db.touch()
    before = fingerprint(db)
    with pytest.raises(StoreError, match="no Pymetrix data"):
        Metrics("Test", store=f"sqlite:///{db}", read_only=True)
    assert fingerprint(db) == before


def test_read_only_reads_every_process_hits_registers_no_app_and_refuses_hits(
    db: Path, make_metrics: MakeMetrics
) -> None:
    url = f"sqlite:///{db}?flush_interval=0.01"
    writer = make_metrics("shop", store=url)
    writer.hit("Home")
    assert writer.flush(timeout=10)
    with Metrics("shop", store=url, read_only=True) as shop:
        assert shop.aggregate() == [{"id": "Home", "hits": 1}]
        with pytest.raises(StoreError, match="read-only"):
            shop.hit("Home")
        with pytest.raises(StoreError, match="read-only"):
            shop.store.append(START_NS, "Home", None, None, None)
    with Metrics("blog", store=url, read_only=True) as blog:
        assert blog.aggregate() == []
        assert [app.app for app in blog.store.apps()] == ["shop"]
        # The app is found once another process records under it.
        other = make_metrics("blog", store=url)
        other.hit("Post")
        assert other.flush(timeout=10)
        assert blog.aggregate() == [{"id": "Post", "hits": 1}]


def test_locked_at_start_the_app_starts_and_its_hits_wait_for_the_lock(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Other processes may hold the write lock for longer than busy_timeout (a busy
    # machine, an import): the application must start all the same.
    Metrics("Test", store=f"sqlite:///{db}").close()
    with write_locked(db):
        metrics = Metrics("Test", store=f"sqlite:///{db}?busy_timeout=0.05&flush_interval=0.01")
        metrics.hit("Home")
        metrics.hit("Home")
        assert metrics.flush(timeout=0.2) is False
    try:
        assert metrics.flush(timeout=10)
        assert metrics.aggregate() == [{"id": "Home", "hits": 2}]
        assert metrics.dropped == 0
    finally:
        metrics.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("cannot connect at start" in m and "locked" in m for m in messages)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sqlite:///{db}?flush_every=1", "unknown store URL option 'flush_every'"),
        ("sqlite:///{db}?batch_size=many", "batch_size='many': expected an int >= 1"),
        ("sqlite:///{db}?batch_size=0", "batch_size='0': expected an int >= 1"),
        ("sqlite:///{db}?max_buffer=-5", "max_buffer='-5': expected an int >= 1"),
        ("sqlite:///{db}?flush_interval=0", "flush_interval='0': expected seconds > 0"),
        ("sqlite:///{db}?flush_interval=nan", "flush_interval='nan': expected seconds > 0"),
        ("sqlite:///{db}?flush_interval=inf", "flush_interval='inf': expected seconds > 0"),
        ("sqlite:///{db}?busy_timeout=-1", "busy_timeout='-1': expected seconds >= 0"),
        ("sqlite:///{db}?batch_size=5&batch_size=6", "'batch_size' is given twice"),
    ],
)
def test_bad_sqlite_url_options_are_store_errors_naming_the_url(
    db: Path, url: str, match: str
) -> None:
    with pytest.raises(StoreError, match=match) as caught:
        Metrics("Test", store=url.format(db=db))
    assert caught.value.url == url.format(db=db)
    assert not db.exists()


@pytest.mark.parametrize(
    ("url", "match"), [("sqlite:///:memory:", "a file path"), ("sqlite://", "sqlite:///path")]
)
def test_sqlite_urls_without_a_file_are_rejected(url: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        Metrics("Test", store=url)


def test_hits_wait_in_memory_while_the_file_is_locked(
    db: Path, make_metrics: MakeMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = make_metrics(store=f"sqlite:///{db}?flush_interval=0.01&busy_timeout=0.02")
    metrics.hit("Home")
    assert metrics.flush(timeout=10)
    with write_locked(db):
        started = time.perf_counter()
        for _ in range(500):
            metrics.hit("Home")
        # Recording never waits for the lock: 500 hits take far less than one timeout.
        assert time.perf_counter() - started < 0.5
        assert metrics.flush(timeout=0.2) is False
    assert metrics.flush(timeout=10)
    assert metrics.aggregate() == [{"id": "Home", "hits": 501}]
    assert metrics.dropped == 0
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("cannot write hits" in m and "locked" in m for m in messages)
    assert any("writing again" in m for m in messages)


def test_hits_past_the_buffer_bound_are_counted_as_dropped(
    db: Path, make_metrics: MakeMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{db}?flush_interval=0.01&busy_timeout=0.02&max_buffer=100&batch_size=30"
    metrics = make_metrics(store=url)
    with write_locked(db):
        for _ in range(150):
            metrics.hit("Home")
        assert wait_until(lambda: metrics.dropped == 50)
    assert metrics.flush(timeout=10)
    assert metrics.aggregate() == [{"id": "Home", "hits": 100}]
    assert metrics.dropped == 50
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_retention_deletes_old_chunks_in_the_background(
    db: Path, make_metrics: MakeMetrics
) -> None:
    clock = ManualClock(START)
    metrics = make_metrics(
        store=f"sqlite:///{db}?flush_interval=0.01", clock=clock, retention=timedelta(minutes=1)
    )
    metrics.hit("Home")
    assert metrics.flush(timeout=10)
    clock.advance(120)
    metrics.hit("Blog")
    assert metrics.flush(timeout=10)

    def chunks() -> int:
        with closing(sqlite3.connect(db)) as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM pymetrix_chunks").fetchone()
            return int(count)

    assert wait_until(lambda: chunks() == 1)
    assert metrics.aggregate() == [{"id": "Home", "hits": 1}, {"id": "Blog", "hits": 1}]
    assert [len(n["callers"]) for n in metrics.time_series()["nodes"]] == [0, 1]


def test_apps_tells_the_last_hit_time_from_rollups_once_retention_deleted_every_chunk(
    db: Path, make_metrics: MakeMetrics
) -> None:
    clock = ManualClock(START)
    metrics = make_metrics(
        store=f"sqlite:///{db}?flush_interval=0.01", clock=clock, retention=timedelta(minutes=1)
    )
    metrics.hit("Home")
    clock.advance(150)
    metrics.hit("Blog")  # alone in its minute: its bucket's first hit is the last hit
    assert metrics.flush(timeout=10)
    last = START_NS + 150_000_000_000
    assert metrics.store.apps() == [AppCount("Test", 2, START_NS, last)]
    clock.advance(3600)

    def chunks() -> int:
        with closing(sqlite3.connect(db)) as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM pymetrix_chunks").fetchone()
            return int(count)

    assert wait_until(lambda: chunks() == 0)
    assert metrics.store.apps() == [AppCount("Test", 2, START_NS, last)]


def test_live_subscriber_counts_hits_retention_deleted_before_it_read_them(
    db: Path, make_metrics: MakeMetrics
) -> None:
    clock = ManualClock(START)
    metrics = make_metrics(
        store=f"sqlite:///{db}?flush_interval=0.01", clock=clock, retention=timedelta(minutes=1)
    )
    subscription = metrics.store.subscribe()
    try:
        metrics.hit("Home")
        metrics.hit("Home")
        assert metrics.flush(timeout=10)
        clock.advance(120)
        metrics.hit("Home")
        assert metrics.flush(timeout=10)
        with closing(sqlite3.connect(db)) as conn:
            assert wait_until(
                lambda: conn.execute("SELECT COUNT(*) FROM pymetrix_chunks").fetchone() == (1,)
            )
        hits = subscription.read(10)
        assert [(h.node, h.node_hits) for h in hits] == [("Home", 3)]
        assert subscription.dropped == 2
    finally:
        subscription.close()


def test_a_schema_version_1_database_is_upgraded_and_its_chunks_still_stream(db: Path) -> None:
    with Metrics("Test", store=f"sqlite:///{db}") as metrics:
        metrics.hit("Home")
        metrics.hit("Blog", caller="Home")
    make_version_2(db)
    # Version 1 chunks: bases without the app's count before the chunk.
    with closing(sqlite3.connect(db)) as conn:
        for chunk_id, bases in conn.execute("SELECT id, bases FROM pymetrix_chunks").fetchall():
            old = {node: hits for node, hits in decode_bases(bases).items() if node != ALL_NODES}
            conn.execute(
                "UPDATE pymetrix_chunks SET bases = ? WHERE id = ?", (encode_bases(old), chunk_id)
            )
        conn.execute("UPDATE pymetrix_meta SET value = '1' WHERE key = 'schema_version'")
        conn.commit()
    with Metrics("Test", store=f"sqlite:///{db}?flush_interval=0.01") as metrics:
        store = metrics.store
        assert isinstance(store, SQLiteStore)
        oldest = store.subscribe(after=0)
        live = store.subscribe()
        try:
            metrics.hit("Home")
            assert metrics.flush(timeout=10)
            got = [(h.node, h.node_hits, h.seq) for h in oldest.read(10)]
            assert got == [("Home", 1, 1), ("Blog", 1, 2), ("Home", 2, 3)]
            assert [(h.node, h.node_hits, h.seq) for h in live.read(10)] == [("Home", 2, 3)]
            assert oldest.dropped == live.dropped == 0
        finally:
            oldest.close()
            live.close()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM pymetrix_meta").fetchone() == (str(SCHEMA_VERSION),)


def test_a_schema_version_2_database_gets_batch_ids_and_keeps_its_hits(db: Path) -> None:
    with Metrics("Test", store=f"sqlite:///{db}") as metrics:
        metrics.hit("Home")
        metrics.hit("Blog", caller="Home")
    make_version_2(db)
    with Metrics("Test", store=f"sqlite:///{db}?flush_interval=0.01") as metrics:
        metrics.hit("Home")
        assert metrics.flush(timeout=10)
        assert metrics.aggregate() == [{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 1}]
        assert len(metrics.time_series()["nodes"][0]["callers"]) == 2
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM pymetrix_meta").fetchone() == (str(SCHEMA_VERSION),)
        batches = [row[0] for row in conn.execute("SELECT batch FROM pymetrix_chunks ORDER BY id")]
        assert batches[0] is None
        assert isinstance(batches[-1], int)
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(pymetrix_chunks)")}
        assert "pymetrix_chunks_batch" in indexes


def make_version_2(db: Path) -> None:
    """Turn a database of this version into one as version 2 wrote it: no batch ids."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE pymetrix_rollups")
        conn.execute("DROP TABLE pymetrix_rollup_edges")
        conn.execute("DROP INDEX pymetrix_chunks_batch")
        conn.execute("ALTER TABLE pymetrix_chunks DROP COLUMN batch")
        conn.execute("UPDATE pymetrix_meta SET value = '2' WHERE key = 'schema_version'")
        conn.commit()


def test_stores_close_at_interpreter_exit_writing_what_is_queued(db: Path) -> None:
    import subprocess
    import sys

    script = (
        "from pymetrix import Metrics\n"
        f"m = Metrics('Test', store='sqlite:///{db}?flush_interval=60')\n"
        "for _ in range(1000): m.hit('Home')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with Metrics("Test", store=f"sqlite:///{db}") as metrics:
        assert metrics.aggregate() == [{"id": "Home", "hits": 1000}]
