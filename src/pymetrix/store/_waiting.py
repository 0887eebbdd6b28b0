"""Waiting for new hits: shared by the subscriptions of every store."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["WaitingSubscription", "Waiters"]


class Waiters:
    """One-shot wake-up callbacks of readers waiting for a store's next hits.

    Stores check ``callbacks`` (a plain attribute, cheap on the recording path) and call
    :meth:`wake_all` when it is not empty.
    """

    __slots__ = ("_lock", "callbacks")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.callbacks: list[Callable[[], None]] = []

    def add(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self.callbacks.append(wake)

    def discard(self, wake: Callable[[], None]) -> None:
        with self._lock:
            if wake in self.callbacks:
                self.callbacks.remove(wake)

    def wake_all(self) -> None:
        with self._lock:
            callbacks, self.callbacks = self.callbacks, []
        for wake in callbacks:
            wake()


class WaitingSubscription:
    """``wait``, ``wait_async``, ``close`` and ``dropped`` for a subscription with ``_pending``.

    A waiter registers a callback with the store's :class:`Waiters`, then checks for
    pending hits, then sleeps: a hit recorded between the check and the sleep still
    fires the callback, so no wake-up is lost and nothing spins.
    """

    def __init__(self, waiters: Waiters) -> None:
        self._waiters = waiters
        self._wakers: list[Callable[[], None]] = []
        self._dropped = 0
        self.closed = False

    @property
    def dropped(self) -> int:
        """Hits that retention removed before this subscriber read them."""
        return self._dropped

    def _pending(self) -> bool:
        """Whether a read would return hits now (or the subscription is closed)."""
        raise NotImplementedError

    def wait(self, timeout: float) -> bool:
        event = threading.Event()
        self._arm(event.set)
        try:
            if self._pending():
                return True
            return event.wait(timeout) and not self.closed
        finally:
            self._disarm(event.set)

    async def wait_async(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not future.done():
                future.set_result(None)

        def wake() -> None:
            # A closed loop means nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(resolve)

        self._arm(wake)
        try:
            if self._pending():
                return True
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                return False
            return not self.closed
        finally:
            self._disarm(wake)

    def _arm(self, wake: Callable[[], None]) -> None:
        self._wakers.append(wake)
        self._waiters.add(wake)

    def _disarm(self, wake: Callable[[], None]) -> None:
        if wake in self._wakers:
            self._wakers.remove(wake)
        self._waiters.discard(wake)

    def close(self) -> None:
        self.closed = True
        for wake in list(self._wakers):
            wake()
