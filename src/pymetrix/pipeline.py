"""Live streams: the one source of live data, which every live output frames.

:meth:`Metrics.stream <pymetrix.Metrics.stream>` (and ``Metrics.pipeline(mode="live")``)
returns a :class:`LiveStream`; the stats app's Server-Sent Events and the
``pymetrix stream`` command frame the same streams. A stream pulls from a source:

- a time series follows the store's subscription: one event per hit, each with the id
  to resume right after it (``stream(after=id)``) — the hit's ``seq`` where the store is
  ``resumable``; for another store, where asked, its ``(time, ordinal)`` position, the
  hits then read through snapshot queries;
- an aggregate or flow is computed again every ``interval`` and given when it changed.

Iterating yields the data and raises a store's failure. :meth:`LiveStream.read` gives
:class:`LiveEvent` batches with their ids, waits no longer than asked (so that an
encoder can send heartbeats), and turns a failure into one :class:`LiveFault` per outage
while it retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from ._export import live_node
from ._timefmt import TimeFormatter
from .clock import Clock
from .errors import PymetrixError
from .store._cursor import Hit, HitCursor, Position, format_position, parse_position, parse_seq
from .store.base import LiveHit, Query, Store, Subscription
from .types import TimeSeriesNode

__all__ = ["LiveEvent", "LiveFault", "LiveStream"]

logger = logging.getLogger("pymetrix")

T = TypeVar("T")
E = TypeVar("E")

BATCH = 1024
"""Events taken from the store per read: bounds the memory of a resume from far back."""


@dataclass(frozen=True)
class LiveEvent(Generic[T]):
    """One update of a live stream.

    ``data`` is what iterating the stream yields: a time-series node record (one hit), or
    the whole aggregate or flow. ``id`` is, for a time series, where a stream resumes
    right after this hit (``Metrics.stream("time_series", after=id)``); None for an
    aggregate or flow, and for a store that is not ``resumable`` unless the stream was
    asked for ids (``resumable=True``).
    """

    data: T
    id: str | None = None


@dataclass(frozen=True)
class LiveFault:
    """The store could not be read: what failed. The stream goes on and retries."""

    message: str


class Source(Protocol[T]):
    """What a :class:`LiveStream` takes its events from."""

    @property
    def dropped(self) -> int:
        """Hits that retention removed before they could be read."""

    def poll(self) -> list[LiveEvent[T]]:
        """New events, at most :data:`BATCH`; may read the store, never waits for news."""

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds, until a poll may find something new."""

    async def wait_async(self, timeout: float) -> None:
        """Like :meth:`wait`, without blocking the event loop."""

    def close(self) -> None:
        """Release what the source holds and wake its waiters. Idempotent."""


class LiveStream(Generic[T]):
    """A live export: an iterator, an async iterator and a context manager.

    Iterating yields each update's data — a time-series node record per hit, or the
    whole aggregate or flow when it changed — and raises a store failure.
    :meth:`read` and :meth:`read_async` give the updates as :class:`LiveEvent` batches.
    The stream ends after ``duration`` seconds (if given) or at :meth:`close`, which any
    thread may call: a reader waiting in another thread or task wakes at once.

    Built by :meth:`Metrics.stream <pymetrix.Metrics.stream>`.

    Args:
        source: where the events come from.
        interval: the longest wait between two reads of the store, and the pause
            before a read that failed is tried again.
        duration: seconds after which the stream ends by itself (None: until closed).
        offload: read the store in a worker thread when iterated asynchronously (for
            stores whose reads block).
    """

    def __init__(
        self, source: Source[T], *, interval: float, duration: float | None, offload: bool
    ) -> None:
        self._source = source
        self._interval = interval
        self._deadline = None if duration is None else time.monotonic() + duration
        self._offload = offload
        self._closed = _Bell()
        self._buffer: deque[LiveEvent[T]] = deque()
        # After a failed read no other is tried before this time, and the failure is
        # reported once per outage.
        self._retry_at = 0.0
        self._failing = False

    @property
    def closed(self) -> bool:
        return self._closed.rung

    @property
    def dropped(self) -> int:
        """Hits that retention removed before this stream could yield them."""
        return self._source.dropped

    def close(self) -> None:
        """End the stream; a reader waiting in another thread or task wakes up. Idempotent."""
        self._closed.ring()
        self._source.close()

    def read(self, timeout: float | None = None) -> list[LiveEvent[T] | LiveFault]:
        """The next updates, at most a batch, as soon as there are any.

        Args:
            timeout: the longest wait in seconds (None: as long as the stream lasts).

        Returns:
            The events; an empty list when ``timeout`` ran out or the stream is over
            (then :attr:`closed`). A failure to read the store comes as one
            :class:`LiveFault` per outage; the read is tried again every ``interval``.
        """
        return self._wait_for(self._poll_reporting, timeout)

    async def read_async(self, timeout: float | None = None) -> list[LiveEvent[T] | LiveFault]:
        """:meth:`read`, without blocking the event loop."""
        return await self._await_for(self._poll_reporting, timeout)

    # -- iteration ---------------------------------------------------------------------

    def __iter__(self) -> LiveStream[T]:
        return self

    def __next__(self) -> T:
        if not self._buffer:
            self._buffer.extend(self._wait_for(self._poll, None))
        if not self._buffer or self.closed:
            raise StopIteration
        return self._buffer.popleft().data

    def __aiter__(self) -> LiveStream[T]:
        return self

    async def __anext__(self) -> T:
        if not self._buffer:
            self._buffer.extend(await self._await_for(self._poll, None))
        if not self._buffer or self.closed:
            raise StopAsyncIteration
        return self._buffer.popleft().data

    def __enter__(self) -> LiveStream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> LiveStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------

    def _poll(self) -> list[LiveEvent[T]]:
        try:
            events = self._source.poll()
        except Exception:
            self._retry_at = time.monotonic() + self._interval
            raise
        self._failing = False
        return events

    def _poll_reporting(self) -> list[LiveEvent[T] | LiveFault]:
        try:
            events: list[LiveEvent[T] | LiveFault] = [*self._poll()]
        except Exception as exc:
            if isinstance(exc, PymetrixError):
                logger.warning("pymetrix stream: %s", exc)
                message = str(exc)
            else:
                logger.exception("pymetrix stream: reading the store failed")
                message = "the store could not be read"
            if self._failing:
                return []
            self._failing = True
            return [LiveFault(message)]
        return events

    def _left(self, until: float | None) -> float | None:
        """How long a read may wait now, at most ``interval``; None once the stream is over."""
        if self.closed:
            return None
        now = time.monotonic()
        left = self._interval
        if self._deadline is not None:
            if now >= self._deadline:
                self.close()
                return None
            left = min(left, self._deadline - now)
        if until is not None:
            left = min(left, until - now)
        return max(0.0, left)

    def _wait_for(self, poll: Callable[[], list[E]], timeout: float | None) -> list[E]:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self._left(until)
            if left is None:
                return []
            pause = self._retry_at - time.monotonic()
            if pause <= 0:
                events = poll()
                if self.closed:
                    return []
                if events:
                    return events
                left = self._left(until)
                if left is None:
                    return []
            if left <= 0:
                return []
            if pause > 0:
                self._closed.sleep(min(left, pause))
            else:
                self._source.wait(left)

    async def _await_for(self, poll: Callable[[], list[E]], timeout: float | None) -> list[E]:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self._left(until)
            if left is None:
                return []
            pause = self._retry_at - time.monotonic()
            if pause <= 0:
                events = await asyncio.to_thread(poll) if self._offload else poll()
                if self.closed:
                    return []
                if events:
                    return events
                left = self._left(until)
                if left is None:
                    return []
            if left <= 0:
                return []
            if pause > 0:
                await self._closed.sleep_async(min(left, pause))
            else:
                await self._source.wait_async(left)


def time_series_stream(
    store: Store,
    fmt: TimeFormatter,
    clock: Clock,
    *,
    ids: frozenset[str] | None,
    detail: bool,
    after: str | None,
    resumable: bool,
    interval: float,
    duration: float | None,
) -> LiveStream[TimeSeriesNode]:
    """One event per hit recorded from now on, or after the event whose id is ``after``.

    Events have ids where the store is ``resumable`` (its hits' ``seq``), and else where
    ``after`` or ``resumable`` asks for them (their positions).

    Raises:
        InvalidQuery: ``after`` is not an id this store's streams give.
    """
    source: Source[TimeSeriesNode]
    if store.resumable:
        seq = None if after is None else parse_seq(after, "after")
        source = _Subscribed(store.subscribe(after=seq), fmt, ids, detail, seq_ids=True)
    elif resumable or after is not None:
        position = None if after is None else parse_position(after, "after")
        source = _Positioned(store, fmt, clock, ids, detail, position)
    else:
        source = _Subscribed(store.subscribe(), fmt, ids, detail, seq_ids=False)
    return LiveStream(source, interval=interval, duration=duration, offload=store.blocking_reads)


def snapshot_stream(
    compute: Callable[[], T], *, interval: float, duration: float | None, offload: bool
) -> LiveStream[T]:
    """What ``compute`` returns, at once and then every ``interval`` when it changed."""
    return LiveStream(
        _Snapshots(compute, interval), interval=interval, duration=duration, offload=offload
    )


# -- sources -------------------------------------------------------------------------------


class _Subscribed:
    """A time series read from the store's subscription; with ``seq_ids``, hit ``seq``s
    are the event ids (only a ``resumable`` store resumes after them)."""

    def __init__(
        self,
        subscription: Subscription,
        fmt: TimeFormatter,
        ids: frozenset[str] | None,
        detail: bool,
        *,
        seq_ids: bool,
    ) -> None:
        self._subscription = subscription
        self._fmt = fmt
        self._ids = ids
        self._detail = detail
        self._seq_ids = seq_ids

    @property
    def dropped(self) -> int:
        return self._subscription.dropped

    def poll(self) -> list[LiveEvent[TimeSeriesNode]]:
        fmt, ids, detail, seq_ids = self._fmt, self._ids, self._detail, self._seq_ids
        return [
            LiveEvent(
                live_node(hit, fmt, detail),
                str(hit.seq) if seq_ids and hit.seq is not None else None,
            )
            for hit in self._subscription.read(BATCH)
            if ids is None or hit.node in ids
        ]

    def wait(self, timeout: float) -> None:
        self._subscription.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        await self._subscription.wait_async(timeout)

    def close(self) -> None:
        self._subscription.close()


class _Positioned:
    """A time series of a store that is not ``resumable``, read by position.

    The subscription only wakes the reader; hits are read through snapshot queries after
    the last one's ``(time, ordinal)`` position, and that position is the event id.
    """

    dropped = 0

    def __init__(
        self,
        store: Store,
        fmt: TimeFormatter,
        clock: Clock,
        ids: frozenset[str] | None,
        detail: bool,
        position: Position | None,
    ) -> None:
        self._store = store
        self._fmt = fmt
        self._detail = detail
        # Subscribed first: a hit recorded while the cursor finds the end still wakes it.
        self._subscription = store.subscribe()
        try:
            if position is None:
                self._cursor = HitCursor.at_end(store, clock.time_ns(), ids)
            else:
                self._cursor = HitCursor(store, ids=ids, position=position)
        except BaseException:
            self._subscription.close()
            raise
        # Each node's total as last shown.
        self._shown: dict[str, int] = {}

    def poll(self) -> list[LiveEvent[TimeSeriesNode]]:
        # Drained first, so that a hit landing after the read below wakes the next wait.
        while self._subscription.read(4096):
            pass
        reader = self._cursor.read()
        try:
            hits = list(islice(reader, BATCH))
        finally:
            # Closing the reader moves the cursor to the last hit taken.
            reader.close()
        return self._events(hits) if hits else []

    def _events(self, hits: list[Hit]) -> list[LiveEvent[TimeSeriesNode]]:
        nodes = frozenset(hit.node for hit in hits)
        totals = {count.node: count for count in self._store.counts(Query(ids=nodes))}
        later: dict[str, int] = {}
        for hit in hits:
            later[hit.node] = later.get(hit.node, 0) + 1
        shown = self._shown
        out = []
        for hit in hits:
            node = hit.node
            later[node] -= 1
            count = totals.get(node)
            total = 0 if count is None else count.hits - later[node]
            # Hits recorded between this batch and the count above would inflate it;
            # never let a node's total run backwards in the reader's eyes.
            total = max(total, shown.get(node, 0) + 1)
            shown[node] = total
            first = hit.time_ns if count is None else count.first_ns
            live = LiveHit(hit.time_ns, node, hit.caller, hit.duration, hit.status, total, first)
            out.append(
                LiveEvent(live_node(live, self._fmt, self._detail), format_position(hit.position))
            )
        return out

    def wait(self, timeout: float) -> None:
        self._subscription.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        await self._subscription.wait_async(timeout)

    def close(self) -> None:
        self._subscription.close()


class _Snapshots(Generic[T]):
    """An aggregate or flow: ``compute`` every ``interval``, an event when it changed."""

    dropped = 0

    def __init__(self, compute: Callable[[], T], interval: float) -> None:
        self._compute = compute
        self._interval = interval
        self._due = 0.0
        self._last: T | None = None
        self._started = False
        self._closed = _Bell()

    def poll(self) -> list[LiveEvent[T]]:
        now = time.monotonic()
        if now < self._due:
            return []
        self._due = now + self._interval
        current = self._compute()
        if self._started and current == self._last:
            return []
        self._started = True
        self._last = current
        return [LiveEvent(current)]

    def _until_due(self, timeout: float) -> float:
        return min(timeout, max(0.0, self._due - time.monotonic()))

    def wait(self, timeout: float) -> None:
        self._closed.sleep(self._until_due(timeout))

    async def wait_async(self, timeout: float) -> None:
        await self._closed.sleep_async(self._until_due(timeout))

    def close(self) -> None:
        self._closed.ring()


class _Bell:
    """Rung once, when a stream ends: wakes whoever sleeps on it, in threads and loops."""

    def __init__(self) -> None:
        self._rung = threading.Event()
        self._lock = threading.Lock()
        self._wakers: list[Callable[[], None]] = []

    @property
    def rung(self) -> bool:
        return self._rung.is_set()

    def ring(self) -> None:
        self._rung.set()
        with self._lock:
            wakers, self._wakers = self._wakers, []
        for wake in wakers:
            wake()

    def sleep(self, timeout: float) -> None:
        self._rung.wait(timeout)

    async def sleep_async(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not woken.done():
                woken.set_result(None)

        def wake() -> None:
            # A closed loop means nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(resolve)

        with self._lock:
            if self.rung:
                return
            self._wakers.append(wake)
        try:
            await asyncio.wait({woken}, timeout=timeout)
        finally:
            with self._lock:
                if wake in self._wakers:
                    self._wakers.remove(wake)
            woken.cancel()
