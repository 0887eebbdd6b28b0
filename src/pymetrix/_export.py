"""Building the seed's export shapes from what a store returns. Shared by every store."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._timefmt import TimeFormatter
from .store.base import EdgeCount, LiveHit, NodeCount, Snapshot
from .types import (
    AggregateEntry,
    AggregateStatsEntry,
    CallerEntry,
    FlowEntry,
    TimeSeries,
    TimeSeriesDetail,
    TimeSeriesNode,
)

__all__ = ["aggregate", "flow", "live_node", "percentile", "time_series"]


def time_series(
    app: str, snapshot: Snapshot, fmt: TimeFormatter, detail: bool
) -> TimeSeries | TimeSeriesDetail:
    cols = snapshot.hits
    # Index -1 (no caller) lands on the trailing None.
    caller_names: list[str | None] = [*cols.names, None]
    groups: dict[int, list[CallerEntry]] = {}
    if detail:
        for t, n, c, d, s in zip(
            cols.times, cols.nodes, cols.callers, cols.durations, cols.statuses
        ):
            entry = {
                "caller": caller_names[c],
                "time": fmt(t),
                "duration": None if d != d else d,
                "status": s or None,
            }
            group = groups.get(n)
            if group is None:
                group = groups[n] = []
            group.append(entry)  # type: ignore[arg-type]
    else:
        for t, n, c in zip(cols.times, cols.nodes, cols.callers):
            group = groups.get(n)
            if group is None:
                group = groups[n] = []
            group.append({"caller": caller_names[c], "time": fmt(t)})
    position = {name: i for i, name in enumerate(cols.names)}
    nodes: list[Any] = [
        {
            "id": count.node,
            "hits": count.hits,
            "time": fmt(count.first_ns),
            "callers": groups.get(position.get(count.node, -1), []),
        }
        for count in snapshot.nodes
    ]
    return {"id": app, "nodes": nodes}


def aggregate(counts: Sequence[NodeCount]) -> list[AggregateEntry]:
    return [{"id": count.node, "hits": count.hits} for count in counts]


def aggregate_stats(snapshot: Snapshot) -> list[AggregateStatsEntry]:
    cols = snapshot.hits
    durations: dict[int, list[float]] = {}
    errors: dict[int, int] = {}
    for n, d, s in zip(cols.nodes, cols.durations, cols.statuses):
        if d == d:
            durations.setdefault(n, []).append(d)
        if s >= 500:
            errors[n] = errors.get(n, 0) + 1
    position = {name: i for i, name in enumerate(cols.names)}
    out: list[AggregateStatsEntry] = []
    for count in snapshot.nodes:
        n = position.get(count.node, -1)
        values = sorted(durations.get(n, ()))
        out.append(
            {
                "id": count.node,
                "hits": count.hits,
                "p50": percentile(values, 0.50),
                "p95": percentile(values, 0.95),
                "p99": percentile(values, 0.99),
                "errors": errors.get(n, 0),
            }
        )
    return out


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values: a value that was really observed."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def flow(edges: Sequence[EdgeCount]) -> list[FlowEntry]:
    return [{"caller": edge.caller, "id": edge.node, "hits": edge.hits} for edge in edges]


def live_node(hit: LiveHit, fmt: TimeFormatter) -> TimeSeriesNode:
    """The time-series record a live stream yields for one hit."""
    return {
        "id": hit.node,
        "hits": hit.node_hits,
        "time": fmt(hit.node_first_ns),
        "callers": [{"caller": hit.caller, "time": fmt(hit.time_ns)}],
    }
