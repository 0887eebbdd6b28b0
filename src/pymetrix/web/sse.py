"""Server-Sent Events: the live exports as an ``text/event-stream`` body.

Every event's ``data:`` is one JSON object, the API's envelope:
``{"message": <one time-series node record | the aggregate | the flow>, "response": 200}``.
A storage fault arrives as ``{"message": "<what failed>", "response": 503}`` and the
stream carries on. Time-series events carry an ``id:`` (the hit's ``seq``, or
``<time_ns>-<ordinal>`` for stores without one), so a client reconnecting with
``Last-Event-ID`` gets every hit after it that the store still holds. Comment lines
(``: heartbeat``) keep idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import islice
from typing import Any

from .._export import live_node
from .._json import dumps
from .._timefmt import TimeFormatter
from ..errors import PymetrixError
from ..metrics import Metrics
from ..store._cursor import Hit, HitCursor, Position, format_position, parse_position, parse_seq
from ..store.base import LiveHit, Query, Store, Subscription

__all__ = [
    "HEARTBEAT",
    "EventStream",
    "SnapshotEvents",
    "TimeSeriesEvents",
    "format_event",
    "resumable",
]

logger = logging.getLogger("pymetrix.web")

HEARTBEAT = b": heartbeat\n\n"
Event = tuple[dict[str, Any], "str | None"]
# Events sent per store read: bounds the memory of a resume from far back.
_BATCH = 1000


def format_event(data: Any, event_id: str | None = None) -> bytes:
    """One SSE event whose ``data:`` is ``data`` as JSON (a single line)."""
    head = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"data: " + dumps(data) + b"\n\n"


class EventStream:
    """An SSE body, iterable both synchronously (WSGI) and asynchronously (ASGI).

    Args:
        heartbeat: seconds of silence after which a comment line is sent.
        retry: milliseconds a browser waits before reconnecting, sent first.
        offload: run store reads in a worker thread when iterated asynchronously.
    """

    def __init__(self, *, heartbeat: float, retry: int, offload: bool) -> None:
        self._heartbeat = heartbeat
        self._retry = retry
        self._offload = offload
        self._closed = threading.Event()
        self._failing = False
        # Set by a poll that returned a whole batch: more may be waiting, read on at once.
        self._full = False

    # Subclasses provide these four.
    def _poll(self) -> list[Event]:
        """New events as ``(envelope, event id)``, at most a batch; reads the store."""
        raise NotImplementedError

    def _wait(self, timeout: float) -> None:
        raise NotImplementedError

    async def _wait_async(self, timeout: float) -> None:
        raise NotImplementedError

    def _idle_wait(self) -> float:
        """The longest wait between two polls."""
        raise NotImplementedError

    def start(self) -> None:
        """Read what the stream needs to begin (it starts by itself otherwise)."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """End the stream and release what it holds. Idempotent."""
        self._closed.set()

    def _safe_poll(self) -> list[Event]:
        try:
            events = self._poll()
        except Exception as exc:
            # A storage fault: tell the client once per outage, keep trying.
            if isinstance(exc, PymetrixError):
                logger.warning("pymetrix stream: %s", exc)
                message = str(exc)
            else:
                logger.exception("pymetrix stream: reading the store failed")
                message = "the store could not be read"
            if self._failing:
                return []
            self._failing = True
            return [({"message": message, "response": 503}, None)]
        self._failing = False
        return events

    def _sse_poll(self) -> bytes:
        return b"".join(format_event(data, event_id) for data, event_id in self._safe_poll())

    def envelopes(self) -> Iterator[dict[str, Any]]:
        """The events' envelopes, without SSE framing or heartbeats, until closed."""
        try:
            while not self.closed:
                for data, _ in self._safe_poll():
                    yield data
                if not self._full and not self.closed:
                    self._wait(self._idle_wait())
        finally:
            self.close()

    def _timeout(self, last_sent: float) -> float:
        return max(0.0, min(self._idle_wait(), last_sent + self._heartbeat - time.monotonic()))

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield f"retry: {self._retry}\n\n".encode()
            last_sent = time.monotonic()
            while not self.closed:
                events = self._sse_poll()
                if events:
                    yield events
                    last_sent = time.monotonic()
                    if self._full:
                        continue
                elif time.monotonic() - last_sent >= self._heartbeat:
                    yield HEARTBEAT
                    last_sent = time.monotonic()
                self._wait(self._timeout(last_sent))
        finally:
            self.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            yield f"retry: {self._retry}\n\n".encode()
            last_sent = time.monotonic()
            while not self.closed:
                if self._offload:
                    events = await asyncio.to_thread(self._sse_poll)
                else:
                    events = self._sse_poll()
                if events:
                    yield events
                    last_sent = time.monotonic()
                    if self._full:
                        continue
                elif time.monotonic() - last_sent >= self._heartbeat:
                    yield HEARTBEAT
                    last_sent = time.monotonic()
                await self._wait_async(self._timeout(last_sent))
        finally:
            self.close()


class TimeSeriesEvents(EventStream):
    """One event per hit recorded after the stream opened, or after ``last_event_id``.

    A store whose subscriptions resume (``subscribe(after=seq)``, as the built-in ones')
    streams from its subscription, with the hit's ``seq`` as event id. For any other
    store the subscription only wakes the stream, hits are read by ``(time, ordinal)``
    position through snapshot queries, and that position is the event id. ``interval``
    bounds the wait between reads, for stores written by other processes.

    Raises:
        InvalidQuery: ``last_event_id`` is not an id this store's streams give.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        last_event_id: str | None,
        ids: frozenset[str] | None,
        detail: bool,
        interval: float,
        heartbeat: float,
        retry: int,
    ) -> None:
        store = metrics.store
        super().__init__(heartbeat=heartbeat, retry=retry, offload=store.blocking_reads)
        self._metrics = metrics
        self._ids = ids
        self._detail = detail
        self._interval = interval
        self._fmt = TimeFormatter(metrics.tz)
        self._resumable = resumable(store)
        self._after: int | None = None
        self._position: Position | None = None
        if last_event_id is not None:
            if self._resumable:
                self._after = parse_seq(last_event_id, "Last-Event-ID")
            else:
                self._position = parse_position(last_event_id, "Last-Event-ID")
        self._subscription: Subscription | None = None
        self._cursor: HitCursor | None = None
        self._shown: dict[str, int] = {}

    def start(self) -> None:
        """Fix where the stream begins: call before the client learns it is connected."""
        if self._subscription is not None or self.closed:
            return
        store = self._metrics.store
        if resumable(store):
            self._subscription = store.subscribe(after=self._after)
            return
        self._subscription = store.subscribe()
        if self._position is None:
            now = self._metrics.clock.time_ns()
            self._cursor = HitCursor.at_end(store, now, self._ids)
        else:
            self._cursor = HitCursor(store, ids=self._ids, position=self._position)

    def _poll(self) -> list[Event]:
        self.start()
        subscription = self._subscription
        if subscription is None:
            return []
        if self._cursor is None:
            live = subscription.read(_BATCH)
            self._full = len(live) >= _BATCH
            return self._live_events(live)
        # Drained first, so that a hit landing after the read below wakes the next wait.
        while subscription.read(4096):
            pass
        reader = self._cursor.read()
        try:
            hits = list(islice(reader, _BATCH))
        finally:
            # Closing the reader moves the cursor to the last hit taken.
            reader.close()
        self._full = len(hits) >= _BATCH
        if not hits:
            return []
        return self._read_events(hits)

    def _record(
        self, node: str, hits: int, first_ns: int, time_ns: int, caller: str | None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"caller": caller, "time": self._fmt(time_ns)}
        return {"id": node, "hits": hits, "time": self._fmt(first_ns), "callers": [entry]}

    def _live_events(self, live: list[LiveHit]) -> list[Event]:
        ids = self._ids
        out: list[Event] = []
        for hit in live:
            if ids is not None and hit.node not in ids:
                continue
            record = live_node(hit, self._fmt, self._detail)
            out.append(({"message": record, "response": 200}, str(hit.seq)))
        return out

    def _read_events(self, hits: list[Hit]) -> list[Event]:
        nodes = frozenset(hit.node for hit in hits)
        totals = {count.node: count for count in self._metrics.store.counts(Query(ids=nodes))}
        later: dict[str, int] = {}
        for hit in hits:
            later[hit.node] = later.get(hit.node, 0) + 1
        shown = self._shown
        out: list[Event] = []
        for hit in hits:
            node = hit.node
            later[node] -= 1
            count = totals.get(node)
            total = 0 if count is None else count.hits - later[node]
            # Hits recorded between this batch and the count above would inflate it;
            # never let a node's total run backwards in the client's eyes.
            total = max(total, shown.get(node, 0) + 1)
            shown[node] = total
            first = hit.time_ns if count is None else count.first_ns
            record = self._record(node, total, first, hit.time_ns, hit.caller)
            if self._detail:
                record["callers"][0].update(duration=hit.duration, status=hit.status)
            out.append(({"message": record, "response": 200}, format_position(hit.position)))
        return out

    def _idle_wait(self) -> float:
        return self._interval

    def _wait(self, timeout: float) -> None:
        if self._subscription is not None and not self.closed:
            self._subscription.wait(timeout)

    async def _wait_async(self, timeout: float) -> None:
        if self._subscription is not None and not self.closed:
            await self._subscription.wait_async(timeout)

    def close(self) -> None:
        super().close()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()


def resumable(store: Store) -> bool:
    """Whether ``store.subscribe`` takes ``after=``, resuming from a hit's ``seq``."""
    return bool(store.resumable)


class SnapshotEvents(EventStream):
    """The whole result of ``compute`` at once, then again every ``interval`` if changed."""

    def __init__(
        self,
        compute: Callable[[], Any],
        *,
        interval: float,
        heartbeat: float,
        retry: int,
        offload: bool,
    ) -> None:
        super().__init__(heartbeat=heartbeat, retry=retry, offload=offload)
        self._compute = compute
        self._interval = interval
        self._last: Any = None
        self._started = False
        self._due = 0.0

    def _poll(self) -> list[Event]:
        now = time.monotonic()
        if now < self._due:
            return []
        self._due = now + self._interval
        current = self._compute()
        if self._started and current == self._last:
            return []
        self._started = True
        self._last = current
        return [({"message": current, "response": 200}, None)]

    def _idle_wait(self) -> float:
        return max(0.0, self._due - time.monotonic())

    def _wait(self, timeout: float) -> None:
        self._closed.wait(timeout)

    async def _wait_async(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
