"""Clocks: where hit times come from. Inject a :class:`ManualClock` in tests."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Anything with a ``time_ns()`` returning nanoseconds since the Unix epoch."""

    def time_ns(self) -> int: ...


class SystemClock:
    """The system's wall clock, ``time.time_ns``.

    Stores keep recorded times non-decreasing within a process, so a step of the
    system clock backwards cannot reorder hits.
    """

    __slots__ = ()

    time_ns = staticmethod(time.time_ns)


class ManualClock:
    """A clock that only moves when told to; for tests and simulations.

    Args:
        start: the initial time, as a ``datetime`` (naive means UTC) or nanoseconds.
        step: seconds added after every reading (0: time stands still).
    """

    def __init__(self, start: datetime | int = 0, step: float = 0.0) -> None:
        if isinstance(start, datetime):
            if start.tzinfo is None:
                start = start.replace(tzinfo=timezone.utc)
            delta = start - datetime(1970, 1, 1, tzinfo=timezone.utc)
            start = delta // timedelta(microseconds=1) * 1000
        self._now = start
        self._step = round(step * 1e9)
        self._lock = threading.Lock()

    def time_ns(self) -> int:
        with self._lock:
            now = self._now
            self._now += self._step
            return now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._now += round(seconds * 1e9)

    def set(self, when: datetime | int) -> None:
        """Set the clock to ``when`` (a ``datetime``, naive means UTC, or nanoseconds)."""
        value = ManualClock(when)._now
        with self._lock:
            self._now = value
