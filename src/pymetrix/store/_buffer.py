"""The background writer shared by persistent stores.

Recording extends a flat list by the hit's five fields under a lock held for three
statements (no I/O, no allocation but the tuple); a named daemon thread swaps the list
for an empty one and hands its hits, in batches, to the store's ``write`` function, as
columns sliced out of the flat list. A failed batch goes back to the front and is retried
with backoff; what exceeds the bound is counted as dropped. The writer is re-created in a
forked child, flushed at interpreter exit, and never lets an exception escape.
"""

from __future__ import annotations

import atexit
import logging
import operator
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from multiprocessing import util as multiprocessing_util
from typing import Any, Protocol

from ._exit import end_by_deferred_signal, watch_sigterm

__all__ = ["BatchWriter", "Columns", "Managed", "manage"]

logger = logging.getLogger("pymetrix")

Columns = tuple[
    Sequence[int],
    Sequence[str],
    Sequence["str | None"],
    Sequence["float | None"],
    Sequence["int | None"],
]
"""A batch as columns: times (ns, non-decreasing), nodes, callers, durations, statuses."""

FIELDS = 5
_time_of = operator.itemgetter(0)
_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 5.0


class BatchWriter:
    """Batches recorded hits into calls of ``write(columns)`` on a background thread.

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
        write: Callable[[Columns], None],
        describe: str,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 50_000,
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
        self._dropped = 0
        self._failing = False
        self._maintain_failing = False
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._lock = threading.Lock()
        # Hits as a flat list, five fields each: extending it and slicing columns out
        # of it are both single C calls.
        self._buffer: list[Any] = []
        self._last = 0
        # Flush requests waiting for the hits queued before them: (event, generation).
        self._markers: list[threading.Event] = []
        self._inflight = 0
        self.wake_at = FIELDS * min(self._batch_size, self._max_buffer)
        self._wake = threading.Event()
        self._stop = False
        self._busy = False
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
        # No lock: extending a list by a tuple is one atomic C call, so threads recording
        # at once never queue behind each other. The writer restores time order.
        buffer = self._buffer
        buffer += (time_ns, node, caller, duration, status)
        if len(buffer) >= self.wake_at:
            self._full()

    def _full(self) -> None:
        with self._lock:
            limit = FIELDS * max(0, self._max_buffer - self._inflight)
            buffer = self._buffer
            excess = (len(buffer) - limit) // FIELDS
            if excess > 0:
                # The newest hits fall past the bound; the batch the writer holds counts
                # too, as it goes back to the queue if its write fails.
                del buffer[limit:]
                self._dropped += excess
                dropped = self._dropped
            else:
                dropped = 0
        if dropped and (dropped == excess or dropped // 100_000 > (dropped - excess) // 100_000):
            logger.error(
                "pymetrix: %s: %s, %d hits dropped so far",
                self._describe,
                "closed" if self._closed else f"buffer of {self._max_buffer} hits full",
                dropped,
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
        """Hits recorded and not yet written."""
        return len(self._buffer) // FIELDS + self._inflight

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every hit recorded before this call is written."""
        event = threading.Event()
        with self._lock:
            if not self._buffer and not self._busy:
                return True
            self._markers.append(event)
        if not self._thread.is_alive():
            return False
        self._wake.set()
        return event.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush (up to ``timeout`` seconds) and stop the writer; what is left is dropped."""
        if self._closed:
            return
        self._closed = True
        self.flush(timeout)
        self._stop = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._lock:
            # Hits recorded after close have nowhere to go: count them as dropped.
            self._max_buffer = 0
            self.wake_at = FIELDS
            lost = self.pending
            del self._buffer[:]
        if lost:
            self._dropped += lost
            logger.error(
                "pymetrix: %s: closed with %d hits not written",
                self._describe,
                lost,
            )

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            while True:
                with self._lock:
                    # The list stays in place: hits appended meanwhile land after
                    # what is taken and stay queued.
                    buffer = self._buffer
                    taken = buffer[:]
                    del buffer[: len(taken)]
                    markers, self._markers = self._markers, []
                    self._busy = bool(taken or markers)
                    self._hold(len(taken) // FIELDS)
                if not self._busy:
                    break
                taken = self._in_time_order(taken)
                step = FIELDS * self._batch_size
                done = 0
                try:
                    while done < len(taken):
                        batch = taken[done : done + step]
                        self._write(
                            (batch[0::5], batch[1::5], batch[2::5], batch[3::5], batch[4::5])
                        )
                        self._last = batch[-FIELDS]
                        done += len(batch)
                        with self._lock:
                            self._hold((len(taken) - done) // FIELDS)
                except Exception as exc:
                    # Put back what was not written, in front, and retry later: no hit
                    # is lost or written twice, since a failed write wrote nothing.
                    with self._lock:
                        self._buffer[0:0] = taken[done:]
                        self._markers[0:0] = markers
                        self._hold(0)
                        self._busy = False
                    self._report(exc)
                    if self._stop:
                        return
                    time.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                with self._lock:
                    self._hold(0)
                    self._busy = False
                backoff = _MIN_BACKOFF
                if self._failing:
                    self._failing = False
                    logger.warning("pymetrix: %s: writing again", self._describe)
                for event in markers:
                    event.set()
            if self._stop:
                return
            if self._maintain is not None:
                self._run_maintenance()

    def _in_time_order(self, taken: list[Any]) -> list[Any]:
        """``taken`` sorted by time, clamped to start at the last time written."""
        times = taken[0::FIELDS]
        if not times:
            return taken
        # Threads read the clock before queueing, so neighbours may be out of order.
        if times[0] < self._last or not all(map(operator.le, times, times[1:])):
            hits = sorted(zip(*(taken[i::FIELDS] for i in range(FIELDS))), key=_time_of)
            last = self._last
            taken = []
            for hit in hits:
                taken += hit if hit[0] >= last else (last, *hit[1:])
        return taken

    def _hold(self, count: int) -> None:
        """Note that the writer holds ``count`` hits out of the queue. Lock held."""
        self._inflight = count
        self.wake_at = FIELDS * max(1, min(self._batch_size, self._max_buffer - count))

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
        # count twice. The lock may have been held by a parent thread at fork time, and
        # the writer thread did not survive the fork: start afresh.
        if not self._closed:
            self._start()
        else:
            self._lock = threading.Lock()
            self._buffer = []


class Managed(Protocol):
    """What :func:`manage` looks after: closed at exit, told about a fork."""

    def close(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_managed: weakref.WeakSet[Any] = weakref.WeakSet()


def manage(obj: Managed) -> None:
    """Close ``obj`` at interpreter exit and call its fork hook in a forked child.

    Under uvicorn, also before its SIGTERM ends the process (see ``_exit``).
    """
    _managed.add(obj)
    watch_sigterm(_close_all_at_exit)


def _close_all_at_exit() -> None:
    for obj in list(_managed):
        try:
            obj.close()
        except Exception:
            logger.exception("pymetrix: could not close %r at exit", obj)
    end_by_deferred_signal()


def _restart_all_in_child() -> None:
    for obj in list(_managed):
        obj._after_fork_in_child()


def _close_at_multiprocessing_exit(_: object = None) -> None:
    # A multiprocessing child (uvicorn's workers among them) leaves through os._exit,
    # which skips atexit; multiprocessing runs its own finalizers first. Its registry is
    # emptied in every new child, so the finalizer is registered again there.
    multiprocessing_util.Finalize(None, _close_all_at_exit, exitpriority=100)


class _ForkToken:
    """Lives as long as this module: multiprocessing's after-fork hooks need an object."""


_FORK_TOKEN = _ForkToken()

atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_all_in_child)
_close_at_multiprocessing_exit()
multiprocessing_util.register_after_fork(_FORK_TOKEN, _close_at_multiprocessing_exit)
