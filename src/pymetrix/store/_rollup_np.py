"""numpy versions of :func:`~pymetrix.store._rollup.roll_indexed` and
:func:`~pymetrix.store._sketch.grouped_quantiles`, with the same results to the bit.

Imported only when numpy is installed (the ``fast`` extra). Whatever numpy might compute
differently from Python is left to Python: a sketch index whose ``log`` lands within
1e-7 of a bucket edge (numpy's ``log`` may differ from the C library's in the last
bit), and quantile totals that could overflow int64. Duration sums are exact matches
because ``bincount`` adds its weights one by one in input order, as Python does.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._codec import KEY_MASK
from ._rollup import EdgeRollup, Indexed, NodeRollup
from ._sketch import _SCALE, ZERO, Sketch, grouped_quantiles_py, value_of

__all__ = ["grouped_quantiles_np", "roll_indexed_np"]

_MIN = 1e-6
_EDGE = 1e-7
"""How close to a bucket edge numpy's sketch index is redone in Python."""
_PAIRS = np.dtype([("index", "<i4"), ("count", "<i8")])
_FLOAT_EXACT = 1 << 53
_TOTAL_MAX = 4e18
"""Above this (float) total a group is left to Python: int64 sums could overflow."""

Int64s = npt.NDArray[np.int64]
_log = np.log


def _column(values: Sequence[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """``values`` as a 1-d array: ``array`` objects and arrays without copying."""
    if isinstance(values, array):
        return np.frombuffer(values, dtype=values.typecode).astype(dtype, copy=False)
    return np.asarray(values, dtype=dtype)


def _groups(labels: Int64s, cells: int, table: bool | None = None) -> tuple[Int64s, Int64s, Int64s]:
    """Group the hits by ``labels`` (``0 <= label < cells``), the groups numbered in
    order of their first hit: each hit's group, each group's first hit and its number
    of hits. By a table of the cells when not much larger than the hits, else sorting."""
    count = len(labels)
    if table is None:
        table = cells <= max(4 * count, 1 << 16)
    if table:
        sizes = np.bincount(labels, minlength=cells)
        first = np.full(cells, count, dtype=np.int64)
        np.minimum.at(first, labels, np.arange(count))
        present = np.flatnonzero(sizes)
        firsts = first[present]
        sizes = sizes[present]
        # Renumber by first hit: the order a dict filled hit by hit has.
        by_first = np.argsort(firsts)
        renumber = np.empty(cells, dtype=np.int64)
        renumber[present[by_first]] = np.arange(len(present))
        member = renumber[labels]
    else:
        order = np.argsort(labels, kind="stable")
        ordered = labels[order]
        new = np.empty(count, dtype=bool)
        new[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, count))
        firsts = order[starts]
        by_first = np.argsort(firsts)
        renumber = np.empty(len(starts), dtype=np.int64)
        renumber[by_first] = np.arange(len(starts))
        member = np.empty(count, dtype=np.int64)
        member[order] = renumber[np.cumsum(new) - 1]
    return member, firsts[by_first], sizes[by_first]


def roll_indexed_np(
    times: Sequence[int],
    keys: Sequence[int],
    durations: Sequence[float],
    statuses: Sequence[int],
    size: int,
    *,
    timed: bool = True,
    errors: bool = True,
) -> Indexed:
    """:func:`~pymetrix.store._rollup.roll_indexed` with numpy: the same rows, in the
    same order, with the same values (buckets' starts must fit in int64)."""
    if not len(times):
        return Indexed()
    t = _column(times, np.int64)
    k = _column(keys, np.int64)
    count = len(t)
    bucket = t - t % size
    new = np.empty(count, dtype=bool)
    new[0] = True
    np.not_equal(bucket[1:], bucket[:-1], out=new[1:])
    span = np.cumsum(new) - 1
    # Edges: (bucket, key); nodes: (bucket, node), both as dense labels.
    ukeys, key_of = np.unique(k, return_inverse=True)
    unodes, node_of_ukey = np.unique(ukeys & KEY_MASK, return_inverse=True)
    spans = int(span[-1]) + 1
    _, edge_first, edge_hits = _groups(span * len(ukeys) + key_of.reshape(-1), spans * len(ukeys))
    node_of, node_first, node_hits = _groups(
        span * len(unodes) + node_of_ukey.reshape(-1)[key_of.reshape(-1)], spans * len(unodes)
    )
    nodes = len(node_first)
    failed: list[int] | Int64s
    if errors:
        failed = np.bincount(node_of[_column(statuses, np.int64) >= 500], minlength=nodes)
    else:
        failed = [0] * nodes
    sketches = [Sketch() for _ in range(nodes)]
    with_durations: list[int] | Int64s
    sums: list[float] | npt.NDArray[Any]
    if timed:
        d = _column(durations, np.float64)
        has = d == d
        d = d[has]
        who = node_of[has]
        with_durations = np.bincount(who, minlength=nodes)
        sums = np.bincount(who, weights=d, minlength=nodes)
        _fill(sketches, who, _indexes(d))
    else:
        with_durations = [0] * nodes
        sums = [0.0] * nodes
    node_keys = zip(bucket[node_first].tolist(), (k[node_first] & KEY_MASK).tolist())
    rows = map(
        NodeRollup,
        node_hits.tolist(),
        _tolist(failed),
        _tolist(with_durations),
        _tolist(sums),
        t[node_first].tolist(),
        sketches,
    )
    edge_keys = zip(bucket[edge_first].tolist(), k[edge_first].tolist())
    edges = map(EdgeRollup, edge_hits.tolist(), t[edge_first].tolist())
    return Indexed(dict(zip(node_keys, rows)), dict(zip(edge_keys, edges)))


def _tolist(values: list[Any] | npt.NDArray[Any]) -> list[Any]:
    return values if isinstance(values, list) else values.tolist()


def _indexes(durations: npt.NDArray[np.float64]) -> Int64s:
    """The sketch index of each duration, as ``sketch_indexes`` gives it."""
    out = np.full(len(durations), ZERO, dtype=np.int64)
    some = durations >= _MIN
    values = durations[some]
    scaled = _log(values) * _SCALE
    index = np.ceil(scaled)
    # Near a bucket edge (or not finite), Python's log decides.
    unsure = np.flatnonzero(~(np.abs(scaled - np.rint(scaled)) > _EDGE))
    if len(unsure):
        index[unsure] = [math.ceil(math.log(v) * _SCALE) for v in values[unsure].tolist()]
    out[some] = index
    return out


def _window(indexes: Int64s) -> tuple[int, int]:
    """The least index but ``ZERO``, and the slots from ``ZERO`` (slot 0) and that
    index (slot 1) to the greatest."""
    real = indexes[indexes != ZERO]
    if not len(real):
        return 0, 1
    low = int(real.min())
    return low, int(real.max()) - low + 2


def _fill(sketches: list[Sketch], who: Int64s, indexes: Int64s) -> None:
    """Count each (node, index) pair into its node's sketch, pairs in first-seen order."""
    if not len(who):
        return
    low, width = _window(indexes)
    slot = np.where(indexes == ZERO, 0, indexes - (low - 1))
    pairs, firsts, counts = np.unique(who * width + slot, return_index=True, return_counts=True)
    by_first = np.argsort(firsts)
    pairs = pairs[by_first]
    slots = pairs % width
    bins = [sketch.bins for sketch in sketches]
    for node, index, n in zip(
        (pairs // width).tolist(),
        np.where(slots == 0, ZERO, slots + (low - 1)).tolist(),
        counts[by_first].tolist(),
    ):
        bins[node][index] = n


def grouped_quantiles_np(
    blobs: Sequence[bytes | memoryview | None],
    groups: Sequence[int],
    ngroups: int,
    qs: Sequence[float],
    *,
    method: Literal["auto", "dense", "sort"] = "auto",
) -> list[list[float | None]]:
    """:func:`~pymetrix.store._sketch.grouped_quantiles` with numpy.

    The pairs of all sketches are counted into a (group, index) table spanning the
    indexes present (``dense``), unless that table would be much larger than the pairs,
    then sorted by (group, index) instead (``sort``); either way each group's
    cumulative counts are compared with its ranks.
    """
    if not qs:
        return [[] for _ in range(ngroups)]
    lengths = [len(blob) if blob else 0 for blob in blobs]
    if any(n % _PAIRS.itemsize for n in lengths) or len(groups) != len(blobs):
        return grouped_quantiles_py(blobs, groups, ngroups, qs)
    data = np.frombuffer(b"".join(blob for blob in blobs if blob), dtype=_PAIRS)
    if not len(data):
        return [[None] * len(qs) for _ in range(ngroups)]
    group = np.repeat(np.asarray(groups, dtype=np.int64), [n // _PAIRS.itemsize for n in lengths])
    index = data["index"].astype(np.int64)
    count = data["count"].astype(np.int64)
    if count.min() < 0:
        return grouped_quantiles_py(blobs, groups, ngroups, qs)
    # Every sum of counts below 2**53 is exact in float64 too.
    exact = int(count.max()) * len(count) < _FLOAT_EXACT
    if not exact:
        approx = np.bincount(group, weights=count.astype(np.float64), minlength=ngroups)
        if approx.max() > _TOTAL_MAX:
            return grouped_quantiles_py(blobs, groups, ngroups, qs)
    low, width = _window(index)
    if method == "dense" or (method == "auto" and ngroups * width <= max(4 * len(data), 1 << 16)):
        return _dense(group, index, count, ngroups, qs, low, width, exact)
    return _sorted(group, index, count, ngroups, qs)


def _ranks(totals: list[int], qs: Sequence[float]) -> Int64s:
    """Each group's rank per quantile as ``Sketch.quantiles`` takes it (past the total:
    total + 1, never reached)."""
    return np.array(
        [[min(max(1, math.ceil(q * total)), total + 1) for q in qs] for total in totals],
        dtype=np.int64,
    ).reshape(len(totals), len(qs))


def _dense(
    group: Int64s,
    index: Int64s,
    count: Int64s,
    ngroups: int,
    qs: Sequence[float],
    low: int,
    width: int,
    exact: bool,
) -> list[list[float | None]]:
    slot = np.where(index == ZERO, 0, index - (low - 1))
    cells = group * width + slot
    if exact:  # bincount's float sums are exact here, and faster than add.at
        table = np.bincount(cells, weights=count, minlength=ngroups * width).astype(np.int64)
    else:
        table = np.zeros(ngroups * width, dtype=np.int64)
        np.add.at(table, cells, count)
    cumulative = table.reshape(ngroups, width).cumsum(axis=1)
    totals = cumulative[:, -1].tolist()
    ranks = _ranks(totals, qs)
    # Per group and quantile: how many slots fall short of the rank.
    at = np.stack(
        [(cumulative < ranks[:, j, None]).sum(axis=1) for j in range(len(qs))], axis=-1
    ).reshape(ngroups, len(qs))
    out: list[list[float | None]] = []
    for total, row in zip(totals, at.tolist()):
        if not total:
            out.append([None] * len(qs))
            continue
        found: list[float | None] = []
        last = 0
        for position in row:
            last = max(last, position)
            if last == width:
                break
            found.append(value_of(ZERO if last == 0 else low - 1 + last))
        out.append(found)
    return out


def _sorted(
    group: Int64s, index: Int64s, count: Int64s, ngroups: int, qs: Sequence[float]
) -> list[list[float | None]]:
    order = np.argsort((group << 32) | (index + (1 << 31)), kind="stable")
    group, index, count = group[order], index[order], count[order]
    starts = np.searchsorted(group, np.arange(ngroups + 1))
    # Cumulative counts within each group: overall ones (wrapping) less the group's
    # start, which int64 arithmetic gets exact when the group's own total fits.
    overall = np.cumsum(count)
    before = np.concatenate(([0], overall))[starts]
    within = overall - before[group]
    totals = (before[1:] - before[:-1]).tolist()
    ranks = _ranks(totals, qs)
    at = np.stack(
        [
            starts[:-1] + np.bincount(group[within < ranks[group, j]], minlength=ngroups)
            for j in range(len(qs))
        ],
        axis=-1,
    ).reshape(ngroups, len(qs))
    indexes = index.tolist()
    out: list[list[float | None]] = []
    bounds = starts.tolist()
    for total, row, last, end in zip(totals, at.tolist(), bounds, bounds[1:]):
        if not total:
            out.append([None] * len(qs))
            continue
        found: list[float | None] = []
        for position in row:
            last = max(last, position)
            if last == end:
                break
            found.append(value_of(indexes[last]))
        out.append(found)
    return out
