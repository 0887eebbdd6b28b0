"""The background writer shared by persistent stores.

Recording extends a flat list by the hit's five fields without a lock (one atomic C
call). A named daemon thread swaps what is queued out of that list, sorts it by time and
cuts it into batches, each given a random id before its first attempt; it hands them, in
order, to the store's ``write(batch_id, columns)``. How a failed write is handled depends
on why it failed:

- a fault of the database (unreachable, locked, full, read-only): the batch stays at the
  front, unchanged and with the same id, and is retried with backoff. A retry after a lost
  reply (the connection dropped during COMMIT) finds its id already stored, and the store
  takes it as written, so no hit is stored twice.
- a fault of the batch itself (data the database refuses): retrying cannot help, so the
  batch is split to isolate the hits at fault, which are set aside in a bounded
  quarantine (logged, counted as dropped) while writing goes on.

What exceeds ``max_buffer`` is counted as dropped (or, with ``overflow="block"``, makes
recording wait). The writer is re-created in a forked child (its store's lifecycle, in
``_lifecycle.py``, calls it) and never lets an exception escape. Hits recorded after
``close()`` are refused with :class:`~pymetrix.errors.StoreClosed`.

Recording takes no lock: ``buffer += (five fields)`` is one C call, which the GIL makes
atomic, so threads recording at once never wait for each other, and the writer takes
what is there under its lock with one slice and one ``del``. That is the one invariant
this module leans on; everything else that more than one thread touches is changed under
``_lock`` (the queue, flush markers, the bound) or ``_stats_lock`` (dropped, quarantine).
"""

from __future__ import annotations

import logging
import operator
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..clock import Clock
from ..errors import InvalidArgument, StoreClosed
from .base import Backlog, QuarantinedBatch

__all__ = ["BatchWriter", "Columns", "QuarantinedBatch", "WrittenByBatches", "check_options"]

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
# Hits the quarantine keeps for inspection at most; past that they are only counted.
QUARANTINE_HITS = 10_000


class _Batch:
    """Hits written in one transaction, as a flat list of fields, under one id."""

    __slots__ = ("budget", "hits", "id")

    def __init__(self, hits: list[Any], budget: list[int]) -> None:
        self.id = _new_id()
        self.hits = hits
        # Failed attempts left to the batch it was split from, shared by its pieces.
        self.budget = budget

    def __len__(self) -> int:
        return len(self.hits) // FIELDS

    def columns(self) -> Columns:
        hits = self.hits
        return (hits[0::5], hits[1::5], hits[2::5], hits[3::5], hits[4::5])


def _new_id() -> int:
    # Random, so that processes writing one database never pick the same: 63 bits fit a
    # signed 64-bit column, and a collision within a retention window is unthinkable.
    return int.from_bytes(os.urandom(8), "little") >> 1


class BatchWriter:
    """Batches recorded hits into calls of ``write(batch_id, columns)`` on a thread.

    Args:
        name: the thread's name, for debuggers and logs.
        write: writes a batch in one transaction; raises on failure (nothing written). A
            batch whose id is stored already is not written again, and that is success.
        describe: the store as shown in log messages (its URL, password masked).
        flush_interval: seconds between writes when fewer than ``batch_size`` are queued.
        batch_size: hits per write at most; a full batch wakes the writer at once.
        max_buffer: hits kept queued at most while writes fail; newer ones are dropped.
        maintain: called on the writer thread after each write (retention); may raise.
        retryable: whether a write's exception is a fault of the database, which a
            retry may outlast (default: every exception is).
        overflow: what recording does when ``max_buffer`` hits are queued: ``"drop"``
            the newest (counted in ``dropped``), or ``"block"`` until the writer has
            stored enough to make room (then recording waits on the database).
    """

    def __init__(
        self,
        name: str,
        write: Callable[[int, Columns], None],
        describe: str,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 50_000,
        max_buffer: int = 1_000_000,
        maintain: Callable[[], None] | None = None,
        retryable: Callable[[BaseException], bool] | None = None,
        overflow: str = "drop",
    ) -> None:
        check_options(flush_interval, batch_size, max_buffer, overflow)
        self._block = overflow == "block"
        self._name = name
        self._write = write
        self._describe = describe
        self._interval = flush_interval
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._maintain = maintain
        self._retryable = retryable or _always
        self._stats_lock = threading.Lock()
        self._dropped = 0
        self._quarantined = 0
        self._quarantine: deque[QuarantinedBatch] = deque()
        self._quarantine_kept = 0
        self._failing = False
        self._maintain_failing = False
        self._closed = False
        self._start()

    def _start(self) -> None:
        self._lock = threading.Lock()
        # Recording threads blocked on a full buffer wait here for the writer.
        self._room = threading.Condition(self._lock)
        # Hits as a flat list, five fields each: extending it and slicing columns out
        # of it are both single C calls.
        self._buffer: list[Any] = []
        # Batches formed and not yet written, in the order they must be written. Only
        # the writer thread changes it; its size is kept in ``_inflight``.
        self._queue: deque[_Batch] = deque()
        self._last = -(1 << 63)
        # Flush requests waiting for the hits queued before them.
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
        # No lock: extending a list by a tuple is one atomic C call under the GIL, so
        # threads recording at once never queue behind each other. The writer restores
        # time order.
        buffer = self._buffer
        buffer += (time_ns, node, caller, duration, status)
        if len(buffer) >= self.wake_at:
            self._full()

    def _full(self) -> None:
        with self._lock:
            buffer = self._buffer
            if self._closed:
                # The hit just appended is refused; any beside it came in the moment
                # between the last flush and close, and are lost.
                lost = len(buffer) // FIELDS - 1
                del buffer[:]
                if lost > 0:
                    self._count_dropped(lost)
                raise StoreClosed(self._describe)
            limit = FIELDS * max(0, self._max_buffer - self._inflight)
            if self._block and len(buffer) > limit:
                self._wait_for_room()
                return
            excess = (len(buffer) - limit) // FIELDS
            if excess > 0:
                # The newest hits fall past the bound; the batches the writer holds count
                # too, as they stay queued while their writes fail.
                del buffer[limit:]
        if excess > 0:
            dropped = self._count_dropped(excess)
            if dropped == excess or dropped // 100_000 > (dropped - excess) // 100_000:
                logger.error(
                    "pymetrix: %s: buffer of %d hits full, %d hits dropped so far",
                    self._describe,
                    self._max_buffer,
                    dropped,
                )
        self._wake.set()

    def _wait_for_room(self) -> None:
        """Hold the recording thread until the queue is within its bound. Lock held."""
        self._wake.set()
        while not self._closed and len(self._buffer) > FIELDS * max(
            0, self._max_buffer - self._inflight
        ):
            # A timeout, so that a writer thread gone (it never is) cannot hang us.
            self._room.wait(0.5)
            self._wake.set()

    def _count_dropped(self, count: int) -> int:
        with self._stats_lock:
            self._dropped += count
            return self._dropped

    # -- state -----------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Hits lost for good: past the buffer's bound, set aside, or left at close."""
        return self._dropped

    @property
    def quarantined(self) -> int:
        """Hits set aside because the store refused them (counted in ``dropped`` too)."""
        return self._quarantined

    @property
    def quarantine(self) -> list[QuarantinedBatch]:
        """The hits set aside, oldest first, up to a bound of their own."""
        with self._stats_lock:
            return list(self._quarantine)

    @property
    def failing(self) -> bool:
        """Whether the last write failed (and is being retried)."""
        return self._failing

    def mark_failing(self) -> None:
        """Report writes as failing before any is tried: the store cannot reach its
        database and said so in its log. Cleared by :meth:`mark_recovered` or the next
        write that succeeds."""
        self._failing = True

    def mark_recovered(self) -> None:
        """The database is reachable again: stop reporting writes as failing, and write
        what is queued now."""
        self._failing = False
        self._wake.set()

    @property
    def pending(self) -> int:
        """Hits recorded and not yet written."""
        return len(self._buffer) // FIELDS + self._inflight

    @property
    def oldest_ns(self) -> int | None:
        """The time of the oldest hit recorded and not yet written, if any."""
        queue = self._queue
        try:
            if queue:
                return int(queue[0].hits[0])
            return int(self._buffer[0])
        except IndexError:  # written meanwhile
            return None

    def backlog(self, now_ns: int) -> Backlog:
        """What is queued, how old its oldest hit is at ``now_ns``, and what was lost."""
        oldest = self.oldest_ns
        age = 0.0 if oldest is None else max(0, now_ns - oldest) / 1e9
        return Backlog(
            queued=self.pending,
            oldest_age=age,
            dropped=self.dropped,
            quarantined=self.quarantined,
            failing=self.failing,
        )

    # -- flushing --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every hit recorded before this call is written or set aside."""
        event = threading.Event()
        with self._lock:
            if not self._buffer and not self._busy and not self._queue:
                return True
            self._markers.append(event)
        if not self._thread.is_alive():
            return False
        self._wake.set()
        return event.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush (up to ``timeout`` seconds) and stop the writer; what is left is dropped.

        Hits recorded afterwards are refused with :class:`~pymetrix.errors.StoreClosed`.
        """
        if self._closed:
            return
        self.flush(timeout)
        with self._lock:
            self._closed = True
            # Every append now goes through _full(), which refuses it.
            self.wake_at = 0
            self._room.notify_all()
        self._stop = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._lock:
            lost = len(self._buffer) // FIELDS + sum(map(len, self._queue))
            del self._buffer[:]
            self._queue.clear()
            self._inflight = 0
        if lost:
            self._count_dropped(lost)
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
                    self._busy = bool(taken or markers or self._queue)
                    self._hold(self._inflight + len(taken) // FIELDS)
                if not self._busy:
                    break
                if taken:
                    self._form(taken)
                failure = self._write_queue()
                with self._lock:
                    self._busy = False
                    self._hold(sum(map(len, self._queue)))
                    if failure is not None:
                        self._markers[0:0] = markers
                if failure is not None:
                    self._report(failure)
                    if self._stop:
                        return
                    time.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
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

    def _form(self, taken: list[Any]) -> None:
        """Queue ``taken`` as batches: sorted by time, after every batch formed before."""
        times = taken[0::FIELDS]
        # Threads read the clock before queueing, so neighbours may be out of order.
        if times[0] < self._last or not all(map(operator.le, times, times[1:])):
            hits = sorted(zip(*(taken[i::FIELDS] for i in range(FIELDS))), key=_time_of)
            last = self._last
            taken = []
            for hit in hits:
                taken += hit if hit[0] >= last else (last, *hit[1:])
        self._last = taken[-FIELDS]
        step = FIELDS * self._batch_size
        for start in range(0, len(taken), step):
            hits = taken[start : start + step]
            self._queue.append(_Batch(hits, [_split_budget(len(hits) // FIELDS)]))

    def _write_queue(self) -> BaseException | None:
        """Write the queued batches in order; the fault of the database that stopped it."""
        queue = self._queue
        while queue:
            batch = queue[0]
            try:
                self._write(batch.id, batch.columns())
            except Exception as exc:
                if self._retryable(exc):
                    return exc
                self._set_aside(exc)
                continue
            queue.popleft()
            with self._lock:
                self._hold(self._inflight - len(batch))
        return None

    def _set_aside(self, exc: BaseException) -> None:
        """Split the refused batch at the queue's front to isolate the hits at fault.

        Halves go back to the front under new ids (a refused write stored nothing); a
        piece of one hit, or one whose batch spent its budget of failed writes, is put
        in quarantine.
        """
        batch = self._queue.popleft()
        batch.budget[0] -= 1
        count = len(batch)
        if count > 1 and batch.budget[0] > 0:
            half = FIELDS * (count // 2)
            self._queue.appendleft(_Batch(batch.hits[half:], batch.budget))
            self._queue.appendleft(_Batch(batch.hits[:half], batch.budget))
            return
        hits = batch.hits
        error = f"{type(exc).__name__}: {exc}"
        with self._stats_lock:
            room = max(0, QUARANTINE_HITS - self._quarantine_kept)
            kept = tuple(zip(*(hits[i : FIELDS * room : FIELDS] for i in range(FIELDS))))
            self._quarantine.append(QuarantinedBatch(kept, count, error, time.time()))
            self._quarantine_kept += len(kept)
            self._quarantined += count
            self._dropped += count
        with self._lock:
            self._hold(self._inflight - count)
        logger.error(
            "pymetrix: %s: %d hits set aside, as the store refuses them (%s); "
            "writing goes on. First: %r",
            self._describe,
            count,
            error,
            tuple(hits[:FIELDS]),
        )

    def _hold(self, count: int) -> None:
        """Note that the writer holds ``count`` hits out of the queue. Lock held."""
        self._inflight = count
        self._room.notify_all()
        if not self._closed:
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

    def _report(self, exc: BaseException) -> None:
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
            self._room = threading.Condition(self._lock)
            self._buffer = []
            self._queue = deque()
        self._stats_lock = threading.Lock()


def check_options(
    flush_interval: float, batch_size: int, max_buffer: int, overflow: str = "drop"
) -> None:
    """Raise :class:`~pymetrix.errors.InvalidArgument` for a writer option out of range."""
    if overflow not in ("drop", "block"):
        raise InvalidArgument("overflow", overflow, "'drop' or 'block'")
    if (
        not isinstance(flush_interval, (int, float))
        or isinstance(flush_interval, bool)
        or not 0 < flush_interval < 86_400
    ):
        raise InvalidArgument("flush_interval", flush_interval, "seconds, > 0 and < 86400")
    for name, value in (("batch_size", batch_size), ("max_buffer", max_buffer)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidArgument(name, value, "an int >= 1")


def _always(exc: BaseException) -> bool:
    return True


def _split_budget(count: int) -> int:
    # Enough failed writes to corner one bad hit by halving (two per halving), and a
    # few more; a batch mostly refused then goes to quarantine in a few large pieces.
    return 2 * count.bit_length() + 4


class WrittenByBatches:
    """``dropped``, ``backlog``, ``quarantine`` and ``flush`` of a store whose hits a
    :class:`BatchWriter` (``_writer``) writes, its backlog aged by its ``_clock``."""

    _writer: BatchWriter
    _clock: Clock

    @property
    def dropped(self) -> int:
        return self._writer.dropped

    def backlog(self) -> Backlog:
        """What this process has queued for the database, and what it lost."""
        return self._writer.backlog(self._clock.time_ns())

    @property
    def quarantine(self) -> list[QuarantinedBatch]:
        """Hits set aside because the database refused them, with the error."""
        return self._writer.quarantine

    def flush(self, timeout: float | None = None) -> bool:
        return self._writer.flush(timeout)
