"""The store contract (pymetrix.testing.StoreContract) run against every store here, and
what persistent stores add: hits written by other processes and read by later ones."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pymetrix import Clock, ManualClock
from pymetrix.store import AppCount, MemoryStore, Store
from pymetrix.store.postgres import PostgresStore
from pymetrix.store.sqlite import SQLiteStore
from pymetrix.testing import StoreContract, read_live, record_in_batches, resumable, shown

from .conftest import START, MakeMetrics

ROOT = Path(__file__).resolve().parents[2]


class TestMemoryStore(StoreContract):
    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        return MemoryStore(clock=clock, retention=retention, app=app)


class TestSQLiteStore(StoreContract):
    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        return SQLiteStore(
            place / "pymetrix.db", app=app, clock=clock, retention=retention, flush_interval=0.02
        )


class TestPostgresStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, postgres_url: str) -> None:
        self.url = postgres_url

    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        return PostgresStore(
            self.url, app=app, clock=clock, retention=retention, flush_interval=0.02
        )


# -- what persistent stores add --------------------------------------------------------


def test_subscribe_after_a_seq_gets_hits_another_process_wrote_since(
    make_metrics: MakeMetrics, persistent_url: str
) -> None:
    metrics = make_metrics(store=persistent_url)
    hits = record_in_batches(metrics)
    last = hits[-1].seq
    assert last is not None
    # Three nodes cycling, node k called by node k-1: see tests/store/_worker.py.
    worker = subprocess.run(
        [sys.executable, "-m", "tests.store._worker", persistent_url, "Test", "7", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.strip() == "dropped=0"
    subscription = resumable(metrics).subscribe(after=last)
    try:
        later = read_live(subscription, 7)
        assert subscription.read(10) == []
        assert subscription.dropped == 0
    finally:
        subscription.close()
    assert [(hit.node, hit.caller, hit.node_hits) for hit in later] == [
        ("node-0", None, 1),
        ("node-1", "node-0", 1),
        ("node-2", "node-1", 1),
        ("node-0", None, 2),
        ("node-1", "node-0", 2),
        ("node-2", "node-1", 2),
        ("node-0", None, 3),
    ]
    seqs = [hit.seq or 0 for hit in later]
    assert seqs == sorted(set(seqs))
    assert seqs[0] > last


def test_a_store_opened_later_resumes_from_a_seq_at_once(
    make_metrics: MakeMetrics, persistent_url: str
) -> None:
    writer = make_metrics(store=persistent_url)
    hits = record_in_batches(writer)
    writer.close()
    assert hits[1].seq is not None
    reader = make_metrics(store=persistent_url)
    subscription = resumable(reader).subscribe(after=hits[1].seq)
    try:
        # Read without waiting: the hits are there before the subscription exists.
        assert shown(subscription.read(10)) == shown(hits[2:])
    finally:
        subscription.close()


def test_apps_lists_every_app_sharing_the_database_with_its_own_hits(
    make_metrics: MakeMetrics, persistent_url: str
) -> None:
    shop = make_metrics("shop", store=persistent_url)
    blog = make_metrics("blog", store=persistent_url)
    idle = make_metrics("idle", store=persistent_url)
    shop.hit("Cart")
    shop.hit("Cart")
    blog.hit("Post")
    assert shop.flush(timeout=10)
    assert blog.flush(timeout=10)
    start = ManualClock(START).time_ns()
    # Each store's clock ticks 1 ms per reading from START.
    expected = [
        AppCount("blog", 1, start, start),
        AppCount("idle", 0, None, None),
        AppCount("shop", 2, start, start + 1_000_000),
    ]
    assert shop.store.apps() == expected
    assert idle.store.apps() == expected
