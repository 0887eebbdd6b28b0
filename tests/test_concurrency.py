"""Exact counts and consistent snapshots under concurrent recording."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

from pymetrix import ManualClock, Metrics
from pymetrix.store import Query
from pymetrix.store.memory import MemoryStore


def test_eight_threads_times_100000_hits_are_all_counted() -> None:
    metrics = Metrics("Test")
    start = threading.Barrier(8)

    def work(k: int) -> None:
        start.wait()
        for i in range(100_000):
            metrics.hit(f"node{(i + k) % 10}", caller=f"node{k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {row["id"]: row["hits"] for row in metrics.aggregate()}
    assert sum(counts.values()) == 800_000
    assert counts == {f"node{i}": 80_000 for i in range(10)}
    assert sum(edge["hits"] for edge in metrics.flow()) == 800_000
    assert {e["caller"] for e in metrics.flow()} == {f"node{k}" for k in range(8)}
    ts = metrics.time_series()
    assert sum(len(n["callers"]) for n in ts["nodes"]) == 800_000
    for node in ts["nodes"]:
        times = [c["time"] for c in node["callers"]]
        assert times == sorted(times)


def test_time_series_during_recording_is_a_consistent_snapshot() -> None:
    metrics = Metrics("Test")

    def record() -> None:
        for i in range(50_000):
            metrics.hit(f"n{i % 5}")

    writers = [threading.Thread(target=record) for _ in range(3)]
    for w in writers:
        w.start()
    checked = 0
    while any(w.is_alive() for w in writers) or checked == 0:
        for node in metrics.time_series()["nodes"]:
            assert node["hits"] == len(node["callers"])
        checked += 1
    for w in writers:
        w.join()
    assert sum(n["hits"] for n in metrics.time_series()["nodes"]) == 150_000


def test_many_asyncio_tasks_count_exactly() -> None:
    metrics = Metrics("Test")

    @metrics.track("Handler")
    async def handler(i: int) -> None:
        await asyncio.sleep(0)
        metrics.hit(f"q{i % 3}")
        await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(handler(i) for i in range(3000)))

    asyncio.run(main())
    assert metrics.aggregate() == [
        {"id": "q0", "hits": 1000},
        {"id": "q1", "hits": 1000},
        {"id": "q2", "hits": 1000},
        {"id": "Handler", "hits": 3000},
    ]
    assert {(e["caller"], e["id"]) for e in metrics.flow()} == {
        ("Handler", "q0"),
        ("Handler", "q1"),
        ("Handler", "q2"),
        (None, "Handler"),
    }


def test_a_hit_staged_while_a_snapshot_is_taken_is_in_neither_its_counts_nor_its_entries() -> None:
    # Threads stage hits without the lock, at any moment of a read: here, one is staged
    # right after the snapshot moved the staged hits to the columns (when it reads the
    # clock for retention), as another thread's hit would be.
    class StagingClock(ManualClock):
        store: MemoryStore | None = None

        def time_ns(self) -> int:
            now = super().time_ns()
            store, self.store = self.store, None
            if store is not None:
                store.append(now, "Home", None, None, None)
            return now

    clock = StagingClock(datetime(2024, 1, 1))
    store = MemoryStore(clock=clock, retention=timedelta(days=1))
    for _ in range(3):
        store.append(clock.time_ns(), "Home", None, None, None)
    clock.store = store
    snapshot = store.snapshot(Query())
    assert [(count.node, count.hits) for count in snapshot.nodes] == [("Home", 3)]
    assert len(snapshot.hits.times) == 3
    assert [(count.node, count.hits) for count in store.counts(Query())] == [("Home", 4)]
