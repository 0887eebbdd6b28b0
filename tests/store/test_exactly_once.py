"""A batch is stored once, even when the reply to its COMMIT is lost and it is retried."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from pymetrix import ManualClock, Metrics
from pymetrix.store.postgres import PostgresStore
from pymetrix.store.sqlite import SQLiteStore

from ._lossy_proxy import LossyProxy
from .conftest import START


def tagged_durations(metrics: Metrics) -> Counter[float | None]:
    """How many times each hit, told apart by its duration, is stored."""
    series = metrics.time_series(detail=True)
    return Counter(c["duration"] for node in series["nodes"] for c in node["callers"])


def test_replies_lost_after_commit_store_no_batch_twice(postgres_url: str) -> None:
    proxy = LossyProxy(postgres_url)
    url = f"{proxy.url}?flush_interval=0.01&batch_size=200"
    recorded = 3000
    try:
        with Metrics("Test", store=url, clock=ManualClock(START, step=0.001)) as metrics:
            proxy.lose_commits = 5
            for i in range(recorded):
                metrics.hit(f"page{i % 5}", duration=(i + 1) / 1e6)
                if i % 100 == 99:
                    time.sleep(0.01)
            assert metrics.flush(60)
            assert proxy.lost == 5
            proxy.lose_commits = 0
            stored = tagged_durations(metrics)
            assert metrics.dropped == 0
    finally:
        proxy.close()
    assert sum(stored.values()) == recorded
    assert max(stored.values()) == 1
    assert set(stored) == {(i + 1) / 1e6 for i in range(recorded)}


def test_a_batch_written_again_under_its_id_is_stored_once(
    tmp_path: Path, postgres_url: str
) -> None:
    for store in (SQLiteStore(tmp_path / "p.db"), PostgresStore(postgres_url)):
        with store:
            columns = (
                [1, 2, 3],
                ["Home", "Blog", "Home"],
                [None, "Home", None],
                [None] * 3,
                [None] * 3,
            )
            store._write(42, columns)
            store._write(42, columns)
            store._write(43, columns)
            metrics = Metrics("default", store=store)
            assert metrics.aggregate() == [{"id": "Home", "hits": 4}, {"id": "Blog", "hits": 2}]
