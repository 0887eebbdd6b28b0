"""The export shapes, exactly as the original Pymetrix documented them."""

from __future__ import annotations

from typing import Any, Literal, TypedDict, get_args

__all__ = [
    "AggregateEntry",
    "AggregateStatsEntry",
    "CallerDetail",
    "CallerEntry",
    "DATA_TYPES",
    "DataType",
    "Envelope",
    "FlowEntry",
    "Mode",
    "Series",
    "SeriesLatencyNode",
    "SeriesNode",
    "TimeSeries",
    "TimeSeriesDetail",
    "TimeSeriesDetailNode",
    "TimeSeriesNode",
]

DataType = Literal["time_series", "aggregate", "flow", "series"]
DATA_TYPES: tuple[DataType, ...] = get_args(DataType)
"""The data types every export, stream and command takes, in the order they are listed."""
Mode = Literal["snapshot", "live"]


class CallerEntry(TypedDict):
    """One hit on a node: the node that led to it (or None) and when."""

    caller: str | None
    time: str


class CallerDetail(CallerEntry):
    """A hit with ``time_series(detail=True)``: also its duration (s) and status code."""

    duration: float | None
    status: int | None


class TimeSeriesNode(TypedDict):
    """A node of the time series: its hits, first hit time and one entry per hit."""

    id: str
    hits: int
    time: str
    callers: list[CallerEntry]


class TimeSeries(TypedDict):
    """The time-series ``message``: the app id and its nodes in first-hit order."""

    id: str
    nodes: list[TimeSeriesNode]


class TimeSeriesDetailNode(TypedDict):
    """A time-series node with ``time_series(detail=True)``."""

    id: str
    hits: int
    time: str
    callers: list[CallerDetail]


class TimeSeriesDetail(TypedDict):
    """The time series with ``detail=True``."""

    id: str
    nodes: list[TimeSeriesDetailNode]


class AggregateEntry(TypedDict):
    """Hits on one node."""

    id: str
    hits: int


class AggregateStatsEntry(AggregateEntry):
    """Hits on one node with ``aggregate(stats=True)``: latency percentiles and errors."""

    p50: float | None
    p95: float | None
    p99: float | None
    errors: int


class FlowEntry(TypedDict):
    """Hits on ``id`` that came from ``caller`` (None: no caller)."""

    caller: str | None
    id: str
    hits: int


class SeriesNode(TypedDict):
    """One node of a bucketed series: a value per bucket, in the series' bucket order;
    ``total`` is the node's hits over the range."""

    id: str
    total: int
    hits: list[int]
    errors: list[int]


class SeriesLatencyNode(SeriesNode):
    """A series node with latency: ``p50``/``p95``/``p99`` per bucket in seconds (None for
    a bucket with no timed hit), within 1 % of the exact nearest-rank values."""

    p50: list[float | None]
    p95: list[float | None]
    p99: list[float | None]


class Series(TypedDict):
    """``series()``: hits, errors and latency per node per time bucket.

    ``step`` is the bucket width in seconds; ``buckets`` the start of each bucket;
    ``since``/``until`` the range, widened to whole buckets. Nodes in first-hit order.
    """

    id: str
    step: int
    since: str
    until: str
    buckets: list[str]
    nodes: list[SeriesNode]


class Envelope(TypedDict):
    """``{"message": ..., "response": 200}``: how every export is wrapped."""

    message: Any
    response: int
