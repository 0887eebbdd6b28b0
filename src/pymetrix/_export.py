"""Building the export shapes from what a store returns. Shared by every store."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from ._timefmt import TimeFormatter
from .store._codec import KEY_MASK, KEY_SHIFT, STATUS_MASK, unpack_duration
from .store.base import EdgeCount, LiveHit, NodeCount, Snapshot
from .types import (
    AggregateEntry,
    FlowEntry,
    TimeSeries,
    TimeSeriesDetail,
    TimeSeriesNode,
)

__all__ = ["aggregate", "flow", "live_node", "time_series"]


def time_series(
    app: str, snapshot: Snapshot, fmt: TimeFormatter, detail: bool
) -> TimeSeries | TimeSeriesDetail:
    cols = snapshot.hits
    # Packed keys hold caller index + 1: index 0 (no caller) lands on the leading None.
    caller_names: list[str | None] = [None, *cols.names]
    groups: dict[int, list[Any]] = {}
    # Formatting a million times is the cost of this export: the loop is kept flat, with
    # the per-second part of each time string cached.
    prefixes: dict[int, str] = {}
    prefix_of = fmt.prefix
    extras = cols.extras if detail else itertools.repeat(0)
    for t, key, extra in zip(cols.times, cols.keys, extras):
        seconds, rest = divmod(t, 1_000_000_000)
        prefix = prefixes.get(seconds)
        if prefix is None:
            prefix = prefixes[seconds] = prefix_of(seconds)
        entry: dict[str, Any] = {
            "caller": caller_names[key >> KEY_SHIFT],
            "time": f"{prefix}{rest // 1000:06d}",
        }
        if detail:
            entry["duration"] = unpack_duration(extra)
            entry["status"] = extra & STATUS_MASK or None
        n = key & KEY_MASK
        group = groups.get(n)
        if group is None:
            groups[n] = [entry]
        else:
            group.append(entry)
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


def flow(edges: Sequence[EdgeCount]) -> list[FlowEntry]:
    return [{"caller": edge.caller, "id": edge.node, "hits": edge.hits} for edge in edges]


def live_node(hit: LiveHit, fmt: TimeFormatter, detail: bool = False) -> TimeSeriesNode:
    """The time-series record a live stream yields for one hit.

    With ``detail``, its callers entry also has ``duration`` and ``status``.
    """
    entry: dict[str, Any] = {"caller": hit.caller, "time": fmt(hit.time_ns)}
    if detail:
        entry["duration"] = hit.duration
        entry["status"] = hit.status
    return {
        "id": hit.node,
        "hits": hit.node_hits,
        "time": fmt(hit.node_first_ns),
        "callers": [entry],  # type: ignore[list-item]
    }
