"""Live streams: what ``Metrics.pipeline(mode="live")`` returns."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from ._export import live_node
from ._timefmt import TimeFormatter
from .store.base import LiveHit, Subscription
from .types import TimeSeriesNode

__all__ = ["LiveStream", "SnapshotStream", "TimeSeriesStream"]

T = TypeVar("T")

_BATCH = 1024
# Upper bound of one wait without a deadline: a stream closed from another thread
# while its reader waits is woken at once anyway; this only bounds idle loops.
_IDLE_WAIT = 5.0


class LiveStream(Generic[T]):
    """A live stream: an iterator, an async iterator and a context manager.

    Iteration ends when ``duration`` has passed (if given) or after :meth:`close`.
    """

    def __init__(self, duration: float | None) -> None:
        self._deadline = None if duration is None else time.monotonic() + duration
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def dropped(self) -> int:
        """Hits that retention removed before this stream could yield them."""
        return 0

    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return self._deadline - time.monotonic()

    def _wait_time(self, cap: float) -> float | None:
        """How long the next wait may last; None when the stream is over."""
        if self.closed:
            return None
        remaining = self._remaining()
        if remaining is None:
            return cap
        if remaining <= 0:
            self.close()
            return None
        return min(cap, remaining)

    def close(self) -> None:
        """End the stream; a reader waiting in another thread or task wakes up."""
        self._closed.set()

    def __iter__(self) -> LiveStream[T]:
        return self

    def __next__(self) -> T:
        raise NotImplementedError

    def __aiter__(self) -> LiveStream[T]:
        return self

    async def __anext__(self) -> T:
        raise NotImplementedError

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


class TimeSeriesStream(LiveStream[TimeSeriesNode]):
    """One time-series node record per hit recorded after the stream was opened."""

    def __init__(
        self,
        subscription: Subscription,
        fmt: TimeFormatter,
        duration: float | None,
        offload: bool,
    ) -> None:
        super().__init__(duration)
        self._subscription = subscription
        self._fmt = fmt
        self._offload = offload
        self._buffer: deque[LiveHit] = deque()

    @property
    def dropped(self) -> int:
        return self._subscription.dropped

    def __next__(self) -> TimeSeriesNode:
        while True:
            if self._buffer and not self.closed:
                return live_node(self._buffer.popleft(), self._fmt)
            wait = self._wait_time(_IDLE_WAIT)
            if wait is None:
                raise StopIteration
            batch = self._subscription.read(_BATCH)
            if batch:
                self._buffer.extend(batch)
            else:
                self._subscription.wait(wait)

    async def __anext__(self) -> TimeSeriesNode:
        while True:
            if self._buffer and not self.closed:
                return live_node(self._buffer.popleft(), self._fmt)
            wait = self._wait_time(_IDLE_WAIT)
            if wait is None:
                raise StopAsyncIteration
            if self._offload:
                batch = await asyncio.to_thread(self._subscription.read, _BATCH)
            else:
                batch = self._subscription.read(_BATCH)
            if batch:
                self._buffer.extend(batch)
            else:
                await self._subscription.wait_async(wait)

    def close(self) -> None:
        super().close()
        self._subscription.close()


class SnapshotStream(LiveStream[T]):
    """The whole result of ``compute`` at once, then again every ``interval`` if changed."""

    def __init__(
        self,
        compute: Callable[[], T],
        interval: float,
        duration: float | None,
        offload: bool,
    ) -> None:
        super().__init__(duration)
        self._compute = compute
        self._interval = interval
        self._offload = offload
        self._last: T | None = None
        self._started = False

    def __next__(self) -> T:
        if not self._started:
            self._started = True
            if self.closed:
                raise StopIteration
            self._last = self._compute()
            return self._last
        while True:
            wait = self._wait_time(self._interval)
            if wait is None or self._closed.wait(wait):
                raise StopIteration
            if self._remaining_over():
                raise StopIteration
            current = self._compute()
            if current != self._last:
                self._last = current
                return current

    async def __anext__(self) -> T:
        if not self._started:
            self._started = True
            if self.closed:
                raise StopAsyncIteration
            self._last = await self._run()
            return self._last
        while True:
            wait = self._wait_time(self._interval)
            if wait is None:
                raise StopAsyncIteration
            await asyncio.sleep(wait)
            if self.closed or self._remaining_over():
                raise StopAsyncIteration
            current = await self._run()
            if current != self._last:
                self._last = current
                return current

    def _remaining_over(self) -> bool:
        remaining = self._remaining()
        return remaining is not None and remaining <= 0

    async def _run(self) -> T:
        if self._offload:
            return await asyncio.to_thread(self._compute)
        return self._compute()
