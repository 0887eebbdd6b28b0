"""The memory store's packed columns: long durations, many edges, and their memory."""

from __future__ import annotations

import tracemalloc

from pymetrix.store import MemoryStore, Query

_SECOND = 1_000_000_000


def test_durations_beyond_four_seconds_read_back_exactly_beside_short_ones() -> None:
    store = MemoryStore(max_events=3)
    durations = [0.25, 5.5, 4.194304, 3600.123456, 0.000001]
    for i, duration in enumerate(durations):
        store.append(i * _SECOND, "/a", None, duration, 200 + i)
    store.append(10 * _SECOND, "/a", None, None, None)
    store.append(11 * _SECOND, "/a", None, 7200.0, 503)
    hits = store.snapshot(Query()).hits
    # max_events=3 trimmed the oldest: what is left keeps its exact values.
    kept = list(zip(hits.times, hits.durations, hits.statuses))
    assert [(t, s) for t, _, s in kept][-2:] == [(10 * _SECOND, 0), (11 * _SECOND, 503)]
    assert kept[-1][1] == 7200.0
    everything = MemoryStore()
    for i, duration in enumerate(durations):
        everything.append(i * _SECOND, "/a", "/b", duration, 200 + i)
    hits = everything.snapshot(Query()).hits
    assert list(hits.durations) == durations
    assert list(hits.statuses) == [200, 201, 202, 203, 204]
    live = everything.subscribe(after=0).read(10)
    assert [hit.duration for hit in live] == durations


def test_wide_durations_are_forgotten_with_the_hits_trimmed() -> None:
    store = MemoryStore(max_events=8)
    for i in range(40):
        store.append(i, "/a", None, 10.0 + i, 200)
    hits = store.snapshot(Query()).hits
    assert list(hits.durations) == [10.0 + t for t in hits.times]
    assert len(store._wide) == len(hits)


def test_more_than_65535_edges_keep_every_caller() -> None:
    store = MemoryStore()
    callers = 70_000
    for i in range(callers):
        store.append(i, "/a", f"/c{i}", None, None)
    hits = store.snapshot(Query()).hits
    assert len(hits) == callers
    assert [hits.names[c] for c in hits.callers[-3:]] == ["/c69997", "/c69998", "/c69999"]
    edges = store.edges(Query())
    assert len(edges) == callers
    assert {edge.caller for edge in edges if edge.hits == 1} == {f"/c{i}" for i in range(callers)}


def test_a_retained_hit_takes_at_most_sixteen_bytes() -> None:
    store = MemoryStore()
    store.append(0, "/warm", "/up", 0.1, 200)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    hits = 200_000
    for i in range(hits):
        store.append(i, f"/n{i % 50}", f"/n{(i + 1) % 50}", 0.001 * (i % 1000), 200)
    store.counts(Query())  # staged hits moved to the columns
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / hits <= 16
