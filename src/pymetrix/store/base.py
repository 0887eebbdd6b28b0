"""The store protocol: what memory, SQLite and PostgreSQL storage have in common."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "EdgeCount",
    "HitColumns",
    "LiveHit",
    "NodeCount",
    "Query",
    "ResumableStore",
    "Snapshot",
    "Store",
    "Subscription",
]


@dataclass(frozen=True, slots=True)
class Query:
    """Which hits to read: ``since <= time < until`` (nanoseconds), on ``ids`` if given."""

    since_ns: int | None = None
    until_ns: int | None = None
    ids: frozenset[str] | None = None

    @property
    def windowed(self) -> bool:
        return self.since_ns is not None or self.until_ns is not None


@dataclass(frozen=True, slots=True)
class NodeCount:
    """A node's hits and the time of its first hit (within the query)."""

    node: str
    hits: int
    first_ns: int


@dataclass(frozen=True, slots=True)
class EdgeCount:
    """Hits on ``node`` whose caller was ``caller``."""

    caller: str | None
    node: str
    hits: int


@dataclass(frozen=True, slots=True)
class HitColumns:
    """Per-hit data in columns, in time order; node and caller are indexes into ``names``.

    ``callers[i]`` is -1 for no caller, ``durations[i]`` NaN for no duration and
    ``statuses[i]`` 0 for no status. Columns keep a million hits cheap to move around.
    """

    names: Sequence[str]
    times: Sequence[int]
    nodes: Sequence[int]
    callers: Sequence[int]
    durations: Sequence[float]
    statuses: Sequence[int]

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counts and retained hits read together, so they agree with each other.

    ``nodes`` lists every node with hits in the query, in first-hit order, with exact
    counts; ``hits`` holds the per-hit entries still retained.
    """

    nodes: list[NodeCount]
    hits: HitColumns


@dataclass(frozen=True, slots=True)
class LiveHit:
    """A hit delivered to a live subscriber, with the node's total after it.

    ``seq`` is the hit's position in the store, increasing in delivery order:
    ``subscribe(after=seq)`` resumes right after it. None from a store that has none.
    """

    time_ns: int
    node: str
    caller: str | None
    duration: float | None
    status: int | None
    node_hits: int
    node_first_ns: int
    seq: int | None = None


@runtime_checkable
class Subscription(Protocol):
    """A cursor over hits recorded after it was opened, each delivered once."""

    @property
    def dropped(self) -> int:
        """Hits that retention removed before this subscriber read them."""

    def read(self, limit: int) -> list[LiveHit]:
        """Up to ``limit`` new hits, oldest first; an empty list if none (never blocks)."""

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until hits may be readable; False on timeout."""

    async def wait_async(self, timeout: float) -> bool:
        """Like :meth:`wait`, without blocking the event loop."""

    def close(self) -> None:
        """Stop the subscription and wake any waiter."""


@runtime_checkable
class Store(Protocol):
    """Where the hits of one app live.

    ``append`` is the recording hot path: it must not do I/O, and must be safe from any
    thread. Reads return data in first-hit / time order.
    """

    def append(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        """Record one validated hit."""

    def snapshot(self, query: Query) -> Snapshot:
        """Counts and retained hits matching ``query``, consistent with each other."""

    def counts(self, query: Query) -> list[NodeCount]:
        """Per-node hits matching ``query`` in first-hit order, without reading hits."""

    def edges(self, query: Query) -> list[EdgeCount]:
        """Per caller->node hits matching ``query``, in order of first appearance."""

    def subscribe(self) -> Subscription:
        """A subscription starting after the last hit recorded so far."""

    @property
    def dropped(self) -> int:
        """Hits lost for good (a storage fault outlasting the buffer)."""

    def flush(self, timeout: float | None = None) -> bool:
        """Make every hit appended so far durable; False if ``timeout`` ran out first."""

    def close(self) -> None:
        """Flush and release resources. Idempotent."""


class ResumableStore(Store, Protocol):
    """A store whose subscriptions can resume from a hit's ``LiveHit.seq``."""

    def subscribe(self, after: int | None = None) -> Subscription:
        """A subscription starting after the last hit recorded so far.

        Args:
            after: start right after the hit whose ``LiveHit.seq`` this is instead (0:
                from the oldest hit still held); hits already gone count as dropped.
        """
