"""pipeline(): snapshot returns plain data; live mode streams every hit once."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any, cast

import pytest

from pymetrix import (
    InvalidArgument,
    InvalidQuery,
    LiveStream,
    ManualClock,
    MemoryStore,
    Metrics,
    StoreError,
)
from pymetrix.pipeline import LiveEvent, LiveFault
from pymetrix.store import NodeCount, Query, Store, Subscription


def _wait_until_blocked(metrics: Metrics) -> None:
    """Return once a reader in another thread waits for the hits of ``metrics``."""
    store = metrics.store
    assert isinstance(store, MemoryStore)
    deadline = time.monotonic() + 5
    while not store._waiters.callbacks and time.monotonic() < deadline:
        time.sleep(0.001)
    assert store._waiters.callbacks, "the reader never started waiting"


def test_snapshot_mode_returns_exactly_what_the_exports_return(metrics: Metrics) -> None:
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home")
    assert metrics.pipeline(data="time_series", mode="snapshot") == metrics.time_series()
    assert metrics.pipeline(data="aggregate", mode="snapshot") == metrics.aggregate()
    assert metrics.pipeline(data="flow", mode="snapshot") == metrics.flow()
    assert metrics.pipeline() == metrics.time_series()
    assert isinstance(metrics.pipeline(data="aggregate", mode="snapshot"), list)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"data": "timeseries"}, "'time_series', 'aggregate', 'flow'"),
        ({"mode": "stream"}, "'snapshot', 'live'"),
        ({"interval": 0}, "interval"),
        ({"interval": -1}, "interval"),
        ({"interval": float("nan")}, "interval"),
        ({"interval": "1"}, "interval"),
        ({"duration": 0}, "duration"),
        ({"duration": -5}, "duration"),
        ({"duration": float("inf")}, "duration"),
    ],
)
def test_wrong_arguments_are_value_errors_naming_the_valid_values(
    metrics: Metrics, kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidArgument, match=named) as caught:
        metrics.pipeline(**{"mode": "live", **kwargs})
    assert isinstance(caught.value, ValueError)


def test_live_time_series_yields_each_later_hit_once_in_order(metrics: Metrics) -> None:
    metrics.hit("Home")
    metrics.hit("Home")
    with metrics.pipeline(data="time_series", mode="live", duration=10) as stream:
        assert isinstance(stream, LiveStream)
        metrics.hit("Blog", caller="Home")
        metrics.hit("Home", caller="Blog")
        first = next(stream)
        second = next(stream)
    assert first == {
        "id": "Blog",
        "hits": 1,
        "time": first["callers"][0]["time"],
        "callers": [{"caller": "Home", "time": first["callers"][0]["time"]}],
    }
    home_first_time = metrics.time_series()["nodes"][0]["time"]
    assert second["id"] == "Home"
    assert second["hits"] == 3
    assert second["time"] == home_first_time
    assert second["callers"][0]["caller"] == "Blog"
    assert list(second) == ["id", "hits", "time", "callers"]


def test_live_time_series_from_another_thread_delivers_every_hit_once(
    metrics: Metrics,
) -> None:
    total = 5000
    stream = metrics.pipeline(data="time_series", mode="live", duration=30)

    def produce() -> None:
        for i in range(total):
            metrics.hit(f"n{i % 7}")

    producer = threading.Thread(target=produce)
    producer.start()
    received = []
    for record in stream:
        received.append(record)
        if len(received) == total:
            stream.close()
    producer.join()
    assert len(received) == total
    assert [r["id"] for r in received] == [f"n{i % 7}" for i in range(total)]
    # "hits" is the node's running total after each hit.
    assert [r["hits"] for r in received if r["id"] == "n3"] == list(range(1, 715))
    assert stream.dropped == 0


def test_live_stream_wakes_within_milliseconds_of_a_hit(metrics: Metrics) -> None:
    stream = metrics.stream("time_series", duration=10)
    got = threading.Event()
    latency: list[float] = []

    def read() -> None:
        next(stream)
        latency.append(time.perf_counter())
        got.set()

    reader = threading.Thread(target=read)
    reader.start()
    # The reader must be blocked first, so that the hit has to wake it.
    _wait_until_blocked(metrics)
    sent = time.perf_counter()
    metrics.hit("Home")
    assert got.wait(5)
    reader.join()
    stream.close()
    # Generous bound for a shared machine; typical wake-ups take well under 1 ms.
    assert latency[0] - sent < 0.5


def test_duration_ends_an_idle_stream() -> None:
    metrics = Metrics("Test")
    started = time.monotonic()
    assert list(metrics.pipeline(data="time_series", mode="live", duration=0.2)) == []
    assert 0.15 < time.monotonic() - started < 5


def test_close_from_another_thread_wakes_a_blocked_reader(metrics: Metrics) -> None:
    stream = metrics.stream("time_series")
    done = threading.Event()
    result: list[Any] = []

    def read() -> None:
        result.extend(stream)
        done.set()

    reader = threading.Thread(target=read)
    reader.start()
    _wait_until_blocked(metrics)
    stream.close()
    assert done.wait(2), "close() did not wake the reader"
    reader.join()
    assert result == []


def test_async_iteration_yields_hits_without_blocking_the_loop(metrics: Metrics) -> None:
    async def main() -> tuple[list[str], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        stream = metrics.stream("time_series", duration=10)
        ids: list[str] = []

        async def produce() -> None:
            for node in ("A", "B", "C"):
                await asyncio.sleep(0.05)
                metrics.hit(node)

        producing = asyncio.create_task(produce())
        async with stream:
            async for record in stream:
                ids.append(record["id"])
                if len(ids) == 3:
                    break
        await producing
        ticking.cancel()
        return ids, ticks

    ids, ticks = asyncio.run(main())
    assert ids == ["A", "B", "C"]
    # The loop kept running while the stream waited: the ticker ran many times.
    assert ticks > 20


def test_hits_from_a_thread_wake_an_async_reader(metrics: Metrics) -> None:
    async def main() -> list[str]:
        stream = metrics.stream("time_series", duration=10)
        timer = threading.Timer(0.05, lambda: metrics.hit("FromThread"))
        timer.start()
        try:
            record = await stream.__anext__()
        finally:
            stream.close()
            timer.join()
        return [record["id"]]

    assert asyncio.run(main()) == ["FromThread"]


def test_live_aggregate_yields_at_once_then_only_on_change(metrics: Metrics) -> None:
    metrics.hit("Home")
    stream = metrics.pipeline(data="aggregate", mode="live", interval=0.02, duration=10)
    assert next(stream) == [{"id": "Home", "hits": 1}]
    metrics.hit("Home")
    metrics.hit("Blog")
    assert next(stream) == [{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 1}]
    # Nothing changes: the stream yields nothing more until its duration runs out.
    stream2 = metrics.stream("aggregate", interval=0.02, duration=0.2)
    assert list(stream2) == [[{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 1}]]
    stream.close()
    assert list(stream) == []


def test_live_aggregate_as_async_iterator(metrics: Metrics) -> None:
    async def main() -> list[list[dict[str, Any]]]:
        seen: list[list[dict[str, Any]]] = []
        async with metrics.stream("aggregate", interval=0.01, duration=5) as stream:
            async for aggregate in stream:
                seen.append([dict(row) for row in aggregate])
                if len(seen) == 1:
                    metrics.hit("Home")
                else:
                    break
        return seen

    assert asyncio.run(main()) == [[], [{"id": "Home", "hits": 1}]]


def test_live_flow_yields_edges(metrics: Metrics) -> None:
    metrics.hit("Blog", caller="Home")
    with metrics.stream("flow", interval=0.01, duration=5) as stream:
        assert next(stream) == [{"caller": "Home", "id": "Blog", "hits": 1}]


def test_a_slow_reader_counts_hits_that_retention_dropped() -> None:
    clock = ManualClock(step=0.001)
    metrics = Metrics("Test", clock=clock, max_events=80)
    stream = metrics.stream("time_series", duration=10)
    for _ in range(200):
        metrics.hit("Home")
    records: list[Any] = []
    while len(records) + stream.dropped < 200:
        records.append(next(stream))
    stream.close()
    assert stream.dropped > 0
    assert len(records) + stream.dropped == 200
    # Running totals stay exact after the gap.
    assert [r["hits"] for r in records] == list(range(stream.dropped + 1, 201))
    assert metrics.aggregate() == [{"id": "Home", "hits": 200}]


def test_recording_never_waits_for_a_reader() -> None:
    metrics = Metrics("Test", max_events=1000)
    stream = metrics.stream("time_series")
    for _ in range(20_000):
        metrics.hit("Home")
    assert metrics.aggregate() == [{"id": "Home", "hits": 20_000}]
    stream.close()


def test_retention_by_age_drops_old_hits_and_keeps_counts() -> None:
    clock = ManualClock(step=0)
    metrics = Metrics("Test", clock=clock, retention=timedelta(minutes=10))
    metrics.hit("Home")
    clock.advance(600)
    metrics.hit("Home")
    clock.advance(1)
    ts = metrics.time_series()
    assert ts["nodes"][0]["hits"] == 2
    assert len(ts["nodes"][0]["callers"]) == 1
    assert metrics.aggregate() == [{"id": "Home", "hits": 2}]


# -- the core every live output frames -------------------------------------------------


def test_read_gives_events_whose_ids_resume_a_new_stream_right_after_them(
    metrics: Metrics,
) -> None:
    with metrics.stream("time_series", duration=10) as stream:
        metrics.hit("Home")
        metrics.hit("Blog", caller="Home")
        events = stream.read(5)
    assert [type(e) for e in events] == [LiveEvent, LiveEvent]
    first, second = events
    assert isinstance(first, LiveEvent)
    assert first.data["id"] == "Home"
    assert first.id is not None
    metrics.hit("Post", caller="Blog")
    with metrics.stream("time_series", after=first.id, duration=10) as resumed:
        got = [next(resumed) for _ in range(2)]
    assert [(r["id"], r["hits"]) for r in got] == [("Blog", 1), ("Post", 1)]
    assert got[0] == getattr(second, "data", None)


def test_read_returns_nothing_when_its_timeout_runs_out(metrics: Metrics) -> None:
    with metrics.stream("time_series") as stream:
        started = time.monotonic()
        assert stream.read(0.1) == []
        assert 0.05 < time.monotonic() - started < 2
        assert not stream.closed


def test_ids_and_detail_select_nodes_and_add_duration_and_status(metrics: Metrics) -> None:
    with metrics.stream("time_series", ids=["Blog"], detail=True, duration=10) as stream:
        metrics.hit("Home", duration=0.1, status=200)
        metrics.hit("Blog", caller="Home", duration=0.25, status=503)
        record = next(stream)
    assert record["id"] == "Blog"
    assert record["callers"][0] | {"time": None} == {
        "caller": "Home",
        "time": None,
        "duration": 0.25,
        "status": 503,
    }


def test_live_aggregate_with_stats_and_ids(metrics: Metrics) -> None:
    metrics.hit("Home", duration=0.5, status=500)
    metrics.hit("Blog")
    with metrics.stream("aggregate", ids=["Home"], stats=True, duration=10) as stream:
        aggregate = next(stream)
    assert aggregate == metrics.aggregate(ids=["Home"], stats=True)
    assert [(row["id"], row["hits"], row["errors"]) for row in aggregate] == [("Home", 1, 1)]


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "named"),
    [
        ("aggregate", {"detail": True}, InvalidArgument, "invalid detail True"),
        ("flow", {"stats": True}, InvalidArgument, "invalid stats True"),
        ("aggregate", {"after": "1"}, InvalidArgument, "invalid after '1'"),
        ("time_series", {"after": "yesterday"}, InvalidQuery, "invalid after 'yesterday'"),
        ("time_series", {"ids": [1]}, InvalidQuery, "invalid ids 1"),
        ("time_series", {"interval": 0}, InvalidArgument, "invalid interval 0"),
        ("visitors", {}, InvalidArgument, "invalid data 'visitors'"),
    ],
)
def test_options_a_stream_cannot_take_are_errors_naming_them(
    metrics: Metrics, data: str, kwargs: dict[str, Any], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        metrics.stream(data, **kwargs)


class FlakyStore(MemoryStore):
    """A memory store whose counts fail while ``failing`` is set, and may be slow."""

    def __init__(self, *, delay: float = 0.0, blocking_reads: bool = False) -> None:
        super().__init__()
        self.failing = False
        self.delay = delay
        self.blocking_reads = blocking_reads
        self.calls = 0

    def counts(self, query: Query) -> list[NodeCount]:
        self.calls += 1
        time.sleep(self.delay)
        if self.failing:
            raise StoreError("database is locked", "sqlite:///flaky.db")
        return super().counts(query)


def test_read_reports_a_failing_store_once_and_recovers_without_spinning() -> None:
    store = FlakyStore()
    metrics = Metrics("Test", store=store)
    metrics.hit("Home")
    with metrics.stream("aggregate", interval=0.05, duration=10) as stream:
        assert stream.read(5) == [LiveEvent([{"id": "Home", "hits": 1}])]
        store.failing = True
        metrics.hit("Home")
        assert stream.read(5) == [LiveFault("database is locked (sqlite:///flaky.db)")]
        calls = store.calls
        # Still failing: nothing more to tell, and a read is tried once per interval.
        assert stream.read(0.5) == []
        assert store.calls - calls <= 12
        store.failing = False
        assert stream.read(5) == [LiveEvent([{"id": "Home", "hits": 2}])]


def test_iterating_raises_a_failure_of_the_store() -> None:
    store = FlakyStore()
    store.failing = True
    with (
        Metrics("Test", store=store) as metrics,
        metrics.stream("aggregate", duration=10) as stream,
        pytest.raises(StoreError, match="database is locked"),
    ):
        next(stream)


def test_async_reads_of_a_store_whose_reads_block_leave_the_loop_running() -> None:
    store = FlakyStore(delay=0.3, blocking_reads=True)
    metrics = Metrics("Test", store=store)
    metrics.hit("Home")

    async def main() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        async with metrics.stream("aggregate", duration=10) as stream:
            aggregate = await stream.__anext__()
        ticking.cancel()
        return aggregate, ticks

    aggregate, ticks = asyncio.run(main())
    assert aggregate == [{"id": "Home", "hits": 1}]
    # The loop kept running for the 0.3 s the store took to answer.
    assert ticks > 10
    metrics.close()


def test_close_from_another_thread_wakes_an_async_reader_between_computations(
    metrics: Metrics,
) -> None:
    async def main() -> float:
        stream = metrics.stream("aggregate", interval=60)
        assert await stream.__anext__() == []
        timer = threading.Timer(0.1, stream.close)
        timer.start()
        started = time.monotonic()
        async for _ in stream:
            raise AssertionError("nothing changed")
        timer.join()
        return time.monotonic() - started

    assert asyncio.run(main()) < 5


class Positionless:
    """A memory store whose subscriptions do not resume (``subscribe`` takes no ``after``)."""

    resumable = False
    blocking_reads = False

    def __init__(self, clock: ManualClock) -> None:
        self._inner = MemoryStore(clock=clock)

    def subscribe(self, after: int | None = None) -> Subscription:
        if after is not None:
            raise InvalidArgument("after", after, "None: this store does not resume")
        return self._inner.subscribe()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_store_that_does_not_resume_gives_ids_when_asked_and_resumes_by_position() -> None:
    clock = ManualClock(step=0)  # stands still: every hit has the same time
    store = cast(Store, Positionless(clock))
    with Metrics("Test", store=store, clock=clock) as metrics:
        metrics.hit("Old")
        with metrics.stream("time_series", duration=10) as plain:
            metrics.hit("Home")
            assert [getattr(e, "id", "") for e in plain.read(5)] == [None]
        with metrics.stream("time_series", resumable=True, duration=10) as stream:
            metrics.hit("Blog")
            metrics.hit("Post")
            events = [e for e in stream.read(5) if isinstance(e, LiveEvent)]
        assert [(e.data["id"], e.id) for e in events] == [
            ("Blog", f"{clock.time_ns()}-2"),
            ("Post", f"{clock.time_ns()}-3"),
        ]
        metrics.hit("Home")
        with metrics.stream("time_series", after=events[0].id, duration=10) as resumed:
            got = [next(resumed) for _ in range(2)]
        assert [(r["id"], r["hits"]) for r in got] == [("Post", 1), ("Home", 2)]
