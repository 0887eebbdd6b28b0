"""Tools for testing what works with Pymetrix: the store contract, for a store of your own.

A store passes the contract that memory, SQLite and PostgreSQL pass by subclassing
:class:`StoreContract` in a test module and saying how to open it (needs pytest)::

    from pymetrix.testing import StoreContract

    class TestMyStore(StoreContract):
        def open_store(self, *, app, clock, retention, place):
            return MyStore(place / "data", app=app, clock=clock, retention=retention)

pytest then runs every test of the contract against it: exact counts, time series and
flows, filters, time windows, apps that share a database, retention, live subscriptions
(resumed after a ``seq`` when the store is ``resumable``), overflow ids and threads
recording at once.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from .clock import Clock, ManualClock
from .metrics import Metrics
from .store import AppCount, Query, Store, Subscription
from .store.base import LiveHit

__all__ = [
    "MakeMetrics",
    "StoreContract",
    "read_live",
    "record_in_batches",
    "record_visit",
    "resumable",
    "shown",
    "wait_until",
]

T = TypeVar("T")

START = datetime(2022, 1, 9, 18, 26, 51)
T0 = "2022-01-09 18:26:51.000000"


class MakeMetrics(Protocol):
    """Opens a ``Metrics`` on a new store of the store under test."""

    def __call__(
        self,
        app: str = ...,
        *,
        clock: Clock | None = ...,
        retention: timedelta | None = ...,
        max_nodes: int = ...,
    ) -> Metrics: ...


T0 = "2022-01-09 18:26:51.000000"


def record_visit(metrics: Metrics) -> None:
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home")
    metrics.hit("Home")
    metrics.hit("About", caller="Blog", duration=0.25, status=200)
    metrics.hit("Blog", caller="Home", duration=0.5, status=503)


# -- resuming a subscription from a hit's seq ---------------------------------------


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll ``condition()`` until it returns something truthy, and return that; fail with
    ``AssertionError`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(interval)


def read_live(subscription: Subscription, count: int, timeout: float = 10.0) -> list[LiveHit]:
    """``count`` hits from ``subscription``, waiting for them up to ``timeout`` seconds."""
    got: list[LiveHit] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        got.extend(subscription.read(count - len(got)))
        left = deadline - time.monotonic()
        if len(got) < count:
            assert left > 0, f"{len(got)} of {count} hits arrived: {got}"
            subscription.wait(min(left, 0.5))
    return got


def resumable(metrics: Metrics) -> Store:
    """The store of ``metrics``; the test is skipped for a store that does not resume."""
    store = metrics.store
    if not store.resumable:
        pytest.skip(f"{type(store).__name__} does not resume subscriptions")
    return store


def shown(hits: list[LiveHit]) -> list[tuple[str, str | None, int, int | None]]:
    return [(hit.node, hit.caller, hit.node_hits, hit.seq) for hit in hits]


def record_in_batches(metrics: Metrics) -> list[LiveHit]:
    """Six hits written as two batches of three; what a subscriber saw of them."""
    subscription = resumable(metrics).subscribe()
    try:
        metrics.hit("Home")
        metrics.hit("Blog", caller="Home")
        metrics.hit("Home")
        assert metrics.flush(timeout=10)
        metrics.hit("About", caller="Blog")
        metrics.hit("Home", caller="About")
        metrics.hit("Blog")
        assert metrics.flush(timeout=10)
        return read_live(subscription, 6)
    finally:
        subscription.close()


class StoreContract:
    """The behaviour every store shares, as tests: subclass it and define :meth:`open_store`.

    Each test gets a fresh ``place`` (a temporary directory) where the stores it opens
    may keep their data; stores opened within one test with the same ``place`` and
    another ``app`` share it, as apps share one database.
    """

    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        """A new store for ``app`` in ``place``: its hits timed by ``clock``, per-hit
        data kept for ``retention`` (None: for ever)."""
        raise NotImplementedError

    @pytest.fixture
    def make_metrics(self, tmp_path: Path) -> Iterator[MakeMetrics]:
        """Opens ``Metrics`` over new stores; closes them after the test."""
        opened: list[tuple[Metrics, Store]] = []

        def make(
            app: str = "Test",
            *,
            clock: Clock | None = None,
            retention: timedelta | None = None,
            max_nodes: int = 10_000,
        ) -> Metrics:
            clock = clock or ManualClock(START, step=0.001)
            store = self.open_store(app=app, clock=clock, retention=retention, place=tmp_path)
            metrics = Metrics(app, store=store, clock=clock, max_nodes=max_nodes)
            opened.append((metrics, store))
            return metrics

        yield make
        for metrics, store in opened:
            metrics.close()
            store.close()

    @pytest.fixture
    def metrics(self, make_metrics: MakeMetrics) -> Metrics:
        """``Metrics`` of app ``"Test"`` on a new store, its clock ticking 1 ms a reading."""
        return make_metrics()

    def test_store_implements_the_store_protocol(self, metrics: Metrics) -> None:
        assert isinstance(metrics.store, Store)
        subscription = metrics.store.subscribe()
        assert isinstance(subscription, Subscription)
        subscription.close()

    def test_aggregate_counts_hits_per_node_in_first_hit_order(self, metrics: Metrics) -> None:
        record_visit(metrics)
        assert metrics.aggregate() == [
            {"id": "Home", "hits": 2},
            {"id": "Blog", "hits": 2},
            {"id": "About", "hits": 1},
        ]

    def test_time_series_lists_every_hit_with_caller_and_time(self, metrics: Metrics) -> None:
        record_visit(metrics)
        assert metrics.time_series() == {
            "id": "Test",
            "nodes": [
                {
                    "id": "Home",
                    "hits": 2,
                    "time": T0,
                    "callers": [
                        {"caller": None, "time": "2022-01-09 18:26:51.000000"},
                        {"caller": None, "time": "2022-01-09 18:26:51.002000"},
                    ],
                },
                {
                    "id": "Blog",
                    "hits": 2,
                    "time": "2022-01-09 18:26:51.001000",
                    "callers": [
                        {"caller": "Home", "time": "2022-01-09 18:26:51.001000"},
                        {"caller": "Home", "time": "2022-01-09 18:26:51.004000"},
                    ],
                },
                {
                    "id": "About",
                    "hits": 1,
                    "time": "2022-01-09 18:26:51.003000",
                    "callers": [{"caller": "Blog", "time": "2022-01-09 18:26:51.003000"}],
                },
            ],
        }

    def test_time_series_detail_keeps_duration_and_status(self, metrics: Metrics) -> None:
        record_visit(metrics)
        nodes = metrics.time_series(detail=True)["nodes"]
        blog = [entry for node in nodes if node["id"] == "Blog" for entry in node["callers"]]
        assert [(e["duration"], e["status"]) for e in blog] == [(None, None), (0.5, 503)]

    def test_aggregate_stats_reports_percentiles_and_errors(self, metrics: Metrics) -> None:
        record_visit(metrics)
        stats = {row["id"]: row for row in metrics.aggregate(stats=True)}
        # Percentiles come from sketches: within 1 % of the exact nearest-rank values.
        assert stats["Blog"]["p50"] == pytest.approx(0.5, rel=0.01)
        assert stats["Blog"]["errors"] == 1
        assert stats["About"]["p99"] == pytest.approx(0.25, rel=0.01)
        assert stats["Home"]["p50"] is None

    def test_flow_counts_caller_to_node_edges_in_order_of_appearance(
        self, metrics: Metrics
    ) -> None:
        record_visit(metrics)
        assert metrics.flow() == [
            {"caller": None, "id": "Home", "hits": 2},
            {"caller": "Home", "id": "Blog", "hits": 2},
            {"caller": "Blog", "id": "About", "hits": 1},
        ]

    def test_ids_filter_every_export(self, metrics: Metrics) -> None:
        record_visit(metrics)
        assert metrics.aggregate(ids=["Blog"]) == [{"id": "Blog", "hits": 2}]
        assert [n["id"] for n in metrics.time_series(ids=["About", "Home"])["nodes"]] == [
            "Home",
            "About",
        ]
        assert metrics.flow(ids="About") == [{"caller": "Blog", "id": "About", "hits": 1}]
        assert metrics.aggregate(ids=["Nowhere"]) == []
        assert metrics.time_series(ids=["Nowhere"])["nodes"] == []

    def test_since_and_until_select_hits_in_the_window(self, metrics: Metrics) -> None:
        record_visit(metrics)
        since, until = "2022-01-09 18:26:51.001", "2022-01-09 18:26:51.004"
        assert metrics.aggregate(since=since, until=until) == [
            {"id": "Blog", "hits": 1},
            {"id": "Home", "hits": 1},
            {"id": "About", "hits": 1},
        ]
        assert metrics.flow(since=since, until=until) == [
            {"caller": "Home", "id": "Blog", "hits": 1},
            {"caller": None, "id": "Home", "hits": 1},
            {"caller": "Blog", "id": "About", "hits": 1},
        ]
        series = metrics.time_series(since=since, until=until, ids=["Home"])
        assert series["nodes"] == [
            {
                "id": "Home",
                "hits": 1,
                "time": "2022-01-09 18:26:51.002000",
                "callers": [{"caller": None, "time": "2022-01-09 18:26:51.002000"}],
            }
        ]
        assert metrics.aggregate(since="2030-01-01") == []

    @pytest.mark.parametrize(
        ("since", "until"),
        [
            ("0001-01-01", "9999-12-31"),
            (datetime.min, datetime.max),
            ("1677-09-21", "2262-04-12"),
        ],
    )
    def test_times_beyond_nanosecond_range_are_the_start_and_end_of_time(
        self, metrics: Metrics, since: datetime | str, until: datetime | str
    ) -> None:
        # Hit times are int64 nanoseconds (1677-09-21 to 2262-04-11): every store answers a
        # window reaching past them as one reaching to the ends of that range.
        record_visit(metrics)
        assert metrics.aggregate(since=since, until=until) == metrics.aggregate()
        assert metrics.flow(since=since, until=until) == metrics.flow()
        assert metrics.time_series(since=since, until=until) == metrics.time_series()
        assert metrics.aggregate(since=until) == []
        assert metrics.flow(until=since) == []
        assert metrics.time_series(since=until)["nodes"] == []

    def test_ids_that_look_like_sql_are_stored_verbatim(self, metrics: Metrics) -> None:
        evil = "'; DROP TABLE pymetrix_hits; --"
        metrics.hit(evil, caller='" OR 1=1 --')
        metrics.hit("Home")
        assert metrics.aggregate() == [{"id": evil, "hits": 1}, {"id": "Home", "hits": 1}]
        assert metrics.flow()[0] == {"caller": '" OR 1=1 --', "id": evil, "hits": 1}

    def test_unicode_ids_round_trip(self, metrics: Metrics) -> None:
        metrics.hit("/café/📈", caller="Начало")
        assert metrics.flow() == [{"caller": "Начало", "id": "/café/📈", "hits": 1}]

    def test_equal_times_keep_recording_order(self, make_metrics: MakeMetrics) -> None:
        metrics = make_metrics(clock=ManualClock(START))
        metrics.hit("X", caller="Q")
        metrics.hit("P")
        metrics.hit("Q")
        assert [row["id"] for row in metrics.aggregate()] == ["X", "P", "Q"]
        assert [(row["caller"], row["id"]) for row in metrics.flow()] == [
            ("Q", "X"),
            (None, "P"),
            (None, "Q"),
        ]

    def test_hits_recorded_out_of_clock_order_are_stored_in_time_order(
        self, make_metrics: MakeMetrics
    ) -> None:
        # Threads read the clock before they record, so a later reading can be recorded
        # first; the stored order must still be time order, with every hit counted.
        clock = ManualClock(START)
        metrics = make_metrics(clock=clock)
        for seconds in (3, 1, 2, 5, 4):
            clock.set(START + timedelta(seconds=seconds))
            metrics.hit("Home", caller=f"c{seconds}")
        metrics.flush()
        callers = metrics.time_series()["nodes"][0]["callers"]
        assert len(callers) == 5
        times = [c["time"] for c in callers]
        assert times == sorted(times)
        assert sorted(c["caller"] or "" for c in callers) == ["c1", "c2", "c3", "c4", "c5"]
        assert metrics.aggregate() == [{"id": "Home", "hits": 5}]

    def test_apps_sharing_a_store_do_not_mix(self, make_metrics: MakeMetrics) -> None:
        shop = make_metrics("shop")
        blog = make_metrics("blog")
        shop.hit("Cart")
        shop.hit("Cart")
        blog.hit("Post")
        assert shop.aggregate() == [{"id": "Cart", "hits": 2}]
        assert blog.aggregate() == [{"id": "Post", "hits": 1}]
        assert blog.time_series()["id"] == "blog"
        assert blog.flow() == [{"caller": None, "id": "Post", "hits": 1}]

    def test_apps_lists_the_app_with_its_hits_and_first_and_last_hit_times(
        self, make_metrics: MakeMetrics
    ) -> None:
        metrics = make_metrics("shop")
        assert _app(metrics) == AppCount("shop", 0, None, None)
        record_visit(metrics)
        assert metrics.flush(timeout=10)
        start = ManualClock(START).time_ns()
        # The clock ticks 1 ms per reading: five hits at 0, 1, ... 4 ms.
        assert _app(metrics) == AppCount("shop", 5, start, start + 4_000_000)

    def test_retention_drops_old_hits_but_keeps_counts_exact(
        self, make_metrics: MakeMetrics
    ) -> None:
        clock = ManualClock(START)
        metrics = make_metrics(clock=clock, retention=timedelta(minutes=5))
        metrics.hit("Home")
        metrics.hit("Blog")
        clock.advance(600)
        metrics.hit("Home")
        assert metrics.aggregate() == [{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 1}]
        series = metrics.time_series()["nodes"]
        assert [(n["id"], n["hits"], len(n["callers"])) for n in series] == [
            ("Home", 2, 1),
            ("Blog", 1, 0),
        ]

    def test_live_stream_yields_each_later_hit_once_with_running_totals(
        self, metrics: Metrics
    ) -> None:
        metrics.hit("Home")
        with metrics.stream("time_series", duration=10) as stream:
            metrics.hit("Home", caller="Blog")
            metrics.hit("Blog")
            metrics.hit("Home")
            got = [next(stream) for _ in range(3)]
        assert [(n["id"], n["hits"], n["callers"][0]["caller"]) for n in got] == [
            ("Home", 2, "Blog"),
            ("Blog", 1, None),
            ("Home", 3, None),
        ]
        assert [n["time"] for n in got] == [T0, "2022-01-09 18:26:51.002000", T0]
        assert got[2]["callers"][0]["time"] == "2022-01-09 18:26:51.003000"

    def test_live_stream_works_as_an_async_iterator(self, metrics: Metrics) -> None:
        async def main() -> list[str]:
            stream = metrics.stream("time_series", duration=10)
            metrics.hit("A")
            metrics.hit("B")
            got = []
            async for node in stream:
                got.append(node["id"])
                if len(got) == 2:
                    stream.close()
            return got

        assert asyncio.run(main()) == ["A", "B"]

    def test_live_aggregate_stream_starts_with_the_current_counts(self, metrics: Metrics) -> None:
        metrics.hit("Home")
        with metrics.pipeline("aggregate", mode="live", interval=0.01, duration=10) as stream:
            assert next(stream) == [{"id": "Home", "hits": 1}]
            metrics.hit("Home")
            assert next(stream) == [{"id": "Home", "hits": 2}]

    def test_subscription_read_returns_nothing_when_no_new_hits(self, metrics: Metrics) -> None:
        subscription = metrics.store.subscribe()
        try:
            assert subscription.read(10) == []
            assert subscription.wait(0.05) is False
        finally:
            subscription.close()

    def test_closed_subscription_wakes_its_waiter(self, metrics: Metrics) -> None:
        subscription = metrics.store.subscribe()
        subscription.close()
        assert subscription.wait(5) is True
        assert subscription.read(10) == []

    def test_pipeline_snapshot_returns_the_export(self, metrics: Metrics) -> None:
        record_visit(metrics)
        assert metrics.pipeline("aggregate") == metrics.aggregate()
        assert metrics.pipeline("flow") == metrics.flow()

    def test_flush_returns_true_and_close_is_idempotent(self, metrics: Metrics) -> None:
        metrics.hit("Home")
        assert metrics.flush(timeout=10) is True
        assert metrics.dropped == 0
        metrics.close()
        metrics.close()

    def test_overflow_ids_count_under_the_overflow_node(self, make_metrics: MakeMetrics) -> None:
        metrics = make_metrics(max_nodes=2)
        for node in ("A", "B", "C", "D"):
            metrics.hit(node)
        assert metrics.aggregate() == [
            {"id": "A", "hits": 1},
            {"id": "B", "hits": 1},
            {"id": "__overflow__", "hits": 2},
        ]

    @pytest.mark.parametrize("count", [1, 2_500])
    def test_many_hits_keep_exact_counts_and_time_order(self, metrics: Metrics, count: int) -> None:
        for i in range(count):
            metrics.hit(f"n{i % 7}", caller=None if i % 3 else f"n{(i + 1) % 7}")
        rows = metrics.aggregate()
        assert sum(row["hits"] for row in rows) == count
        assert {row["id"]: row["hits"] for row in rows} == {
            f"n{k}": len(range(k, count, 7)) for k in range(min(count, 7))
        }
        for node in metrics.time_series()["nodes"]:
            times = [c["time"] for c in node["callers"]]
            assert times == sorted(times)
            assert len(times) == node["hits"]

    def test_threads_recording_at_once_lose_no_hit(self, metrics: Metrics) -> None:
        def work(name: str) -> None:
            for _ in range(5000):
                metrics.hit(name, caller="Home")

        threads = [threading.Thread(target=work, args=(f"t{k}",)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted((row["id"], row["hits"]) for row in metrics.aggregate()) == [
            (f"t{k}", 5000) for k in range(4)
        ]
        assert sum(edge["hits"] for edge in metrics.flow()) == 20_000
        hits = metrics.store.snapshot(Query()).hits
        assert list(hits.times) == sorted(hits.times)

    def test_live_hits_carry_seqs_increasing_in_delivery_order(self, metrics: Metrics) -> None:
        hits = record_in_batches(metrics)
        seqs = [hit.seq for hit in hits]
        assert all(isinstance(seq, int) and seq > 0 for seq in seqs)
        assert seqs == sorted(set(seqs), key=lambda seq: seq or 0)
        assert [(hit.node, hit.node_hits) for hit in hits] == [
            ("Home", 1),
            ("Blog", 1),
            ("Home", 2),
            ("About", 1),
            ("Home", 3),
            ("Blog", 2),
        ]

    def test_subscribe_after_each_seq_yields_exactly_the_later_hits_once(
        self, metrics: Metrics
    ) -> None:
        hits = record_in_batches(metrics)
        store = resumable(metrics)
        # After every hit: the first of a batch, inside one, the last of one, the very last.
        for k, hit in enumerate(hits):
            assert hit.seq is not None
            subscription = store.subscribe(after=hit.seq)
            try:
                later = read_live(subscription, len(hits) - k - 1)
                assert shown(later) == shown(hits[k + 1 :]), f"after hit {k}"
                assert subscription.read(10) == []
                assert subscription.dropped == 0
            finally:
                subscription.close()

    def test_subscribe_after_zero_starts_from_the_oldest_hit(self, metrics: Metrics) -> None:
        hits = record_in_batches(metrics)
        subscription = resumable(metrics).subscribe(after=0)
        try:
            assert shown(read_live(subscription, 6)) == shown(hits)
            assert subscription.read(10) == []
        finally:
            subscription.close()

    def test_resumed_subscription_goes_on_with_new_hits_once(self, metrics: Metrics) -> None:
        hits = record_in_batches(metrics)
        assert hits[3].seq is not None
        subscription = resumable(metrics).subscribe(after=hits[3].seq)
        try:
            assert shown(read_live(subscription, 2)) == shown(hits[4:])
            metrics.hit("Home")
            metrics.hit("About")
            assert metrics.flush(timeout=10)
            new = read_live(subscription, 2)
            assert subscription.read(10) == []
        finally:
            subscription.close()
        assert [(hit.node, hit.node_hits) for hit in new] == [("Home", 4), ("About", 2)]
        assert hits[-1].seq is not None
        assert hits[-1].seq < (new[0].seq or 0) < (new[1].seq or 0)

    def test_subscribe_after_the_last_seq_or_beyond_waits_for_new_hits(
        self, metrics: Metrics
    ) -> None:
        hits = record_in_batches(metrics)
        last = hits[-1].seq
        assert last is not None
        for after in (last, last + 1_000_000):
            subscription = resumable(metrics).subscribe(after=after)
            try:
                assert subscription.read(10) == []
                metrics.hit("Post")
                assert metrics.flush(timeout=10)
                assert [hit.node for hit in read_live(subscription, 1)] == ["Post"]
            finally:
                subscription.close()

    def test_subscribe_after_hits_retention_deleted_counts_them_dropped(
        self, make_metrics: MakeMetrics
    ) -> None:
        clock = ManualClock(START)
        metrics = make_metrics(clock=clock, retention=timedelta(minutes=5))
        store = resumable(metrics)
        subscription = store.subscribe()
        try:
            metrics.hit("Home")
            metrics.hit("Blog")
            assert metrics.flush(timeout=10)
            metrics.hit("Home")
            assert metrics.flush(timeout=10)
            clock.advance(600)
            metrics.hit("Post")
            metrics.hit("Blog")
            assert metrics.flush(timeout=10)
            old = read_live(subscription, 5)
        finally:
            subscription.close()
        first, last_old = old[0].seq, old[2].seq
        assert first is not None
        assert last_old is not None

        def deleted() -> bool:
            metrics.time_series()  # the memory store applies retention on reads
            oldest = store.subscribe(after=0)
            try:
                return [hit.seq for hit in oldest.read(10)] == [old[3].seq, old[4].seq]
            finally:
                oldest.close()

        wait_until(deleted)
        for after, dropped in ((0, 3), (first, 2), (last_old - 1, 1), (last_old, 0)):
            resumed = store.subscribe(after=after)
            try:
                assert shown(read_live(resumed, 2)) == shown(old[3:]), f"after {after}"
                assert resumed.read(10) == []
                assert resumed.dropped == dropped, f"after {after}"
            finally:
                resumed.close()

    # -- rollups: reads of any range agree with the hits ------------------------------

    def test_series_latency_of_every_bucket_is_within_the_sketch_accuracy(
        self, make_metrics: MakeMetrics
    ) -> None:
        # Many durations per bucket, at the steps of tiers (whose rows' quantiles a
        # store may keep) and at one that merges rows.
        clock = ManualClock(START)
        metrics = make_metrics(clock=clock)
        hits: list[tuple[int, str, float]] = []
        for k in range(1500):
            at = k * 97_000  # ms: 40 hours
            node = ("/", "/blog")[k % 2]
            duration = ((k * 7919) % 1000 + 1) / 1000 * (1 + k % 3)
            clock.set(START + timedelta(milliseconds=at))
            metrics.hit(node, None, duration, 200)
            hits.append((at, node, duration))
        for step_name, step in (
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("6h", 21_600_000),
            ("3h", 10_800_000),
        ):
            series = metrics.series(step=step_name, since=START, until=START + timedelta(hours=41))
            start_ms = round(
                (datetime.fromisoformat(series["since"]) - START).total_seconds() * 1000
            )
            timed: dict[tuple[str, int], list[float]] = {}
            for at, node, duration in hits:
                timed.setdefault((node, (at - start_ms) // step), []).append(duration)
            checked = 0
            for entry in series["nodes"]:
                for i in range(len(series["buckets"])):
                    durations = sorted(timed.get((entry["id"], i), []))
                    for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                        got = entry[key][i]  # type: ignore[literal-required]
                        _assert_within_accuracy(got, durations, q)
                    checked += len(durations) > 1
            assert checked >= 10, step_name

    def test_rollup_reads_equal_what_the_hits_say_for_random_hits_and_windows(
        self, tmp_path: Path
    ) -> None:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        hit = st.tuples(
            st.integers(0, 3 * _DAY_MS),  # ms after the start
            st.sampled_from(_NODES),
            st.sampled_from((None, *_NODES)),
            st.one_of(st.none(), st.floats(1e-6, 30.0)),
            st.one_of(st.none(), st.sampled_from((200, 404, 500, 503))),
        )
        bound = st.one_of(st.none(), st.integers(-_DAY_MS, 4 * _DAY_MS))
        apps = iter(range(1_000_000))

        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.lists(hit, max_size=60), bound, bound)
        def check(hits: list[Hit], since: int | None, until: int | None) -> None:
            clock = ManualClock(START)
            app = f"prop{next(apps)}"
            store = self.open_store(app=app, clock=clock, retention=None, place=tmp_path)
            try:
                check_store(store, clock, app, hits, since, until)
            finally:
                # Closed at once: a failing example is shrunk through hundreds more.
                store.close()

        def check_store(
            store: Store,
            clock: ManualClock,
            app: str,
            hits: list[Hit],
            since: int | None,
            until: int | None,
        ) -> None:
            metrics = Metrics(app, store=store, clock=clock)
            for offset, node, caller, duration, status in sorted(hits, key=_first):
                clock.set(START + timedelta(milliseconds=offset))
                metrics.hit(node, caller, duration, status)
            lo = None if since is None else START + timedelta(milliseconds=since)
            hi = None if until is None else START + timedelta(milliseconds=until)
            inside = [
                h
                for h in sorted(hits, key=_first)
                if (since is None or h[0] >= since) and (until is None or h[0] < until)
            ]
            # Rollups keep each bucket's first hit time, not the order of hits at one
            # nanosecond: entries whose first hits share it may come in any order.
            firsts = _first_times(inside)
            _assert_same_up_to_ties(
                metrics.aggregate(since=lo, until=hi), _expected_counts(inside), firsts
            )
            _assert_same_up_to_ties(
                metrics.flow(since=lo, until=hi), _expected_flow(inside), firsts
            )
            stats = {row["id"]: row for row in metrics.aggregate(stats=True, since=lo, until=hi)}
            for node, row in stats.items():
                mine = [h for h in inside if h[1] == node]
                assert row["hits"] == len(mine)
                assert row["errors"] == sum(1 for h in mine if (h[4] or 0) >= 500)
                durations = sorted(h[3] for h in mine if h[3] is not None)
                for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                    _assert_within_accuracy(row[key], durations, q)  # type: ignore[literal-required]
            # Series at the steps of tiers (their rows' quantiles as a store keeps them)
            # and at one that merges rows: hits and latency per bucket as the hits say.
            for step_name, step in (("5m", 300_000), ("1h", 3_600_000), ("2h", 7_200_000)):
                series = metrics.series(step=step_name, since=lo, until=hi)
                start_ms = round(
                    (datetime.fromisoformat(series["since"]) - START).total_seconds() * 1000
                )
                width = len(series["buckets"])
                expected: dict[str, list[int]] = {}
                timed: dict[tuple[str, int], list[float]] = {}
                for h in hits:
                    i = (h[0] - start_ms) // step
                    if 0 <= i < width:
                        expected.setdefault(h[1], [0] * width)[i] += 1
                        if h[3] is not None:
                            timed.setdefault((h[1], i), []).append(h[3])
                assert {entry["id"]: entry["hits"] for entry in series["nodes"]} == expected
                for entry in series["nodes"]:
                    assert entry["total"] == sum(expected[entry["id"]])
                    for i in range(width):
                        durations = sorted(timed.get((entry["id"], i), []))
                        for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                            got = entry[key][i]  # type: ignore[literal-required]
                            _assert_within_accuracy(got, durations, q)

        check()

    def test_reads_of_whole_buckets_stay_the_same_once_retention_trimmed_the_hits(
        self, make_metrics: MakeMetrics
    ) -> None:
        clock = ManualClock(START)
        metrics = make_metrics(clock=clock, retention=timedelta(hours=1))
        hits: list[Hit] = []
        for k in range(600):
            offset = k * 397_000  # about every 6.6 minutes, over 2.75 days
            node, caller = _NODES[k % 4], (None, *_NODES)[k % 5]
            duration, status = (k % 7) / 100 or None, (200, 500)[k % 9 == 0]
            clock.set(START + timedelta(milliseconds=offset))
            metrics.hit(node, caller, duration, status)
            hits.append((offset, node, caller, duration, status))
        # Whole days: once the hits are gone, rollups answer whole buckets exactly.
        lo = START.replace(hour=0, minute=0, second=0)
        hi = lo + timedelta(days=4)
        before_counts = metrics.aggregate(since=lo, until=hi)
        assert before_counts == _expected_counts(hits)
        before = (metrics.flow(since=lo, until=hi), metrics.series(step="1h", since=lo, until=hi))
        stats_before = metrics.aggregate(stats=True, since=lo, until=hi)
        # A day later every hit is past retention: only rollups can answer.
        clock.advance(86_400)
        metrics.hit("Late")
        metrics.flush()
        assert metrics.time_series(since=lo, until=hi)["nodes"] == []
        assert metrics.aggregate(since=lo, until=hi) == before_counts
        assert (
            metrics.flow(since=lo, until=hi),
            metrics.series(step="1h", since=lo, until=hi),
        ) == before
        assert metrics.aggregate(stats=True, since=lo, until=hi) == stats_before


_DAY_MS = 86_400_000
_NODES = ("/", "/blog", "/blog/{slug}", "/cart")
Hit = tuple[int, str, "str | None", "float | None", "int | None"]


def _app(metrics: Metrics) -> AppCount:
    """The entry of ``metrics``'s app among those its store lists."""
    (entry,) = (app for app in metrics.store.apps() if app.app == metrics.id)
    return entry


def _first(hit: Hit) -> int:
    return hit[0]


def _expected_counts(hits: list[Hit]) -> list[dict[str, object]]:
    counts: dict[str, int] = {}
    for _, node, _, _, _ in hits:
        counts[node] = counts.get(node, 0) + 1
    return [{"id": node, "hits": n} for node, n in counts.items()]


def _first_times(hits: list[Hit]) -> dict[tuple[str | None, ...], int]:
    """The time of the first of ``hits`` of each node (by ``(id,)``) and edge (by
    ``(caller, id)``)."""
    first: dict[tuple[str | None, ...], int] = {}
    for at, node, caller, _, _ in hits:
        first.setdefault((node,), at)
        first.setdefault((caller, node), at)
    return first


def _assert_same_up_to_ties(
    got: Sequence[Mapping[str, object]],
    expected: list[dict[str, object]],
    firsts: dict[tuple[str | None, ...], int],
) -> None:
    """``got`` holds the entries of ``expected`` in order of their first hits, entries
    whose first hits were at the same time in any order."""

    def key(entry: Mapping[str, object]) -> tuple[Any, ...]:
        return (entry["caller"], entry["id"]) if "caller" in entry else (entry["id"],)

    def first(entry: Mapping[str, object]) -> int:
        return firsts[key(entry)]

    assert sorted(map(dict, got), key=str) == sorted(expected, key=str)
    assert [first(e) for e in got] == [first(e) for e in expected]


def _expected_flow(hits: list[Hit]) -> list[dict[str, object]]:
    edges: dict[tuple[str | None, str], int] = {}
    for _, node, caller, _, _ in hits:
        edges[caller, node] = edges.get((caller, node), 0) + 1
    return [{"caller": c, "id": n, "hits": k} for (c, n), k in edges.items()]


def _assert_within_accuracy(got: float | None, ordered: list[float], q: float) -> None:
    """``got`` is within the sketch's 1 % of the exact nearest-rank ``q``-quantile."""
    if not ordered:
        assert got is None
        return
    exact = ordered[max(1, math.ceil(q * len(ordered))) - 1]
    # Durations are kept to the microsecond: allow for that rounding too.
    assert got is not None
    assert abs(got - exact) <= 0.01 * exact + 2e-6, (got, exact)
