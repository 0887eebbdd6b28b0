"""The store protocol: what memory, SQLite and PostgreSQL storage have in common."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._codec import KEY_MASK, KEY_SHIFT, STATUS_BITS, STATUS_MASK, pack_extra

if TYPE_CHECKING:
    from ._rollup import Horizons, Rollups

__all__ = [
    "AppCount",
    "Backlog",
    "Hit",
    "EdgeCount",
    "HitColumns",
    "LiveHit",
    "NodeCount",
    "QuarantinedBatch",
    "Query",
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


Hit = tuple[int, str, "str | None", "float | None", "int | None"]
"""One hit as queued: time (ns), node, caller, duration, status."""


@dataclass(frozen=True, slots=True)
class QuarantinedBatch:
    """Hits set aside because the store refused them for a reason retrying cannot fix.

    ``hits`` holds up to the quarantine's bound; ``count`` is how many were set aside.
    """

    hits: tuple[Hit, ...]
    count: int
    error: str
    time: float
    """When they were set aside, in seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a store holds in this process on its way to storage, and what it lost.

    ``queued`` hits are recorded and not yet stored: a crash (``kill -9``) loses them.
    ``oldest_age`` is how long the oldest of them has waited, in seconds (0 if none).
    ``dropped`` hits are lost for good (buffer full, refused, or left at close);
    ``quarantined`` of them were refused by the database and kept for inspection.
    ``failing`` is true while writes fail and are retried.
    """

    queued: int = 0
    oldest_age: float = 0.0
    dropped: int = 0
    quarantined: int = 0
    failing: bool = False


@dataclass(frozen=True, slots=True)
class AppCount:
    """An app a store holds: its hits, and the times of its first and last hit.

    ``first_ns`` and ``last_ns`` are None while the app has no hits. ``last_ns`` is exact
    while the app's newest per-hit data is retained; once retention deleted all of it, it
    is the first hit of the newest rollup bucket, at most one bucket before the last hit.
    """

    app: str
    hits: int
    first_ns: int | None
    last_ns: int | None


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


class HitColumns:
    """Per-hit data in columns, in time order; node and caller are indexes into ``names``.

    ``callers[i]`` is -1 for no caller, ``durations[i]`` NaN for no duration and
    ``statuses[i]`` 0 for no status. Columns keep a million hits cheap to move around.
    A store may instead give the packed ``keys`` and ``extras`` (:meth:`packed`); each
    form is derived from the other when first asked for.
    """

    __slots__ = (
        "_callers",
        "_durations",
        "_extras",
        "_keys",
        "_nodes",
        "_statuses",
        "names",
        "times",
    )

    def __init__(
        self,
        names: Sequence[str],
        times: Sequence[int],
        nodes: Sequence[int],
        callers: Sequence[int],
        durations: Sequence[float],
        statuses: Sequence[int],
    ) -> None:
        self.names = names
        self.times = times
        self._nodes: Sequence[int] | None = nodes
        self._callers: Sequence[int] | None = callers
        self._durations: Sequence[float] | None = durations
        self._statuses: Sequence[int] | None = statuses
        self._keys: Sequence[int] | None = None
        self._extras: Sequence[int] | None = None

    @classmethod
    def packed(
        cls,
        names: Sequence[str],
        times: Sequence[int],
        keys: Sequence[int],
        extras: Sequence[int] | None = None,
        *,
        durations: Sequence[float] | None = None,
        statuses: Sequence[int] | None = None,
    ) -> HitColumns:
        """Columns from packed node/caller ``keys``, and either the packed duration/status
        ``extras`` or plain ``durations`` and ``statuses`` (see ``_codec``)."""
        columns = cls.__new__(cls)
        columns.names = names
        columns.times = times
        columns._keys = keys
        columns._extras = extras
        columns._nodes = columns._callers = None
        columns._durations = durations
        columns._statuses = statuses
        return columns

    def __len__(self) -> int:
        return len(self.times)

    def node_counts(self) -> list[NodeCount]:
        """Hits per node in these columns, with each node's first time, in first-hit order."""
        counts: dict[int, int] = {}
        first: dict[int, int] = {}
        for n, t in zip(self.nodes, self.times):
            if n in counts:
                counts[n] += 1
            else:
                counts[n] = 1
                first[n] = t
        names = self.names
        return [NodeCount(names[n], k, first[n]) for n, k in counts.items()]

    @property
    def keys(self) -> Sequence[int]:
        if self._keys is None:
            self._keys = [(c + 1) << KEY_SHIFT | n for n, c in zip(self.nodes, self.callers)]
        return self._keys

    @property
    def extras(self) -> Sequence[int]:
        if self._extras is None:
            self._extras = [
                pack_extra(None if d != d else d, s or None)
                for d, s in zip(self.durations, self.statuses)
            ]
        return self._extras

    @property
    def nodes(self) -> Sequence[int]:
        if self._nodes is None:
            self._nodes = [key & KEY_MASK for key in self.keys]
        return self._nodes

    @property
    def callers(self) -> Sequence[int]:
        if self._callers is None:
            self._callers = [(key >> KEY_SHIFT) - 1 for key in self.keys]
        return self._callers

    @property
    def durations(self) -> Sequence[float]:
        if self._durations is None:
            nan = float("nan")
            self._durations = [
                ((e >> STATUS_BITS) - 1) / 1e6 if e >> STATUS_BITS else nan for e in self.extras
            ]
        return self._durations

    @property
    def statuses(self) -> Sequence[int]:
        if self._statuses is None:
            self._statuses = [e & STATUS_MASK for e in self.extras]
        return self._statuses


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

    A store declares what it can do in two attributes, so that no caller needs to know
    its class: ``resumable`` (its subscriptions resume after a delivered hit's
    ``LiveHit.seq``, so live streams survive reconnects and ``/metrics`` counts each hit
    once) and ``blocking_reads`` (its reads may wait on I/O, so asynchronous callers run
    them in a worker thread instead of on the event loop).
    """

    resumable: bool
    blocking_reads: bool

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

    def apps(self) -> list[AppCount]:
        """The apps this store holds, sorted by name, with their hits and hit times.

        A store shared by several apps (a database) lists every app opened on it, hit or
        not; a store of one app (memory) lists that one. Hits recorded in this process
        are included, as in every read.
        """

    def subscribe(self, after: int | None = None) -> Subscription:
        """A subscription starting after the last hit recorded so far.

        Args:
            after: with :attr:`resumable`, start right after the hit whose
                ``LiveHit.seq`` this is instead (0: from the oldest hit still held);
                hits already gone count as dropped. A store that is not resumable
                raises ``InvalidArgument`` for anything but None.
        """

    @property
    def dropped(self) -> int:
        """Hits lost for good (a storage fault outlasting the buffer)."""

    def backlog(self) -> Backlog:
        """Hits queued on their way to storage, their age, and hits lost."""

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
        """The rollup rows of the tier of buckets of ``size`` ns (a ``_rollup.TIERS``)
        whose buckets start in ``[lo, hi)``, on nodes ``ids`` if given. Hints a store may
        follow to read less: latency sketches may be left empty unless ``sketches``, edges
        unless ``edges``, and rows may come added up into buckets of ``step`` ns. With
        ``quantiles`` (and no ``step``), each row needs its p50/p95/p99 only: in
        ``NodeRollup.quantiles`` if the store keeps them, else from its sketch."""

    def horizons(self) -> Horizons:
        """From when per-hit data and each tier of rollups are complete."""

    def flush(self, timeout: float | None = None) -> bool:
        """Make every hit appended so far durable; False if ``timeout`` ran out first."""

    def close(self) -> None:
        """Flush and release resources; later appends raise ``StoreClosed``. Idempotent."""
