"""Stores: where hits live. Chosen by URL; all implement :class:`Store`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from ..clock import Clock
from ..errors import InvalidArgument
from ._options import count, split_options
from ._rollup import EdgeRollup, Horizons, NodeRollup, Rollups
from ._sketch import Sketch
from .base import (
    AppCount,
    Backlog,
    EdgeCount,
    HitColumns,
    LiveHit,
    NodeCount,
    QuarantinedBatch,
    Query,
    Snapshot,
    Store,
    Subscription,
)
from .memory import MemoryStore

__all__ = [
    "AppCount",
    "Backlog",
    "EdgeCount",
    "EdgeRollup",
    "HitColumns",
    "Horizons",
    "LiveHit",
    "MemoryStore",
    "NodeCount",
    "NodeRollup",
    "QuarantinedBatch",
    "Query",
    "Rollups",
    "Sketch",
    "Snapshot",
    "Store",
    "StoreOptions",
    "Subscription",
    "mask_url",
    "open_store",
    "register_scheme",
]


class StoreOptions:
    """What a :class:`~pymetrix.Metrics` passes to the store it opens from a URL.

    ``read_only`` asks for a store that only reads what exists: a database (a SQLite
    file) that is missing or holds no Pymetrix data is a ``StoreError`` rather than
    created, the app is not registered, and hits are refused. A store with nothing to
    create (memory) may ignore it.
    """

    def __init__(
        self,
        *,
        app: str,
        clock: Clock,
        retention: timedelta | None,
        max_events: int,
        rollup_retention: timedelta | None = None,
        read_only: bool = False,
    ) -> None:
        self.app = app
        self.clock = clock
        self.retention = retention
        self.max_events = max_events
        self.rollup_retention = rollup_retention
        self.read_only = read_only


StoreFactory = Callable[[str, StoreOptions], Store]


def _memory(url: str, options: StoreOptions) -> Store:
    bare, settings = split_options(url, url, {"max_events": count}, keep_unknown=False)
    if bare != "memory://":
        raise InvalidArgument("store URL", url, "memory:// with no host or path")
    return MemoryStore(
        retention=options.retention,
        max_events=settings.get("max_events", options.max_events),
        clock=options.clock,
        rollup_retention=options.rollup_retention,
        app=options.app,
    )


# Schemes map to a factory, or to "module:function" imported on first use so that a
# store's optional dependencies are only needed by those who use it.
_SCHEMES: dict[str, StoreFactory | str] = {
    "memory": _memory,
    "sqlite": "pymetrix.store.sqlite:open_sqlite",
    "postgresql": "pymetrix.store.postgres:open_postgres",
    "postgres": "pymetrix.store.postgres:open_postgres",
    "clickhouse": "pymetrix.store.clickhouse:open_clickhouse",
    "clickhouses": "pymetrix.store.clickhouse:open_clickhouse",
}


def register_scheme(scheme: str, factory: StoreFactory | str) -> None:
    """Make ``open_store`` open URLs of ``scheme`` with ``factory(url, options)``.

    ``factory`` may be a ``"module:function"`` string, imported on first use.
    """
    _SCHEMES[scheme] = factory


def open_store(url: str, options: StoreOptions) -> Store:
    """Open the store a URL names, e.g. ``memory://``."""
    if not isinstance(url, str):
        raise InvalidArgument("store", url, "a Store or a store URL")
    scheme = urlsplit(url).scheme
    factory = _SCHEMES.get(scheme)
    if factory is None:
        valid = ", ".join(f"{name}://" for name in sorted(_SCHEMES))
        raise InvalidArgument("store URL", mask_url(url), f"a URL starting with {valid}")
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        _SCHEMES[scheme] = factory
    return factory(url, options)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
