"""A store of your own: hits kept in memory for reads and appended to a JSON-lines file.

It shows the whole seam a store plugs into: the ``Store`` protocol (with its two
capabilities, ``resumable`` and ``blocking_reads``), ``register_scheme`` for a URL of its
own, and ``pymetrix.testing.StoreContract`` to prove it (see
tests/store/test_example_store.py). Recording never touches the file: ``flush()`` and
``close()`` write what was recorded since the last flush, and opening the file again
reads it back.

    from pymetrix import Metrics
    import jsonl_store  # registers jsonl://

    metrics = Metrics("shop", store="jsonl:///var/lib/shop/hits.jsonl")
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from urllib.parse import urlsplit

from pymetrix import Clock
from pymetrix.store import (
    AppCount,
    Backlog,
    EdgeCount,
    Horizons,
    MemoryStore,
    NodeCount,
    Query,
    Rollups,
    Snapshot,
    StoreOptions,
    Subscription,
    register_scheme,
)

__all__ = ["JsonLinesStore", "open_jsonl"]


class JsonLinesStore:
    """Reads from an in-memory store; each hit also goes to ``path``, one JSON array a line."""

    resumable = True
    blocking_reads = False

    def __init__(
        self,
        path: str,
        *,
        app: str = "default",
        clock: Clock | None = None,
        retention: timedelta | None = None,
    ) -> None:
        self._path = path
        self._memory = MemoryStore(clock=clock, retention=retention, app=app)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    time_ns, node, caller, duration, status = json.loads(line)
                    self._memory.append(time_ns, node, caller, duration, status)
        # The hits recorded from now on, read back by flush() to write them out.
        self._unwritten = self._memory.subscribe()
        # The hot path: recording is the memory store's append, no I/O.
        self.append = self._memory.append

    def snapshot(self, query: Query) -> Snapshot:
        return self._memory.snapshot(query)

    def counts(self, query: Query) -> list[NodeCount]:
        return self._memory.counts(query)

    def edges(self, query: Query) -> list[EdgeCount]:
        return self._memory.edges(query)

    def apps(self) -> list[AppCount]:
        return self._memory.apps()

    def subscribe(self, after: int | None = None) -> Subscription:
        return self._memory.subscribe(after)

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
        return self._memory.rollups(
            size, lo, hi, ids, sketches=sketches, edges=edges, step=step, quantiles=quantiles
        )

    def horizons(self) -> Horizons:
        return self._memory.horizons()

    @property
    def dropped(self) -> int:
        return 0

    def backlog(self) -> Backlog:
        return Backlog()

    def flush(self, timeout: float | None = None) -> bool:
        with open(self._path, "a", encoding="utf-8") as out:
            while hits := self._unwritten.read(10_000):
                out.writelines(
                    json.dumps([h.time_ns, h.node, h.caller, h.duration, h.status]) + "\n"
                    for h in hits
                )
        return True

    def close(self) -> None:
        self.flush()
        self._unwritten.close()
        self._memory.close()


def open_jsonl(url: str, options: StoreOptions) -> JsonLinesStore:
    """``jsonl:///relative/path.jsonl`` or ``jsonl:////absolute/path.jsonl``."""
    path = urlsplit(url).path[1:]
    return JsonLinesStore(path, app=options.app, clock=options.clock, retention=options.retention)


register_scheme("jsonl", open_jsonl)
