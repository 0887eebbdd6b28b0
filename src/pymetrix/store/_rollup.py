"""Rollups: hits, errors and latency per time bucket and node, and hits per bucket and edge.

Every store keeps them in five tiers of buckets aligned to the epoch (UTC midnight for
days), so that a read over any range costs what its buckets cost, not its hits: 90 days
are 90 day rows per node, plus a few coarse rows and at most 4 six-hour, 5 hour, 11
five-minute and 4 minute rows at each end. Each tier is the bucket of a step a series
picks by itself (``_series.STEPS``), so that each of its buckets is one row. The tiers are
kept as follows (each bounded by the store's ``rollup_retention`` too):

============ ================== ==============================
tier         bucket             kept
============ ================== ==============================
minute       60 s               14 days
five minutes 300 s              90 days
hour         3,600 s            400 days
six hours    21,600 s           for ever
day          86,400 s           for ever
============ ================== ==============================

A node's row holds its hits, errors (status >= 500), hits with a duration, their sum,
its first hit's time in the bucket and a latency :class:`~pymetrix.store._sketch.Sketch`
(the SQL stores also keep the sketch's p50/p95/p99, so that a series whose step is the
tier's bucket reads three numbers per row instead of merging sketches);
an edge's row its hits and first time. All of them merge by adding (first times by
taking the least), so rows of any number of batches and processes add up to exactly the
rows of their hits, and a range is answered by merging the rows that cover it.

Reading a range ``[since, until)`` (:func:`plan`): the whole days inside it come from the
day tier, the whole hours around them from the hour tier, the whole minutes from the
minute tier, and the edges finer than a minute from the per-hit data, so the answer is
exact while that data is retained. Where a source is gone (retention), the next coarser
one answers, at its granularity: a bucket then belongs to the range when its start does.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress

from ._codec import KEY_MASK, KEY_SHIFT
from ._sketch import Sketch, has_numpy, quantiles_of, sketch_indexes
from .base import HitColumns

__all__ = [
    "DAY",
    "FIVE_MINUTES",
    "HORIZONS",
    "HOUR",
    "MINUTE",
    "SIX_HOURS",
    "RAW",
    "TIERS",
    "EdgeRollup",
    "Horizons",
    "Indexed",
    "NodeRollup",
    "Percentiles",
    "Piece",
    "Rollups",
    "percentiles",
    "plan",
    "roll",
    "roll_indexed",
    "roll_indexed_py",
    "rounded",
    "row_percentiles",
]

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
FIVE_MINUTES = 5 * MINUTE
SIX_HOURS = 6 * HOUR
TIERS = (MINUTE, FIVE_MINUTES, HOUR, SIX_HOURS, DAY)
"""Bucket sizes, finest first: each divides the next."""
RAW = 0
"""The source of a piece read from per-hit data."""
HORIZONS = {
    MINUTE: 14 * DAY,
    FIVE_MINUTES: 90 * DAY,
    HOUR: 400 * DAY,
    SIX_HOURS: None,
    DAY: None,
}
"""How long each tier is kept (None: for ever), before ``rollup_retention``."""

_MIN_NS = -(1 << 63)
_MAX_NS = (1 << 63) - 1


@dataclass(slots=True)
class NodeRollup:
    """One node's hits in one bucket (or merged over many).

    ``quantiles``: p50, p95 and p99 of the sketch, where a store keeps them for a row of
    one bucket; a row merged from several has none, and needs their sketches.
    """

    hits: int = 0
    errors: int = 0
    timed: int = 0
    duration_sum: float = 0.0
    first_ns: int = _MAX_NS
    sketch: Sketch = field(default_factory=Sketch)
    quantiles: tuple[float | None, float | None, float | None] | None = None

    def merge(self, other: NodeRollup) -> None:
        self.quantiles = None if self.hits else other.quantiles
        self.hits += other.hits
        self.errors += other.errors
        self.timed += other.timed
        self.duration_sum += other.duration_sum
        self.first_ns = min(self.first_ns, other.first_ns)
        self.sketch.merge(other.sketch)


@dataclass(slots=True)
class EdgeRollup:
    """One caller->node edge's hits in one bucket (or merged over many)."""

    hits: int = 0
    first_ns: int = _MAX_NS

    def merge(self, other: EdgeRollup) -> None:
        self.hits += other.hits
        self.first_ns = min(self.first_ns, other.first_ns)


@dataclass(slots=True)
class Rollups:
    """Rows by ``(bucket start, node)`` and ``(bucket start, caller, node)``, names as str."""

    nodes: dict[tuple[int, str], NodeRollup] = field(default_factory=dict)
    edges: dict[tuple[int, str | None, str], EdgeRollup] = field(default_factory=dict)

    def merge(self, other: Rollups, step: int | None = None) -> None:
        """Add ``other``'s rows, re-bucketed to ``step`` (None: all in one bucket, 0).
        Takes them over: ``other`` is not to be used after."""
        nodes, edges = self.nodes, self.edges
        if not nodes and not edges and _aligned(other, step):
            # Into nothing, in buckets of ``step`` already (a tier of the step's size):
            # the rows as they are, without a lookup each.
            nodes.update(other.nodes)
            edges.update(other.edges)
            return
        for (bucket, node), row in other.nodes.items():
            key = (_rebucket(bucket, step), node)
            mine = nodes.get(key)
            if mine is None:
                nodes[key] = row
            else:
                mine.merge(row)
        for (bucket, caller, node), edge in other.edges.items():
            edge_key = (_rebucket(bucket, step), caller, node)
            found = edges.get(edge_key)
            if found is None:
                edges[edge_key] = edge
            else:
                found.merge(edge)

    def copy(self) -> Rollups:
        """A deep copy: rows of their own."""
        out = Rollups()
        for key, row in self.nodes.items():
            out.nodes[key] = mine = NodeRollup()
            mine.merge(row)
        out.edges = {key: EdgeRollup(e.hits, e.first_ns) for key, e in self.edges.items()}
        return out


def _rebucket(bucket: int, step: int | None) -> int:
    return 0 if step is None else bucket - bucket % step


def _aligned(rollups: Rollups, step: int | None) -> bool:
    """Whether every row of ``rollups`` is in a bucket of ``step`` already."""
    if step is None:
        return False
    return not any(key[0] % step for key in rollups.nodes) and not any(
        key[0] % step for key in rollups.edges
    )


@dataclass(frozen=True, slots=True)
class Horizons:
    """From when each source is complete (ns): per-hit data, and each tier by its bucket
    size (a tier not given is complete); and until when, for tiers made late."""

    raw: int = _MIN_NS
    tiers: Mapping[int, int] = field(default_factory=dict)
    until: Mapping[int, int] = field(default_factory=dict)
    """Where a tier made as its buckets close stops: it holds only buckets starting
    before (a tier not given holds every bucket up to the newest hit)."""

    def of(self, source: int) -> int:
        return self.raw if source == RAW else self.tiers.get(source, _MIN_NS)

    def until_of(self, source: int) -> int:
        return _MAX_NS if source == RAW else self.until.get(source, _MAX_NS)


@dataclass(frozen=True, slots=True)
class Piece:
    """Read ``[lo, hi)`` from ``source``: the hits in it (``RAW``), or the rows of a tier
    (its bucket size) whose buckets start in it."""

    source: int
    lo: int
    hi: int


@dataclass(slots=True)
class Indexed:
    """Rollups keyed by name numbers, as stores keep them: ``(bucket, node)`` and
    ``(bucket, key)`` with the packed caller->node key (see ``_codec``)."""

    nodes: dict[tuple[int, int], NodeRollup] = field(default_factory=dict)
    edges: dict[tuple[int, int], EdgeRollup] = field(default_factory=dict)

    def coarsen(self, size: int) -> Indexed:
        """These rows in buckets of ``size`` ns (a multiple of theirs)."""
        out = Indexed()
        for (bucket, node), row in self.nodes.items():
            key = (bucket - bucket % size, node)
            mine = out.nodes.get(key)
            if mine is None:
                out.nodes[key] = mine = NodeRollup()
            mine.merge(row)
        for (bucket, packed), edge in self.edges.items():
            edge_key = (bucket - bucket % size, packed)
            found = out.edges.get(edge_key)
            if found is None:
                out.edges[edge_key] = found = EdgeRollup()
            found.merge(edge)
        return out

    def before(self, end: int) -> Indexed:
        """The rows of buckets starting before ``end`` (shared, not copied)."""
        return Indexed(
            {key: row for key, row in self.nodes.items() if key[0] < end},
            {key: edge for key, edge in self.edges.items() if key[0] < end},
        )

    def merge(self, other: Indexed) -> None:
        """Add ``other``'s rows (in the same buckets)."""
        for key, row in other.nodes.items():
            mine = self.nodes.get(key)
            if mine is None:
                self.nodes[key] = mine = NodeRollup()
            mine.merge(row)
        for edge_key, edge in other.edges.items():
            found = self.edges.get(edge_key)
            if found is None:
                self.edges[edge_key] = found = EdgeRollup()
            found.merge(edge)

    def named(self, names: Sequence[str]) -> Rollups:
        out = Rollups()
        for (bucket, node), row in self.nodes.items():
            out.nodes[bucket, names[node]] = row
        for (bucket, key), edge in self.edges.items():
            caller = (key >> KEY_SHIFT) - 1
            out.edges[bucket, None if caller < 0 else names[caller], names[key & KEY_MASK]] = edge
        return out


def roll_indexed(
    times: Sequence[int],
    keys: Sequence[int],
    durations: Sequence[float],
    statuses: Sequence[int],
    size: int,
    *,
    timed: bool = True,
    errors: bool = True,
) -> Indexed:
    """The rollups of hits in time order, in buckets of ``size`` ns; durations NaN and
    statuses 0 for none (``timed``/``errors`` False: the caller knows there are none).

    From ``NUMPY_MIN_HITS`` hits numpy's :func:`~._rollup_np.roll_indexed_np` computes
    them when numpy is there, else :func:`roll_indexed_py`: the same rows either way.
    """
    if (
        len(times) >= NUMPY_MIN_HITS
        and has_numpy()
        and times[0] - times[0] % size >= _MIN_NS
        and times[-1] <= _MAX_NS
    ):
        from ._rollup_np import roll_indexed_np

        return roll_indexed_np(times, keys, durations, statuses, size, timed=timed, errors=errors)
    return roll_indexed_py(times, keys, durations, statuses, size, timed=timed, errors=errors)


NUMPY_MIN_HITS = 256
"""From how many hits :func:`roll_indexed` takes numpy's way."""


def roll_indexed_py(
    times: Sequence[int],
    keys: Sequence[int],
    durations: Sequence[float],
    statuses: Sequence[int],
    size: int,
    *,
    timed: bool = True,
    errors: bool = True,
) -> Indexed:
    """:func:`roll_indexed` in pure Python.

    Hits are in time order, so each bucket's hits are one slice, found by bisection;
    within it, every step is a C-level bulk operation (Counter, zip, compress), but the
    sketch index and duration sum of the hits that have a duration.
    """
    out = Indexed()
    count = len(times)
    nodes, edges = out.nodes, out.edges
    start = 0
    while start < count:
        bucket = times[start] - times[start] % size
        end = bisect_left(times, bucket + size, start)
        part_keys = keys[start:end]
        first = dict(zip(reversed(part_keys), reversed(times[start:end])))
        for key, hits in Counter(part_keys).items():
            at = first[key]
            edges[bucket, key] = EdgeRollup(hits, at)
            node_key = (bucket, key & KEY_MASK)
            row = nodes.get(node_key)
            if row is None:
                nodes[node_key] = NodeRollup(hits=hits, first_ns=at)
            else:
                row.hits += hits
                row.first_ns = min(row.first_ns, at)
        if errors:
            failed = [s >= 500 for s in statuses[start:end]]
            for key in compress(part_keys, failed):
                nodes[bucket, key & KEY_MASK].errors += 1
        if timed:
            part = durations[start:end]
            has = [d == d for d in part]
            timed_nodes = [key & KEY_MASK for key in compress(part_keys, has)]
            timed_durations = list(compress(part, has))
            # Counted per (node, sketch bucket) at C level: Python work per distinct
            # pair, not per hit, beside the index of each duration.
            for (node, index), n in Counter(
                zip(timed_nodes, sketch_indexes(timed_durations))
            ).items():
                bins = nodes[bucket, node].sketch.bins
                bins[index] = bins.get(index, 0) + n
            for node, n in Counter(timed_nodes).items():
                nodes[bucket, node].timed += n
            sums: dict[int, float] = {}
            get = sums.get
            for node, duration in zip(timed_nodes, timed_durations):
                sums[node] = get(node, 0.0) + duration
            for node, total in sums.items():
                nodes[bucket, node].duration_sum += total
        start = end
    return out


def roll(columns: HitColumns, size: int) -> Rollups:
    """The rollups of ``columns`` (in time order) in buckets of ``size`` ns, by name."""
    indexed = roll_indexed(columns.times, columns.keys, columns.durations, columns.statuses, size)
    return indexed.named(columns.names)


def plan(lo: int, hi: int, horizons: Horizons, coarsest: int = DAY) -> list[Piece]:
    """The pieces to read ``[lo, hi)`` from: the coarsest tier (up to ``coarsest``)
    wherever it fits whole, per-hit data for what is finer than a minute, coarser
    buckets where finer sources are gone (a bucket then counts when its start is in
    the range)."""
    pieces: list[Piece] = []
    _cover(lo, hi, coarsest, horizons, pieces)
    return pieces


def _cover(lo: int, hi: int, size: int, horizons: Horizons, pieces: list[Piece]) -> None:
    if lo >= hi:
        return
    if size == RAW:
        if lo >= horizons.raw:
            pieces.append(Piece(RAW, lo, hi))
        else:
            # Per-hit data is gone: the minute (or coarser) bucket holding ``lo`` counts
            # if it starts in the range, which only the first one in it does not.
            _widen(lo, hi, horizons, pieces)
        return
    first = _ceil(lo, size)
    last = min(_floor(hi, size), _floor(horizons.until_of(size), size))
    finer = _finer(size)
    if first >= last:
        _cover(lo, hi, finer, horizons, pieces)
        return
    start = max(first, _ceil(horizons.of(size), size)) if horizons.of(size) > lo else first
    if start >= last:
        _cover(lo, hi, finer, horizons, pieces)
        return
    _cover(lo, start, finer, horizons, pieces)
    pieces.append(Piece(size, start, last))
    _cover(last, hi, finer, horizons, pieces)


def _widen(lo: int, hi: int, horizons: Horizons, pieces: list[Piece]) -> None:
    """``[lo, hi)`` where the finer sources are gone: the rows of the finest tier still
    kept whose buckets start in it."""
    for size in TIERS:
        start = _ceil(lo, size)
        if start >= horizons.of(size):
            if start < hi:
                pieces.append(Piece(size, start, hi))
            return


def _finer(size: int) -> int:
    at = TIERS.index(size)
    return TIERS[at - 1] if at else RAW


def _floor(t: int, size: int) -> int:
    return t - t % size


def _ceil(t: int, size: int) -> int:
    return -((-t) // size) * size


QUANTILES = (0.50, 0.95, 0.99)


Percentiles = tuple[float | None, float | None, float | None]


def rounded(values: Iterable[float | None]) -> Percentiles:
    """p50, p95 and p99 (seconds) rounded to the microsecond, as every read gives them."""
    p50, p95, p99 = (None if v is None else round(v, 6) for v in values)
    return p50, p95, p99


def percentiles(sketch: Sketch) -> Percentiles:
    """p50, p95 and p99 of ``sketch``, rounded to the microsecond, in one pass."""
    return rounded(sketch.quantiles(QUANTILES))


def row_percentiles(rows: Sequence[NodeRollup]) -> list[Percentiles]:
    """p50, p95 and p99 of each row, rounded to the microsecond: kept with it, or from
    its sketch, the sketches of all rows merged and read in one pass."""
    out: list[Percentiles] = []
    missing: list[int] = []
    for at, row in enumerate(rows):
        if row.quantiles is not None:
            out.append(row.quantiles)
            continue
        if row.timed and row.sketch.empty:
            # A store left the sketch out (its row had quantiles) and the row was merged.
            raise RuntimeError("rollup rows merged without their sketches")
        out.append((None, None, None))
        if row.timed:
            missing.append(at)
    found = quantiles_of([rows[at].sketch for at in missing], QUANTILES)
    for at, values in zip(missing, found):
        out[at] = rounded(values)
    return out


def nice_step(lo: int, hi: int, steps: Sequence[int]) -> int:
    """The smallest step of ``steps`` giving at most 300 buckets over ``[lo, hi)``."""
    span = max(1, hi - lo)
    for step in steps:
        if math.ceil(span / step) <= 300:
            return step
    return steps[-1]


class Tiers:
    """The tiers of rollups kept in memory (the memory store's)."""

    def __init__(self, rollup_retention_ns: int | None = None) -> None:
        self._retention = rollup_retention_ns
        self._tiers = {size: Rollups() for size in TIERS}

    def add(self, minutes: Rollups) -> None:
        """Add rollups in minute buckets to every tier."""
        for size in TIERS:
            self._tiers[size].merge(minutes.copy(), size)

    def read(
        self, size: int, lo: int, hi: int, ids: frozenset[str] | None, sketches: bool = True
    ) -> Rollups:
        """Copies of the rows of tier ``size`` whose buckets start in ``[lo, hi)``."""
        tier = self._tiers[size]
        out = Rollups()
        for (bucket, node), row in tier.nodes.items():
            if lo <= bucket < hi and (ids is None or node in ids):
                copy = NodeRollup(row.hits, row.errors, row.timed, row.duration_sum, row.first_ns)
                if sketches:
                    copy.sketch.merge(row.sketch)
                out.nodes[bucket, node] = copy
        for (bucket, caller, node), edge in tier.edges.items():
            if lo <= bucket < hi and (ids is None or node in ids):
                out.edges[bucket, caller, node] = EdgeRollup(edge.hits, edge.first_ns)
        return out

    def horizon(self, size: int, now: int) -> int:
        """From when tier ``size`` is complete, ``now`` being the newest hit's time."""
        kept = [h for h in (HORIZONS[size], self._retention) if h is not None]
        return _MIN_NS if not kept or now <= _MIN_NS + DAY else now - min(kept)

    def expire(self, now: int) -> None:
        """Delete the rows of buckets that ended before their tier's horizon."""
        for size in TIERS:
            horizon = self.horizon(size, now)
            if horizon == _MIN_NS:
                continue
            tier = self._tiers[size]
            tier.nodes = {k: v for k, v in tier.nodes.items() if k[0] + size > horizon}
            tier.edges = {k: v for k, v in tier.edges.items() if k[0] + size > horizon}
