"""The background writer shared by persistent stores.

Recording appends a tuple to a deque (atomic, no lock, no I/O); a named daemon thread
drains it in batches and hands each batch to the store's ``write`` function. A failed
batch goes back to the front of the queue and is retried with backoff; what exceeds the
bound is counted as dropped. The writer is re-created in a forked child, flushed at
interpreter exit, and never lets an exception escape.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["BatchWriter", "Hit", "Managed", "manage"]

logger = logging.getLogger("pymetrix")

Hit = tuple[int, str, "str | None", "float | None", "int | None"]
"""One recorded hit as queued: time_ns, node, caller, duration, status."""

_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 5.0


class _Marker:
    """Put in the queue by ``flush``: set once everything queued before it is written."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


class BatchWriter:
    """Batches queued hits into calls of ``write(batch)`` on a background thread.

    Args:
        name: the thread's name, for debuggers and logs.
        write: writes a batch in one transaction; raises on failure (nothing written).
        describe: the store as shown in log messages (its URL, password masked).
        flush_interval: seconds between writes when fewer than ``batch_size`` are queued.
        batch_size: hits per write at most; a full batch wakes the writer at once.
        max_buffer: hits kept queued at most while writes fail; newer ones are dropped.
        maintain: called on the writer thread after each write (retention); may raise.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[Hit]], None],
        describe: str,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 10_000,
        max_buffer: int = 1_000_000,
        maintain: Callable[[], None] | None = None,
    ) -> None:
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0, not {flush_interval!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size!r}")
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be >= 1, not {max_buffer!r}")
        self._name = name
        self._write = write
        self._describe = describe
        self._interval = flush_interval
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._maintain = maintain
        self.queue: deque[Any] = deque()
        # The hot path compares the queue length to this: the batch size normally, so
        # a full batch wakes the writer; the buffer bound is enforced by the writer.
        self.wake_at = min(batch_size, max_buffer)
        self._dropped = 0
        self._failing = False
        self._maintain_failing = False
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._wake = threading.Event()
        self._stop = False
        self._busy = False
        self._inflight = 0
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    # -- the hot path ----------------------------------------------------------------

    def append(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        queue = self.queue
        queue.append((time_ns, node, caller, duration, status))
        if len(queue) >= self.wake_at:
            self._full()

    def _full(self) -> None:
        queue = self.queue
        # The batch the writer holds counts too: it is back in the queue if it fails.
        excess = len(queue) + self._inflight - self._max_buffer
        while excess > 0:
            try:
                item = queue.pop()
            except IndexError:
                break
            if isinstance(item, _Marker):
                queue.append(item)
                break
            excess -= 1
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100_000 == 0:
                logger.error(
                    "pymetrix: %s: buffer of %d hits full, %d hits dropped so far",
                    self._describe,
                    self._max_buffer,
                    self._dropped,
                )
        self._wake.set()

    # -- flushing --------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def failing(self) -> bool:
        """Whether the last write failed (and is being retried)."""
        return self._failing

    @property
    def pending(self) -> int:
        """Hits queued and not yet written."""
        return sum(1 for item in self.queue if not isinstance(item, _Marker))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every hit queued before this call is written."""
        if not self.queue and not self._busy:
            return True
        if not self._thread.is_alive():
            return False
        marker = _Marker()
        self.queue.append(marker)
        self._wake.set()
        return marker.event.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush (up to ``timeout`` seconds) and stop the writer; what is left is dropped."""
        if self._closed:
            return
        self._closed = True
        flushed = self.flush(timeout)
        self._stop = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not flushed:
            lost = self.pending
            self.queue.clear()
            self._dropped += lost
            logger.error(
                "pymetrix: %s: closed with %d hits not written (store unavailable)",
                self._describe,
                lost,
            )

    # -- the writer thread -----------------------------------------------------------

    def _take(self) -> tuple[list[Hit], list[_Marker]]:
        """The next batch and the flush markers it completes."""
        queue = self.queue
        batch: list[Hit] = []
        markers: list[_Marker] = []
        popleft = queue.popleft
        limit = self._batch_size
        while len(batch) < limit:
            try:
                item = popleft()
            except IndexError:
                break
            if isinstance(item, _Marker):
                markers.append(item)
                # Markers end a batch so that flush() returns as soon as possible.
                break
            batch.append(item)
        return batch, markers

    def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            while True:
                self._busy = True
                batch, markers = self._take()
                self._hold(len(batch))
                if not batch and not markers:
                    self._busy = False
                    break
                try:
                    if batch:
                        self._write(batch)
                except Exception as exc:
                    # Put everything back, in order, and retry later: no hit is lost
                    # or written twice, since a failed write wrote nothing.
                    self.queue.extendleft(reversed([*batch, *markers]))
                    self._hold(0)
                    self._busy = False
                    self._report(exc)
                    if self._stop:
                        return
                    time.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                self._hold(0)
                backoff = _MIN_BACKOFF
                if self._failing:
                    self._failing = False
                    logger.warning("pymetrix: %s: writing again", self._describe)
                for marker in markers:
                    marker.event.set()
            if self._stop:
                return
            if self._maintain is not None:
                self._run_maintenance()

    def _hold(self, count: int) -> None:
        """Note that the writer holds ``count`` hits out of the queue."""
        self._inflight = count
        self.wake_at = max(1, min(self._batch_size, self._max_buffer - count))

    def _run_maintenance(self) -> None:
        assert self._maintain is not None
        try:
            self._maintain()
        except Exception as exc:
            if not self._maintain_failing:
                self._maintain_failing = True
                logger.error("pymetrix: %s: retention cleanup failed: %s", self._describe, exc)
        else:
            self._maintain_failing = False

    def _report(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            logger.error(
                "pymetrix: %s: cannot write hits, keeping them buffered and retrying: %s",
                self._describe,
                exc,
            )

    def _after_fork_in_child(self) -> None:
        # What the parent queued is the parent's to write: written here too it would
        # count twice. The writer thread did not survive the fork; start a new one.
        self.queue = deque()
        if not self._closed:
            self._start()


class Managed(Protocol):
    """What :func:`manage` looks after: closed at exit, told about a fork."""

    def close(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_managed: weakref.WeakSet[Any] = weakref.WeakSet()


def manage(obj: Managed) -> None:
    """Close ``obj`` at interpreter exit and call its fork hook in a forked child."""
    _managed.add(obj)


def _close_all_at_exit() -> None:
    for obj in list(_managed):
        try:
            obj.close()
        except Exception:
            logger.exception("pymetrix: could not close %r at exit", obj)


def _restart_all_in_child() -> None:
    for obj in list(_managed):
        obj._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_all_in_child)
