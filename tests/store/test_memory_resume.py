"""MemoryStore subscriptions resumed from a hit's ``seq``."""

from __future__ import annotations

from datetime import timedelta

from pymetrix import ManualClock
from pymetrix.store import MemoryStore, Query


def _record(store: MemoryStore, *nodes: str) -> None:
    for node in nodes:
        store.append(1_000, node, None, None, None)


def test_live_hits_carry_increasing_seq() -> None:
    store = MemoryStore()
    _record(store, "a")
    subscription = store.subscribe()
    _record(store, "b", "a")
    hits = subscription.read(10)
    assert [(h.node, h.seq) for h in hits] == [("b", 2), ("a", 3)]


def test_subscribe_after_seq_resumes_right_after_that_hit_with_exact_totals() -> None:
    store = MemoryStore()
    _record(store, "a", "b", "a", "a", "b")
    hits = store.subscribe(after=2).read(10)
    assert [(h.node, h.seq, h.node_hits) for h in hits] == [("a", 3, 2), ("a", 4, 3), ("b", 5, 2)]


def test_subscribe_after_zero_reads_every_hit_held() -> None:
    store = MemoryStore()
    _record(store, "a", "b")
    assert [h.seq for h in store.subscribe(after=0).read(10)] == [1, 2]


def test_subscribe_after_the_last_hit_or_beyond_starts_at_the_end() -> None:
    store = MemoryStore()
    _record(store, "a", "b")
    for after in (2, 99):
        subscription = store.subscribe(after=after)
        assert subscription.read(10) == []
        _record(store, "c")
        assert [h.node for h in subscription.read(10)] == ["c"]


def test_subscribe_after_hits_retention_removed_counts_them_dropped() -> None:
    clock = ManualClock(0)
    store = MemoryStore(retention=timedelta(seconds=10), clock=clock)
    for t in range(5):
        store.append(t * 1_000_000_000, "a", None, None, None)
    clock.set(12 * 1_000_000_000)
    store.snapshot(Query(since_ns=0))  # retention is applied on reads
    assert len(store) == 3
    subscription = store.subscribe(after=1)
    hits = subscription.read(10)
    assert [h.seq for h in hits] == [3, 4, 5]
    assert [h.node_hits for h in hits] == [3, 4, 5]
    assert subscription.dropped == 1
