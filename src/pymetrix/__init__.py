"""Pymetrix: plug-and-play analytics for Python applications.

Record hits on nodes (endpoints, routes, functions) with their callers, and export them
as time series, aggregates and flows, as snapshots or live streams.
"""

from __future__ import annotations

from . import endpoints, flow, metrics
from .clock import Clock, ManualClock, SystemClock
from .errors import (
    InvalidArgument,
    InvalidDuration,
    InvalidNodeId,
    InvalidNodeType,
    InvalidQuery,
    InvalidStatus,
    MissingArgument,
    MissingDependency,
    PymetrixError,
    StoreClosed,
    StoreError,
)
from .metrics import OVERFLOW, Metrics
from .pipeline import LiveStream
from .store import MemoryStore, Store, open_store

__version__ = "0.2.0"

__all__ = [
    "OVERFLOW",
    "Clock",
    "InvalidArgument",
    "InvalidDuration",
    "InvalidNodeId",
    "InvalidNodeType",
    "InvalidQuery",
    "InvalidStatus",
    "LiveStream",
    "ManualClock",
    "MemoryStore",
    "Metrics",
    "MissingArgument",
    "MissingDependency",
    "PymetrixError",
    "Store",
    "StoreClosed",
    "StoreError",
    "SystemClock",
    "__version__",
    "endpoints",
    "flow",
    "metrics",
    "open_store",
]
