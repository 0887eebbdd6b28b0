"""Building the export shapes from what a store returns. Shared by every store."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from ._gc import collector_paused
from ._timefmt import TimeFormatter
from .store._codec import KEY_MASK, KEY_SHIFT, STATUS_BITS, STATUS_MASK
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
    keys = cols.keys
    # Built column by column, the per-hit work in C where it can be: the time strings in
    # bulk, caller names and per-node lists looked up once per distinct key.
    with collector_paused():
        stamps = fmt.many(cols.times)
        names = cols.names
        groups: dict[int, list[Any]] = {}
        caller_of: dict[int, str | None] = {}
        group_of: dict[int, list[Any]] = {}
        for key in set(keys):
            c = (key >> KEY_SHIFT) - 1
            caller_of[key] = None if c < 0 else names[c]
            n = key & KEY_MASK
            group = groups.get(n)
            if group is None:
                group = groups[n] = []
            group_of[key] = group
        callers = map(caller_of.__getitem__, keys)
        entries: list[Any]
        if detail:
            entries = [
                {
                    "caller": caller,
                    "time": stamp,
                    "duration": ((extra >> STATUS_BITS) - 1) / 1e6
                    if extra >> STATUS_BITS
                    else None,
                    "status": extra & STATUS_MASK or None,
                }
                for caller, stamp, extra in zip(callers, stamps, cols.extras)
            ]
        else:
            entries = [{"caller": caller, "time": stamp} for caller, stamp in zip(callers, stamps)]
        # Each entry appended to its node's list, in time order, without a Python loop.
        deque(map(list.append, map(group_of.__getitem__, keys), entries), maxlen=0)
    position = {name: i for i, name in enumerate(names)}
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
