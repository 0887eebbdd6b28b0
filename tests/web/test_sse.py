"""GET /api/stream: Server-Sent Events through a real uvicorn server and HTTP client."""

from __future__ import annotations

import asyncio
import calendar
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pymetrix import InvalidArgument, ManualClock, Metrics, StoreError
from pymetrix.store import Backlog, Horizons, MemoryStore, Query, Rollups, Snapshot
from pymetrix.store.base import AppCount, EdgeCount, NodeCount, Subscription
from pymetrix.web import stats_app

from .conftest import START, EventReader


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        pause.wait(0.01)


def tasks_of_streams(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Names of the stream tasks alive in the server's event loop."""

    async def names() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("pymetrix")]

    return asyncio.run_coroutine_threadsafe(names(), loop).result(5)


def open_stream(server: Any, path: str, headers: dict[str, str] | None = None) -> EventReader:
    reader: EventReader = server.stream(path, headers)
    assert reader.status == 200
    assert reader.response.getheader("content-type") == "text/event-stream; charset=utf-8"
    first = reader.next()
    assert first.fields == {"retry": "2000"}
    return reader


def test_time_series_events_arrive_one_per_hit_as_node_records(
    metrics: Metrics, serve: Any
) -> None:
    metrics.hit("Home")
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream?data=time_series")
    try:
        metrics.hit("Blog", caller="Home")
        metrics.hit("Home")
        first, second = reader.next_data(), reader.next_data()
    finally:
        reader.close()
    assert first.json()["response"] == 200
    blog = first.json()["message"]
    assert blog["id"] == "Blog"
    assert blog["hits"] == 1
    assert blog["callers"] == [{"caller": "Home", "time": "2024-01-09 18:26:51.001000"}]
    home = second.json()["message"]
    assert (home["id"], home["hits"], home["time"]) == ("Home", 2, "2024-01-09 18:26:51.000000")
    assert first.id is not None
    assert second.id is not None
    assert int(second.id) > int(first.id)


def test_last_event_id_resumes_with_every_missed_hit_once(metrics: Metrics, serve: Any) -> None:
    app = stats_app(metrics)
    server = serve(app)
    reader = open_stream(server, "/api/stream")
    metrics.hit("Home")
    seen = reader.next_data()
    reader.close()
    wait_until(lambda: app.active_streams == 0)
    # Recorded while the client was away.
    metrics.hit("Blog", caller="Home")
    metrics.hit("Post", caller="Blog")
    metrics.hit("Home")
    assert seen.id is not None
    resumed = open_stream(server, "/api/stream", {"Last-Event-ID": seen.id})
    try:
        missed = [resumed.next_data().json()["message"] for _ in range(3)]
        metrics.hit("About", caller="Home")
        live = resumed.next_data().json()["message"]
    finally:
        resumed.close()
    assert [(m["id"], m["hits"]) for m in missed] == [("Blog", 1), ("Post", 1), ("Home", 2)]
    assert (live["id"], live["hits"]) == ("About", 1)


def test_last_event_id_is_also_accepted_as_a_query_parameter(metrics: Metrics, serve: Any) -> None:
    server = serve(stats_app(metrics))
    metrics.hit("Home")
    metrics.hit("Blog")
    reader = open_stream(server, "/api/stream?last_event_id=1")
    try:
        assert reader.next_data().json()["message"]["id"] == "Blog"
    finally:
        reader.close()


def test_a_malformed_last_event_id_is_a_400(metrics: Metrics, serve: Any) -> None:
    server = serve(stats_app(metrics))
    reply = server.get("/api/stream", {"Last-Event-ID": "yesterday"})
    assert reply.status == 400
    assert reply.json()["response"] == 400
    assert "Last-Event-ID" in reply.json()["message"]


@pytest.mark.parametrize("store", ["seq", "position"])
@pytest.mark.parametrize(
    "event_id",
    [
        "9" * 5000,  # beyond int()'s 4,300 digits
        "1-" + "9" * 5000,
        "9" * 5000 + "-0",
        "9" * 20,  # beyond 64 bits
        "9" * 20 + "-0",
        "\u00b2",  # a digit to str.isdigit(), not to int()
        "\u00b2-0",
        "\u0661",  # an Arabic-Indic digit, which int() would read
        "\u0661-0",
    ],
    ids=[
        "5000-digits",
        "ordinal-of-5000-digits",
        "time-of-5000-digits",
        "20-digits",
        "time-of-20-digits",
        "superscript-two",
        "superscript-two-time",
        "arabic-indic-one",
        "arabic-indic-one-time",
    ],
)
def test_an_event_id_no_stream_gives_is_a_400_without_a_logged_traceback(
    serve: Any, caplog: pytest.LogCaptureFixture, store: str, event_id: str
) -> None:
    clock = ManualClock(START)
    kept = MemoryStore(clock=clock) if store == "seq" else PositionlessStore(clock)
    with Metrics("shop", store=kept, clock=clock) as metrics:
        server = serve(stats_app(metrics))
        # As a header (which HTTP carries as latin-1) and as a query parameter (UTF-8).
        requests = [
            ("/api/stream", {"Last-Event-ID": event_id.encode().decode("latin-1")}),
            ("/api/stream?last_event_id=" + quote(event_id), {}),
        ]
        for path, headers in requests:
            with caplog.at_level(logging.WARNING):
                reply = server.get(path, headers)
            assert reply.status == 400
            message = reply.json()["message"]
            assert message.startswith("invalid Last-Event-ID ")
            assert "expected an event id" in message
            assert len(message) < 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_idle_stream_sends_heartbeat_comments(metrics: Metrics, serve: Any) -> None:
    server = serve(stats_app(metrics, heartbeat=0.1))
    reader = open_stream(server, "/api/stream")
    try:
        beats = [reader.next(timeout=2) for _ in range(2)]
    finally:
        reader.close()
    assert [b.comments for b in beats] == [["heartbeat"], ["heartbeat"]]
    assert all(b.data is None for b in beats)


def test_a_client_that_disconnects_is_cleaned_up(metrics: Metrics, serve: Any) -> None:
    store = metrics.store
    assert isinstance(store, MemoryStore)
    app = stats_app(metrics, heartbeat=30)
    loops: list[asyncio.AbstractEventLoop] = []

    async def recording_loop(scope: Any, receive: Any, send: Any) -> None:
        loops.append(asyncio.get_running_loop())
        await app(scope, receive, send)

    server = serve(recording_loop)
    threads_before = threading.active_count()
    readers = [open_stream(server, f"/api/stream?data={d}") for d in ("time_series", "aggregate")]
    wait_until(lambda: app.active_streams == 2)
    metrics.hit("Home")
    assert readers[0].next_data().json()["message"]["id"] == "Home"
    assert len(tasks_of_streams(loops[0])) == 4
    for reader in readers:
        reader.close()
    wait_until(lambda: app.active_streams == 0)
    wait_until(lambda: not tasks_of_streams(loops[0]))
    # The subscription was closed: nothing waits on the store any more.
    wait_until(lambda: not store._waiters.callbacks)
    # No thread per stream is left behind (worker threads of the loop's pool may stay).
    assert threading.active_count() <= threads_before + 2


def test_aggregate_stream_sends_the_aggregate_then_each_change(
    metrics: Metrics, serve: Any
) -> None:
    metrics.hit("Home")
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream?data=aggregate&interval=0.05")
    try:
        first = reader.next_data()
        metrics.hit("Home")
        metrics.hit("Blog")
        second = reader.next_data()
        while second.json()["message"] != [{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 1}]:
            second = reader.next_data()
    finally:
        reader.close()
    assert first.json() == {"message": [{"id": "Home", "hits": 1}], "response": 200}
    assert first.id is None


def test_flow_stream_sends_caller_to_node_counts(metrics: Metrics, serve: Any) -> None:
    metrics.hit("Blog", caller="Home")
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream?data=flow&interval=0.05")
    try:
        event = reader.next_data()
    finally:
        reader.close()
    assert event.json()["message"] == [{"caller": "Home", "id": "Blog", "hits": 1}]


def test_stream_ids_filter_sends_only_those_nodes(metrics: Metrics, serve: Any) -> None:
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream?ids=Blog,Post")
    try:
        metrics.hit("Home")
        metrics.hit("Blog")
        metrics.hit("About")
        metrics.hit("Post")
        got = [reader.next_data().json()["message"]["id"] for _ in range(2)]
    finally:
        reader.close()
    assert got == ["Blog", "Post"]


def test_detail_adds_duration_and_status_to_each_event(metrics: Metrics, serve: Any) -> None:
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream?detail=1")
    try:
        metrics.hit("Home", duration=0.25, status=503)
        caller = reader.next_data().json()["message"]["callers"][0]
    finally:
        reader.close()
    assert (caller["duration"], caller["status"]) == (0.25, 503)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("data=visitors", "unknown data type 'visitors'"),
        ("interval=0", "invalid interval '0'"),
        ("interval=soon", "invalid interval 'soon'"),
        ("detail=maybe", "invalid detail 'maybe'"),
    ],
)
def test_bad_stream_parameters_are_a_400(
    metrics: Metrics, serve: Any, query: str, message: str
) -> None:
    server = serve(stats_app(metrics))
    reply = server.get("/api/stream?" + query)
    assert reply.status == 400
    assert reply.json()["message"].startswith(message)


class PositionlessStore:
    """A store without resumable subscriptions: ``subscribe()`` takes no ``after``."""

    resumable = False
    blocking_reads = False

    def __init__(self, clock: ManualClock) -> None:
        self._inner = MemoryStore(clock=clock)

    def append(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        self._inner.append(time_ns, node, caller, duration, status)

    def snapshot(self, query: Query) -> Snapshot:
        return self._inner.snapshot(query)

    def counts(self, query: Query) -> list[NodeCount]:
        return self._inner.counts(query)

    def edges(self, query: Query) -> list[EdgeCount]:
        return self._inner.edges(query)

    def apps(self) -> list[AppCount]:
        return self._inner.apps()

    def subscribe(self, after: int | None = None) -> Subscription:
        if after is not None:
            raise InvalidArgument("after", after, "None: this store does not resume")
        return self._inner.subscribe()

    @property
    def dropped(self) -> int:
        return 0

    def backlog(self) -> Backlog:
        return self._inner.backlog()

    def rollups(
        self,
        size: int,
        lo: int,
        hi: int,
        ids: frozenset[str] | None,
        *,
        sketches: bool = True,
        edges: bool = True,
        step: int | None = None,
        quantiles: bool = False,
    ) -> Rollups:
        return self._inner.rollups(
            size, lo, hi, ids, sketches=sketches, edges=edges, step=step, quantiles=quantiles
        )

    def horizons(self) -> Horizons:
        return self._inner.horizons()

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()


def test_streams_of_a_store_without_seq_resume_by_time_position_even_at_equal_times(
    serve: Any,
) -> None:
    clock = ManualClock(START)  # stands still: every hit has the same time
    metrics = Metrics("shop", store=PositionlessStore(clock), clock=clock)
    metrics.hit("Old")
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream")
    metrics.hit("Home")
    metrics.hit("Blog")
    first, second = reader.next_data(), reader.next_data()
    reader.close()
    metrics.hit("Post")
    metrics.hit("Home")
    assert first.json()["message"]["id"] == "Home"
    assert second.id is not None
    resumed = open_stream(server, "/api/stream", {"Last-Event-ID": second.id})
    try:
        missed = [resumed.next_data() for _ in range(2)]
    finally:
        resumed.close()
    assert [(e.json()["message"]["id"], e.json()["message"]["hits"]) for e in missed] == [
        ("Post", 1),
        ("Home", 2),
    ]
    start_ns = calendar.timegm(START.timetuple()) * 10**9
    assert [first.id, second.id, *(e.id for e in missed)] == [
        f"{start_ns}-{k}" for k in range(1, 5)
    ]
    metrics.close()


class FlakyStore(PositionlessStore):
    """A store whose reads fail while ``failing`` is set, as a database going away."""

    failing = False

    def snapshot(self, query: Query) -> Snapshot:
        if self.failing:
            raise StoreError("database is locked", "sqlite:///flaky.db")
        return super().snapshot(query)


def test_a_storage_fault_is_reported_once_and_the_stream_recovers_without_loss(
    serve: Any,
) -> None:
    clock = ManualClock(START, step=0.001)
    store = FlakyStore(clock)
    metrics = Metrics("shop", store=store, clock=clock)
    server = serve(stats_app(metrics))
    reader = open_stream(server, "/api/stream?interval=0.05")
    try:
        store.failing = True
        metrics.hit("Home")
        fault = reader.next_data().json()
        store.failing = False
        recovered = reader.next_data().json()
    finally:
        reader.close()
        metrics.close()
    assert fault == {"message": "database is locked (sqlite:///flaky.db)", "response": 503}
    assert recovered["response"] == 200
    assert recovered["message"]["id"] == "Home"


class SlowSubscribeStore(PositionlessStore):
    """A store whose ``subscribe`` blocks until released, remembering what it handed out."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.handed: list[Any] = []

    def subscribe(self, after: int | None = None) -> Subscription:
        self.entered.set()
        self.release.wait(10)
        subscription = super().subscribe(after)
        self.handed.append(subscription)
        return subscription


def test_a_stream_opened_after_its_request_was_cancelled_is_closed() -> None:
    clock = ManualClock(START, step=0.001)
    store = SlowSubscribeStore(clock)
    metrics = Metrics("shop", store=store, clock=clock)
    app = stats_app(metrics)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/stream",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent to a cancelled request")

    async def scenario() -> None:
        request = asyncio.create_task(app(scope, receive, send))
        while not store.entered.is_set():
            await asyncio.sleep(0.01)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        store.release.set()
        deadline = time.monotonic() + 5
        while not (store.handed and store.handed[0].closed):
            assert time.monotonic() < deadline, "the stream was left open"
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    metrics.close()


# A process of its own recording one hit at ``START + seconds`` into a store. With
# "hold", its hit stays queued, unwritten, until a line arrives on its stdin.
_RECORD_ONE = """
import sys
from datetime import datetime, timedelta
from pymetrix import ManualClock, Metrics

url, node, start, seconds, hold = sys.argv[1:]
clock = ManualClock(datetime.fromisoformat(start) + timedelta(seconds=float(seconds)))
interval = "3600" if hold == "hold" else "0.02"
with Metrics("shop", store=url + "?flush_interval=" + interval, clock=clock) as metrics:
    metrics.hit(node)
    if hold == "hold":
        print("recorded", flush=True)
        sys.stdin.readline()
"""


def record_in_another_process(
    url: str, node: str, seconds: float, *, hold: bool = False
) -> subprocess.Popen[str]:
    """Start a process recording a hit on ``node`` at ``START + seconds``."""
    args = [url, node, START.isoformat(), str(seconds), "hold" if hold else "now"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORD_ONE, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if hold:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "recorded\n"
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0


def test_last_event_id_resumes_a_sqlite_stream_whose_batches_committed_out_of_time_order(
    serve: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/pymetrix.db"
    metrics = Metrics("shop", store=url, clock=ManualClock(START))
    app = stats_app(metrics)
    server = serve(app)
    holder: subprocess.Popen[str] | None = None
    try:
        assert metrics.store.resumable
        reader = open_stream(server, "/api/stream")
        # One process records "Early" and holds it queued while another records a
        # later hit and commits it first.
        holder = record_in_another_process(url, "Early", 0, hold=True)
        finish(record_in_another_process(url, "Late", 10))
        late = reader.next_data(timeout=10)
        reader.close()
        wait_until(lambda: app.active_streams == 0)
        assert late.json()["message"]["id"] == "Late"
        # Committed after "Late" though recorded before it: a position by time would
        # resume past it.
        finish(holder)
        finish(record_in_another_process(url, "After", 20))
        assert late.id is not None
        assert late.id.isdigit()
        resumed = open_stream(server, "/api/stream", {"Last-Event-ID": late.id})
        try:
            missed = [resumed.next_data(timeout=10) for _ in range(2)]
            metrics.hit("Live")
            # Any hit sent twice would come before this one.
            live = resumed.next_data(timeout=10)
        finally:
            resumed.close()
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.communicate()
        metrics.close()
    records = [event.json()["message"] for event in (*missed, live)]
    assert [(r["id"], r["hits"], r["callers"][0]["time"]) for r in records] == [
        ("Early", 1, "2024-01-09 18:26:51.000000"),
        ("After", 1, "2024-01-09 18:27:11.000000"),
        ("Live", 1, "2024-01-09 18:26:51.000000"),
    ]
    ids = [int(late.id), *(int(event.id or 0) for event in (*missed, live))]
    assert ids == sorted(set(ids))
