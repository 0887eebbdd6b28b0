"""Reads answered from rollups: windowed counts and flows, percentiles, bucketed series.

Each read plans the pieces of its range (``store._rollup.plan``: whole days, hours and
minutes from the tiers, the edges from per-hit data), reads them from the store and
merges them, so it costs what the range's buckets cost, not its hits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ._gc import collector_paused
from ._timefmt import MAX_NS, MIN_NS, TimeFormatter
from .errors import InvalidArgument
from .store import Query, Store
from .store._rollup import (
    DAY,
    HOUR,
    MINUTE,
    RAW,
    SECOND,
    TIERS,
    Percentiles,
    Rollups,
    nice_step,
    plan,
    roll,
    row_percentiles,
)
from .store.base import EdgeCount, NodeCount
from .types import AggregateStatsEntry, Series, SeriesNode

__all__ = [
    "ALL_TIME",
    "STEPS",
    "aggregate_stats",
    "counts",
    "edges",
    "parse_step",
    "read",
    "series",
]

# Hit times fit int64 nanoseconds; whole days inside that range stand for "all time".
ALL_TIME = (-(-MIN_NS // DAY) * DAY, MAX_NS // DAY * DAY)

STEPS = tuple(
    n * unit
    for n, unit in (
        (1, SECOND),
        (5, SECOND),
        (15, SECOND),
        (30, SECOND),
        (1, MINUTE),
        (5, MINUTE),
        (1, HOUR),
        (6, HOUR),
        (1, DAY),
        (7, DAY),
        (30, DAY),
    )
)
"""The steps a series picks from when none is given: the smallest with <= 300 buckets.
From a minute on, each is a tier's bucket (or a week or month of days), so that the
series reads one row per node and bucket and takes its quantiles as kept."""

# A multiple of every tier's bucket that puts all of int64 ns time in a few buckets,
# with room to add it to a time without leaving int64.
_ONE_BUCKET = 50_000 * DAY

_UNITS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY}
_STEP = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


def parse_step(step: Any) -> int | None:
    """A step in nanoseconds from seconds, a ``timedelta`` or ``"30s"``/``"5m"``/``"1h"``/
    ``"1d"``; None stays None (chosen from the range)."""
    if step is None:
        return None
    if isinstance(step, timedelta):
        ns = step // timedelta(microseconds=1) * 1000
    elif isinstance(step, str) and step.strip().isdigit():
        ns = int(step) * SECOND
    elif isinstance(step, str):
        match = _STEP.match(step)
        if match is None:
            raise InvalidArgument("step", step, "seconds, or a number with s, m, h or d")
        ns = int(match.group(1)) * _UNITS[match.group(2)]
    elif isinstance(step, (int, float)) and not isinstance(step, bool) and step == step:
        ns = round(step * SECOND)
    else:
        raise InvalidArgument("step", step, "seconds, a timedelta, or e.g. '5m'")
    if ns < SECOND or ns % SECOND:
        raise InvalidArgument("step", step, "a whole number of seconds, at least 1")
    return ns


@collector_paused()
def read(
    store: Store,
    lo: int,
    hi: int,
    ids: frozenset[str] | None,
    step: int | None,
    *,
    sketches: bool = True,
    edges: bool = True,
) -> Rollups:
    """The rollups of ``[lo, hi)``, in buckets of ``step`` (None: one bucket); latency
    sketches only if ``sketches``, edges only if ``edges``."""
    coarsest = DAY
    if step is not None:
        coarsest = next((size for size in reversed(TIERS) if step % size == 0), RAW)
    out = Rollups()
    for piece in plan(lo, hi, store.horizons(), coarsest):
        if piece.source == RAW:
            hits = store.snapshot(Query(since_ns=piece.lo, until_ns=piece.hi, ids=ids)).hits
            out.merge(roll(hits, step or DAY), step)
        elif piece.source == step and step != MINUTE:
            # One row per node and bucket: its quantiles as kept, no sketches to merge.
            part = store.rollups(
                piece.source,
                piece.lo,
                piece.hi,
                ids,
                sketches=False,
                edges=edges,
                quantiles=sketches,
            )
            out.merge(part, step)
        else:
            part = store.rollups(
                piece.source,
                piece.lo,
                piece.hi,
                ids,
                sketches=sketches,
                edges=edges,
                # No step: every row goes into one bucket, so a store may add up all
                # of a node's (ClickHouse merges their sketches, SQL their counts).
                step=_ONE_BUCKET if step is None else step if step % piece.source == 0 else None,
            )
            out.merge(part, step)
    return out


def counts(rollups: Rollups) -> list[NodeCount]:
    """Hits per node, in first-hit order."""
    rows = sorted(rollups.nodes.items(), key=lambda item: item[1].first_ns)
    return [NodeCount(node, row.hits, row.first_ns) for (_, node), row in rows if row.hits]


def edges(rollups: Rollups) -> list[EdgeCount]:
    """Hits per caller->node edge, in order of first appearance."""
    rows = sorted(rollups.edges.items(), key=lambda item: item[1].first_ns)
    return [EdgeCount(caller, node, edge.hits) for (_, caller, node), edge in rows if edge.hits]


def aggregate_stats(
    rollups: Rollups, exact: dict[str, int] | None = None
) -> list[AggregateStatsEntry]:
    """``aggregate(stats=True)`` entries; ``exact`` gives all-time hit counts to use."""
    rows = sorted(rollups.nodes.items(), key=lambda item: item[1].first_ns)
    out: list[AggregateStatsEntry] = []
    quantiles = row_percentiles([row for _, row in rows])
    for ((_, node), row), (p50, p95, p99) in zip(rows, quantiles):
        hits = row.hits if exact is None else exact.pop(node, row.hits)
        out.append(
            {"id": node, "hits": hits, "p50": p50, "p95": p95, "p99": p99, "errors": row.errors}
        )
    # Nodes whose rollups are gone (rollup_retention) still have their exact counts.
    for node, hits in (exact or {}).items():
        out.append({"id": node, "hits": hits, "p50": None, "p95": None, "p99": None, "errors": 0})
    return out


@collector_paused()
def series(
    app: str,
    rollups: Rollups,
    lo: int,
    hi: int,
    step: int,
    fmt: TimeFormatter,
    top: int | None,
    latency: bool = True,
) -> Series:
    """The bucketed series message: one entry per node, one value per bucket."""
    starts = list(range(lo, hi, step))
    position = {start: i for i, start in enumerate(starts)}
    width = len(starts)
    by_node: dict[str, list[Any]] = {}
    totals: dict[str, int] = {}
    first: dict[str, int] = {}
    cells = [
        (position[bucket], node, row)
        for (bucket, node), row in rollups.nodes.items()
        if bucket in position
    ]
    quantiles: Sequence[Percentiles | None] = (
        row_percentiles([row for _, _, row in cells]) if latency else [None] * len(cells)
    )
    for (i, node, row), three in zip(cells, quantiles):
        hits = row.hits
        entry = by_node.get(node)
        if entry is None:
            entry = by_node[node] = [[0] * width, [0] * width, [None] * width, [None] * width]
            entry.append([None] * width)
            totals[node] = hits
            first[node] = row.first_ns
        else:
            totals[node] += hits
            if row.first_ns < first[node]:
                first[node] = row.first_ns
        entry[0][i] = hits
        entry[1][i] = row.errors
        if three is not None:
            entry[2][i], entry[3][i], entry[4][i] = three
    chosen = sorted(by_node, key=first.__getitem__)
    if top is not None:
        kept = set(sorted(chosen, key=lambda node: -totals[node])[:top])
        chosen = [node for node in chosen if node in kept]
    nodes: list[SeriesNode] = []
    for node in chosen:
        hits, errors, p50, p95, p99 = by_node[node]
        entry_out: SeriesNode = {"id": node, "total": totals[node], "hits": hits, "errors": errors}
        if latency:
            entry_out = {**entry_out, "p50": p50, "p95": p95, "p99": p99}  # type: ignore[typeddict-unknown-key]
        nodes.append(entry_out)
    return {
        "id": app,
        "step": step // SECOND,
        "since": fmt(lo),
        "until": fmt(hi),
        "buckets": [fmt(start) for start in starts],
        "nodes": nodes,
    }


def choose_step(lo: int, hi: int) -> int:
    return nice_step(lo, hi, STEPS)
