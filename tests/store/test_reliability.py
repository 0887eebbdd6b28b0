"""Nothing lost, nothing twice, nothing jammed: the writer's promises on every store."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pymetrix import InvalidNodeId, ManualClock, Metrics, PymetrixError, StoreClosed
from pymetrix.store import MemoryStore, Query

from .conftest import MakeMetrics

# What json.loads makes of a client's '"\ud800"': a str no encoder downstream can take.
LONE_SURROGATE = json.loads('"\\ud800"')


@pytest.mark.parametrize(
    "bad", [LONE_SURROGATE, f"/page/{LONE_SURROGATE}", "\udfff", "a\udc80b"], ids=repr
)
def test_an_id_that_is_not_valid_unicode_is_refused_and_nothing_recorded(
    metrics: Metrics, bad: str
) -> None:
    with pytest.raises(InvalidNodeId, match="lone surrogate"):
        metrics.hit(bad)
    with pytest.raises(InvalidNodeId, match="lone surrogate"):
        metrics.hit("Home", caller=bad)
    with pytest.raises(InvalidNodeId, match="lone surrogate"), metrics.as_caller(bad):
        pass
    metrics.hit("Home")
    assert metrics.flush(10)
    assert metrics.aggregate() == [{"id": "Home", "hits": 1}]
    assert metrics.dropped == 0
    json.dumps(metrics.export("time_series")).encode()


def test_reads_stay_valid_json_after_an_invalid_id_is_refused(metrics: Metrics) -> None:
    with pytest.raises(InvalidNodeId):
        metrics.hit(LONE_SURROGATE)
    metrics.hit("Home")
    for data in ("time_series", "aggregate", "flow"):
        json.dumps(metrics.export(data), ensure_ascii=False).encode("utf-8")


def test_a_hit_after_close_raises_store_closed_and_nothing_is_recorded(
    make_metrics: MakeMetrics, store_url: str
) -> None:
    metrics = make_metrics(store=store_url)
    metrics.hit("Home")
    metrics.close()
    with pytest.raises(StoreClosed, match="after close"):
        metrics.hit("Home")
    with pytest.raises(StoreClosed):
        metrics.hit("New")
    # The store itself refuses too, whoever holds it.
    with pytest.raises(StoreClosed):
        metrics.store.append(1, "Home", None, None, None)
    with pytest.raises(StoreClosed):
        metrics.store.append(2, "Other", None, None, None)
    assert metrics.dropped == 0
    if store_url.startswith("memory"):
        assert metrics.aggregate() == [{"id": "Home", "hits": 1}]
    else:
        with Metrics("Test", store=store_url) as reopened:
            assert reopened.aggregate() == [{"id": "Home", "hits": 1}]


def test_a_tracked_call_after_close_runs_and_is_reported_once(
    make_metrics: MakeMetrics, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = make_metrics(store=store_url)

    @metrics.track
    def view() -> str:
        return "ok"

    assert view() == "ok"
    metrics.close()
    with caplog.at_level(logging.WARNING, logger="pymetrix"):
        assert view() == "ok"
        assert view() == "ok"
    warnings = [r for r in caplog.records if "after close()" in r.getMessage()]
    assert len(warnings) == 1


def test_a_store_given_to_metrics_refuses_hits_through_that_metrics_after_close() -> None:
    store = MemoryStore()
    metrics = Metrics("Test", store=store)
    metrics.hit("Home")
    metrics.close()
    with pytest.raises(StoreClosed):
        metrics.hit("Home")
    # The store is its owner's to close: it still takes hits from elsewhere.
    store.append(1, "Home", None, None, None)
    assert [c.hits for c in store.counts(Query())] == [2]


# -- a batch the database refuses does not jam the writer ------------------------------


def test_hits_the_database_refuses_are_set_aside_and_writing_goes_on(
    make_metrics: MakeMetrics, persistent_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = make_metrics(store=persistent_url + "&batch_size=500")
    store = metrics.store
    # Past the boundary's checks, as a store of a caller that skips them would see it.
    with caplog.at_level(logging.ERROR, logger="pymetrix"):
        for i in range(1000):
            store.append(10_000 + i, "Home", None, None, None)
        store.append(20_000, LONE_SURROGATE, None, None, None)
        for i in range(999):
            store.append(30_000 + i, "Blog", "Home", None, None)
        assert metrics.flush(30)
    assert metrics.aggregate() == [{"id": "Home", "hits": 1000}, {"id": "Blog", "hits": 999}]
    assert metrics.dropped == 1
    backlog = metrics.backlog()
    assert (backlog.queued, backlog.dropped, backlog.quarantined) == (0, 1, 1)
    [refused] = metrics.quarantine
    assert refused.count == 1
    assert refused.hits == ((20_000, LONE_SURROGATE, None, None, None),)
    assert "UnicodeEncodeError" in refused.error
    assert any("1 hits set aside" in r.getMessage() for r in caplog.records)
    # Writing goes on, and flush and close return.
    metrics.hit("About")
    assert metrics.flush(10)
    assert [row["id"] for row in metrics.aggregate()] == ["Home", "Blog", "About"]


def test_a_batch_refused_whole_goes_to_quarantine_in_a_few_pieces(
    make_metrics: MakeMetrics, persistent_url: str
) -> None:
    metrics = make_metrics(store=persistent_url + "&batch_size=4096")
    store = metrics.store
    for i in range(4096):
        store.append(10_000 + i, f"{LONE_SURROGATE}{i % 7}", None, None, None)
    assert metrics.flush(60)
    assert metrics.dropped == 4096
    pieces = metrics.quarantine
    assert sum(piece.count for piece in pieces) == 4096
    assert len(pieces) <= 32
    metrics.hit("Home")
    assert metrics.flush(10)
    assert metrics.aggregate() == [{"id": "Home", "hits": 1}]


# -- store URL options -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("memory://x?max_events=-1", "max_events='-1': expected an int >= 1"),
        ("memory://?max_events=-1", "max_events='-1': expected an int >= 1"),
        ("memory://?max_events=lots", "max_events='lots'"),
        ("memory://?retention=5", "unknown store URL option 'retention'"),
        ("memory://x", "memory:// with no host or path"),
        ("sqlite:///{tmp}/p.db?overflow=wait", "overflow='wait': expected 'drop' or 'block'"),
        ("memory:///path", "memory:// with no host or path"),
    ],
)
def test_store_url_options_that_are_unknown_or_invalid_are_errors(
    url: str, match: str, tmp_path: Path
) -> None:
    with pytest.raises(PymetrixError, match=match):
        Metrics("Test", store=url.format(tmp=tmp_path))


def test_memory_url_max_events_bounds_the_hits_kept() -> None:
    with Metrics("Test", store="memory://?max_events=8") as metrics:
        for _ in range(100):
            metrics.hit("Home")
        assert metrics.aggregate() == [{"id": "Home", "hits": 100}]
        assert len(metrics.time_series()["nodes"][0]["callers"]) <= 8


# -- a caller recording faster than the writer stores ----------------------------------


def record_fast(metrics: Metrics, threads: int, each: int) -> int:
    """Record ``threads * each`` hits as fast as threads can; the most queued seen."""
    most = [0]

    def run(n: int) -> None:
        for i in range(each):
            metrics.hit(f"page{n}", duration=(n * each + i + 1) / 1e6)
            if i % 500 == 0:
                most[0] = max(most[0], metrics.backlog().queued)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return most[0]


def test_overflow_block_makes_recording_wait_and_loses_nothing(
    make_metrics: MakeMetrics, persistent_url: str
) -> None:
    metrics = make_metrics(store=f"{persistent_url}&max_buffer=2000&batch_size=500&overflow=block")
    most = record_fast(metrics, threads=3, each=10_000)
    assert metrics.flush(60)
    assert metrics.dropped == 0
    assert sum(row["hits"] for row in metrics.aggregate()) == 30_000
    # The bound holds, give or take the hits of threads appending at the same moment.
    assert most <= 2000 + 3


def test_overflow_drop_counts_what_the_bound_turns_away(
    make_metrics: MakeMetrics, persistent_url: str
) -> None:
    metrics = make_metrics(store=f"{persistent_url}&max_buffer=200&batch_size=100")
    # Two threads record far faster than 100-hit transactions store.
    record_fast(metrics, threads=2, each=20_000)
    assert metrics.flush(60)
    stored = sum(row["hits"] for row in metrics.aggregate())
    assert metrics.dropped > 0
    assert stored + metrics.dropped == 40_000


# -- rollup tiers age by the newest hit of any process ---------------------------------


def test_a_process_that_wrote_nothing_reads_windows_as_the_writer_does(
    persistent_url: str,
) -> None:
    # One hit a minute for 30 days: minute rows older than 14 days are expired by the
    # writer; a reader opened afterwards must not count on them.
    start = datetime(2024, 1, 1)
    clock = ManualClock(start)
    writer = Metrics("Test", store=persistent_url, clock=clock)
    for minute in range(30 * 1440):
        clock.set(start + timedelta(minutes=minute))
        writer.hit("Home")
    assert writer.flush(60)
    writer.store._maintain()  # type: ignore[attr-defined]  # the expiry, now
    since = start + timedelta(days=2, minutes=30, seconds=30)
    until = since + timedelta(days=7)
    expected = [{"id": "Home", "hits": 7 * 1440}]
    assert writer.aggregate(since=since, until=until) == expected
    writer.close()
    with Metrics("Test", store=persistent_url, clock=ManualClock(start)) as reader:
        assert reader.aggregate(since=since, until=until) == expected
