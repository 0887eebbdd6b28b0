"""The in-memory store: compact typed columns, exact counts, bounded retention."""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from operator import itemgetter

from ..clock import Clock, SystemClock
from ..errors import InvalidArgument, StoreClosed
from ._codec import (
    KEY_MASK,
    KEY_SHIFT,
    MAX_MICROSECONDS,
    STATUS_BITS,
    STATUS_MASK,
    unpack_duration,
)
from ._lifecycle import after_fork
from ._rollup import MINUTE, TIERS, Horizons, Rollups, Tiers, roll
from ._waiting import Waiters, WaitingSubscription
from .base import AppCount, Backlog, EdgeCount, HitColumns, LiveHit, NodeCount, Query, Snapshot

__all__ = ["MemoryStore"]

_NEVER = 1 << 62
_MIN_NS = -(1 << 63)
# An extra too wide for its 4-byte column is kept aside, keyed by position; this mark
# (status bits 1023, which no status has) stands in its place in the column.
_WIDE = 0xFFFFFFFF
# Hits staged before they move to the columns: a bound on the work one append may do.
_STAGE = 1024
_time_of = itemgetter(0)
_key_of = itemgetter(1)
_extra_of = itemgetter(2)
_SHIFT = KEY_SHIFT
_MASK = KEY_MASK
_STATUS_BITS = STATUS_BITS
_MAX_MICROSECONDS = MAX_MICROSECONDS


class MemoryStore:
    """Hits kept in this process in three packed columns, 14 bytes a hit.

    A hit's time is an int64; its caller->node edge a 2-byte index into the edges seen
    (4 bytes once there are more than 65,535 of them); its duration and status packed in
    4 bytes (``_codec``'s extra, which fits for durations up to 4.19 s; a longer one is
    kept aside by position). Recording stages each hit with one atomic list append,
    without a lock; staged hits move to the columns in batches, and counts per node and
    per edge are brought up to date from the columns when they are read.

    Args:
        retention: drop per-hit entries older than this (counts stay exact).
        max_events: keep at most this many per-hit entries (counts stay exact).
        clock: the clock retention is measured against.
        rollup_retention: drop rollups older than this (default: keep them; see
            ``_rollup`` for each tier's own bound).
        app: the app whose hits these are, as :meth:`apps` lists it.
    """

    resumable = True
    blocking_reads = False

    def __init__(
        self,
        *,
        retention: timedelta | None = None,
        max_events: int = 10_000_000,
        clock: Clock | None = None,
        rollup_retention: timedelta | None = None,
        app: str = "default",
    ) -> None:
        if not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 1:
            raise InvalidArgument("max_events", max_events, "an int >= 1")
        self.app = app
        self._tiers = Tiers(_nanoseconds(rollup_retention))
        self._rolled = 0  # position up to which the tiers include hits
        self._next_expiry = 0
        self._retention_ns = _nanoseconds(retention)
        self._max_events = max_events
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        # Every name seen, as node or caller, and the subset that has been hit.
        self._index: dict[str, int] = {}
        self._hit_index: dict[str, int] = {}
        self._names: list[str] = []
        self._order: list[int] = []
        self._first: dict[int, int] = {}
        self._times = array("q")
        self._edges = array("H")
        self._extras = array("I")
        self._wide: dict[int, int] = {}  # position -> extra too wide for ``_extras``
        # Edge index -> packed key (``_codec``), and back; a new key gets the next index.
        self._edge_keys: list[int] = []
        self._edge_of = _EdgeIndex(self._edge_keys)
        self._stage: list[tuple[int, int, int]] = []
        self._closed = False
        self._base = 0  # position of the oldest retained hit since the store began
        self._counted = 0  # position up to which the counts below include hits
        self._edge_counts: dict[int, int] = {}
        self._node_counts: list[int] = []
        self._trimmed: list[int] = []
        self._last = -_NEVER
        self._next_check = self._check_after(0)
        self._waiters = Waiters()
        after_fork(self)

    # -- recording -------------------------------------------------------------------

    def append(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        n = self._hit_index.get(node)
        if n is None:
            n = self._first_hit(node, time_ns)
        if caller is None:
            key = n
        else:
            c = self._index.get(caller)
            if c is None:
                c = self._intern(caller)
            key = (c + 1) << _SHIFT | n
        # pack_extra (``_codec``), inlined: this runs once per hit.
        extra = status or 0
        if duration is not None:
            extra |= (min(round(duration * 1e6), _MAX_MICROSECONDS) + 1) << _STATUS_BITS
        # No lock here: appending one tuple to a list is atomic, so threads recording at
        # once never wait for each other (a lock taken per hit turns into a convoy of
        # waiting threads). Staged hits move to the columns in batches.
        stage = self._stage
        stage.append((time_ns, key, extra))
        if len(stage) >= _STAGE:
            with self._lock:
                self._drain()
        if self._waiters.callbacks:
            self._waiters.wake_all()

    def _intern(self, name: str) -> int:
        with self._lock:
            return self._intern_locked(name)

    def _intern_locked(self, name: str) -> int:
        n = self._index.get(name)
        if n is None:
            n = len(self._names)
            self._names.append(name)
            self._node_counts.append(0)
            self._trimmed.append(0)
            self._index[name] = n
        return n

    def _first_hit(self, name: str, time_ns: int) -> int:
        with self._lock:
            n = self._hit_index.get(name)
            if n is None:
                if self._closed:
                    raise StoreClosed("memory://")
                n = self._intern_locked(name)
                self._first[n] = max(time_ns, self._last)
                self._order.append(n)
                self._hit_index[name] = n
            return n

    # -- counts and retention --------------------------------------------------------

    def _drain(self) -> None:
        """Move the staged hits to the columns, in time order. Lock held."""
        stage = self._stage
        staged = len(stage)
        if not staged:
            return
        # Hits staged meanwhile land after position ``staged`` and stay staged.
        batch = stage[:staged]
        del stage[:staged]
        # Two threads may read the clock in one order and stage in the other: sorting
        # (stable, and linear on nearly sorted data) restores time order, and clamping
        # keeps it across batches, so reads need no sort.
        batch.sort(key=_time_of)
        last = self._last
        if batch[0][0] < last:
            for i, (time_ns, key, extra) in enumerate(batch):
                if time_ns >= last:
                    break
                batch[i] = (last, key, extra)
        self._last = batch[-1][0]
        self._add_edges(batch)
        self._add_extras(batch)
        self._times.extend(map(_time_of, batch))
        if len(self._times) >= self._next_check:
            self._maintain(self._last)

    def _add_edges(self, batch: list[tuple[int, int, int]]) -> None:
        edges = self._edges
        size = len(edges)
        try:
            edges.extend(map(self._edge_of.__getitem__, map(_key_of, batch)))
        except OverflowError:  # more than 65,535 edges: widen the column to 4 bytes
            del edges[size:]
            self._edges = array("I", edges)
            self._edges.extend(map(self._edge_of.__getitem__, map(_key_of, batch)))

    def _add_extras(self, batch: list[tuple[int, int, int]]) -> None:
        extras = self._extras
        size = len(extras)
        try:
            extras.extend(map(_extra_of, batch))
        except OverflowError:  # a duration above 4.19 s: keep its extra aside
            del extras[size:]
            position = self._base + size
            for i, (_, _, extra) in enumerate(batch):
                if extra >= _WIDE:
                    self._wide[position + i] = extra
                    extra = _WIDE
                extras.append(extra)

    def _extras_of(self, lo: int, hi: int) -> Sequence[int]:
        """The packed extras of positions ``[lo, hi)``, wide ones put back. Lock held."""
        extras = self._extras[lo:hi]
        if not self._wide:
            return extras
        base = self._base
        found = [(p - base - lo, x) for p, x in self._wide.items() if lo <= p - base < hi]
        if not found:
            return extras
        whole = array("q", extras)
        for i, x in found:
            whole[i] = x
        return whole

    def _keys_of(self, lo: int, hi: int) -> list[int]:
        """The packed keys of positions ``[lo, hi)``. Lock held."""
        return list(map(self._edge_keys.__getitem__, self._edges[lo:hi]))

    def _sync(self, drain: bool = True) -> None:
        """Add the hits recorded since the last read to the counts (staged ones too
        unless ``drain`` is false). Lock held."""
        if drain:
            self._drain()
        start = self._counted - self._base
        if start >= len(self._edges):
            return
        edges, nodes, keys = self._edge_counts, self._node_counts, self._edge_keys
        for edge, hits in Counter(self._edges[start:]).items():
            key = keys[edge]
            edges[key] = edges.get(key, 0) + hits
            nodes[key & _MASK] += hits
        self._counted = self._base + len(self._edges)

    def _roll(self) -> None:
        """Add the hits recorded since the last roll to the tiers. Lock held."""
        self._drain()
        start = self._rolled - self._base
        if start >= len(self._times):
            return
        end = len(self._times)
        columns = HitColumns.packed(
            self._names,
            self._times[start:],
            self._keys_of(start, end),
            self._extras_of(start, end),
        )
        self._tiers.add(roll(columns, MINUTE))
        self._rolled = self._base + len(self._times)
        now = self._last
        if now >= self._next_expiry:
            self._tiers.expire(now)
            self._next_expiry = now + MINUTE

    def _check_after(self, length: int) -> int:
        if self._retention_ns is None:
            return self._max_events + 1
        return min(self._max_events + 1, length + 1024)

    def _maintain(self, now_ns: int) -> None:
        """Trim the oldest entries past ``max_events`` or ``retention``. Lock held."""
        times = self._times
        if len(times) < self._next_check and self._retention_ns is None:
            return  # another thread trimmed already
        drop = 0
        if len(times) > self._max_events:
            # Trim an eighth at once so that trimming costs O(1) amortised per hit.
            drop = len(times) - self._max_events + self._max_events // 8
        if self._retention_ns is not None:
            drop = max(drop, bisect_left(times, now_ns - self._retention_ns))
        if drop:
            self._sync()
            self._roll()
            drop = min(drop, len(times))
            trimmed, keys = self._trimmed, self._edge_keys
            for edge, hits in Counter(self._edges[:drop]).items():
                trimmed[keys[edge] & _MASK] += hits
            del times[:drop]
            del self._edges[:drop]
            del self._extras[:drop]
            self._base += drop
            if self._wide:
                base = self._base
                self._wide = {p: x for p, x in self._wide.items() if p >= base}
        self._next_check = self._check_after(len(times))

    # -- reading ---------------------------------------------------------------------

    def _window(self, query: Query) -> tuple[int, int]:
        """The retained positions ``[lo, hi)`` inside the query's time window. Lock held."""
        self._drain()
        if self._retention_ns is not None:
            self._maintain(self._clock.time_ns())
        times = self._times
        lo = 0 if query.since_ns is None else bisect_left(times, query.since_ns)
        hi = len(times) if query.until_ns is None else bisect_left(times, query.until_ns)
        return lo, max(lo, hi)

    def _wanted(self, query: Query) -> set[int] | None:
        if query.ids is None:
            return None
        index = self._index
        return {index[name] for name in query.ids if name in index}

    def _totals(self, wanted: set[int] | None, drain: bool = True) -> list[NodeCount]:
        """Exact all-time counts in first-hit order (of the hits in the columns only,
        unless ``drain``). Lock held."""
        self._sync(drain)
        names, counts, first = self._names, self._node_counts, self._first
        return [
            NodeCount(names[n], counts[n], first[n])
            for n in self._order
            if wanted is None or n in wanted
        ]

    def snapshot(self, query: Query) -> Snapshot:
        wanted = self._wanted(query)
        with self._lock:
            lo, hi = self._window(query)
            names = list(self._names)
            times: Sequence[int] = self._times[lo:hi]
            keys: Sequence[int] = self._keys_of(lo, hi)
            extras = self._extras_of(lo, hi)
            # The hits staged since ``_window`` drained are in neither: threads record
            # without the lock, and the counts must be those of the entries.
            totals = None if query.windowed else self._totals(wanted, drain=False)
        if wanted is not None:
            keep = [i for i, key in enumerate(keys) if key & _MASK in wanted]
            times = [times[i] for i in keep]
            keys = [keys[i] for i in keep]
            extras = [extras[i] for i in keep]
        columns = HitColumns.packed(names, times, keys, extras)
        if totals is None:
            totals = columns.node_counts()
        return Snapshot(nodes=totals, hits=columns)

    def counts(self, query: Query) -> list[NodeCount]:
        if not query.windowed:
            wanted = self._wanted(query)
            with self._lock:
                return self._totals(wanted)
        return self.snapshot(query).nodes

    def edges(self, query: Query) -> list[EdgeCount]:
        wanted = self._wanted(query)
        with self._lock:
            names = list(self._names)
            if query.windowed:
                lo, hi = self._window(query)
                keys = self._edge_keys
                pairs = [(keys[e], hits) for e, hits in Counter(self._edges[lo:hi]).items()]
            else:
                self._sync()
                pairs = list(self._edge_counts.items())
        result = []
        for key, hits in pairs:
            n = key & _MASK
            if wanted is not None and n not in wanted:
                continue
            c = (key >> _SHIFT) - 1
            result.append(EdgeCount(None if c < 0 else names[c], names[n], hits))
        return result

    def apps(self) -> list[AppCount]:
        """The one app this store holds, with its hits and the times of its first and last."""
        with self._lock:
            self._sync()
            hits = sum(self._node_counts)
            first = min(self._first.values(), default=None)
            last = self._last if hits else None
        return [AppCount(self.app, hits, first, last)]

    # -- rollups ---------------------------------------------------------------------

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
        with self._lock:
            self._roll()
            rows = self._tiers.read(size, lo, hi, ids, sketches or quantiles)
        if not edges:
            rows.edges = {}
        return rows

    def horizons(self) -> Horizons:
        with self._lock:
            self._drain()
            if self._retention_ns is not None:
                self._maintain(self._clock.time_ns())
            # Per-hit data is whole from the oldest retained hit on, once some were
            # trimmed (hits of that very time may have gone with them).
            raw = self._times[0] + 1 if self._base and len(self._times) else _MIN_NS
            if self._base and not len(self._times):
                raw = self._last + 1
            # Tiers age by the time of the hits recorded, not the clock.
            now = self._last
            tiers = self._tiers
            return Horizons(raw, {size: tiers.horizon(size, now) for size in TIERS})

    # -- live ------------------------------------------------------------------------

    def subscribe(self, after: int | None = None) -> _MemorySubscription:
        return _MemorySubscription(self, after)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        return 0

    def backlog(self) -> Backlog:
        """Nothing waits: a hit is stored when recorded."""
        return Backlog()

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        """Refuse further hits (:class:`~pymetrix.errors.StoreClosed`); reads go on."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._drain()
            # The hot path appends to whatever list ``_stage`` is, without a check.
            self._stage = _ClosedStage()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        """Per-hit entries retained now."""
        return len(self._times) + len(self._stage)

    def _after_fork_in_child(self) -> None:
        # Another thread may have held the lock at fork(): the child must not inherit it.
        self._lock = threading.Lock()
        self._waiters = Waiters()


class _MemorySubscription(WaitingSubscription):
    """Reads the store's columns from a position; a slow reader never holds up recording."""

    def __init__(self, store: MemoryStore, after: int | None = None) -> None:
        self._store = store
        with store._lock:
            store._sync()
            end = store._base + len(store._times)
            seen = list(store._node_counts)
            if after is None or after >= end:
                self._cursor = end
            else:
                # ``seq`` is 1-based: hit ``seq`` sits at position ``seq - 1``.
                self._cursor = max(0, after)
                if self._cursor >= store._base:
                    # Node totals as they stood right after hit ``after``.
                    keys = store._edge_keys
                    for edge in store._edges[self._cursor - store._base :]:
                        seen[keys[edge] & _MASK] -= 1
            self._seen = seen
        super().__init__(store._waiters)

    def read(self, limit: int) -> list[LiveHit]:
        store = self._store
        if self.closed:
            return []
        with store._lock:
            store._drain()
            if self._cursor < store._base:
                # Retention removed hits before we read them: count them, and restart
                # the per-node totals from what had been trimmed.
                self._dropped += store._base - self._cursor
                self._cursor = store._base
                self._seen = list(store._trimmed)
            lo = self._cursor - store._base
            seq = self._cursor
            hi = min(len(store._times), lo + limit)
            if hi <= lo:
                return []
            times = store._times[lo:hi]
            keys = store._keys_of(lo, hi)
            extras = store._extras_of(lo, hi)
            names = list(store._names)
            first = dict(store._first)
            self._cursor += hi - lo
        seen = self._seen
        if len(seen) < len(names):
            seen.extend([0] * (len(names) - len(seen)))
        out = []
        for t, key, extra in zip(times, keys, extras):
            n = key & _MASK
            c = (key >> _SHIFT) - 1
            seen[n] += 1
            seq += 1
            out.append(
                LiveHit(
                    time_ns=t,
                    node=names[n],
                    caller=None if c < 0 else names[c],
                    duration=unpack_duration(extra),
                    status=extra & STATUS_MASK or None,
                    node_hits=seen[n],
                    node_first_ns=first[n],
                    seq=seq,
                )
            )
        return out

    def _pending(self) -> bool:
        store = self._store
        return self.closed or self._cursor < store._base + len(store._times) + len(store._stage)


class _EdgeIndex(dict[int, int]):
    """Packed key -> edge index; a key not seen before gets the next index."""

    __slots__ = ("_keys",)

    def __init__(self, keys: list[int]) -> None:
        super().__init__()
        self._keys = keys

    def __missing__(self, key: int) -> int:
        edge = self[key] = len(self._keys)
        self._keys.append(key)
        return edge


def _nanoseconds(delta: timedelta | None) -> int | None:
    return None if delta is None else delta // timedelta(microseconds=1) * 1000


class _ClosedStage(list[tuple[int, int, int]]):
    """The stage of a closed store: always empty, refusing every hit."""

    def append(self, hit: tuple[int, int, int]) -> None:
        raise StoreClosed("memory://")
