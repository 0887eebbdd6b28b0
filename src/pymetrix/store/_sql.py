"""What the SQLite and PostgreSQL stores share: batching, reads, live subscriptions.

A subclass supplies connections and the few statements that differ between the two
dialects; everything else — interning names, per-node ordinals, counts kept by upserts,
reads that agree with each other, the live cursor — lives here once.

Reads without a window take the exact all-time counts kept at write time. Windowed
reads (``since``/``until``) count the retained hits in the window, like the memory store:
the chunks overlapping it are found through the ``(app, last_ns)`` index and decoded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from operator import itemgetter
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from .._timefmt import MAX_NS, MIN_NS
from ..clock import Clock, SystemClock
from ..errors import StoreError
from ._buffer import BatchWriter, Columns, manage
from ._chunks import ALL_NODES, Chunk, decode, decode_bases, encode, encode_bases
from ._waiting import Waiters, WaitingSubscription
from .base import (
    KEY_MASK,
    KEY_SHIFT,
    EdgeCount,
    HitColumns,
    LiveHit,
    NodeCount,
    Query,
    Snapshot,
)

__all__ = ["STORE_OPTIONS", "SqlStore", "split_options"]

logger = logging.getLogger("pymetrix")

T = TypeVar("T")

_NAN = float("nan")
# A read first waits this long for this process's own queued hits to be written, so
# that a hit recorded just before a read is part of it.
_READ_FLUSH_TIMEOUT = 5.0
_RETENTION_EVERY = 1.0
_WATCH_RETRY = 0.5

_NAMES = "SELECT idx, name FROM pymetrix_names WHERE app = ? AND idx >= ? ORDER BY idx"
_TOTALS = "SELECT node, hits, first_ns FROM pymetrix_counts WHERE app = ? ORDER BY first_ns, seq"
_EDGES = "SELECT caller, node, hits FROM pymetrix_edges WHERE app = ? ORDER BY first_ns, seq"
_CHUNKS = (
    "SELECT first_ns, last_ns, hits, data FROM pymetrix_chunks "
    "WHERE app = ? AND last_ns >= ? AND first_ns < ? ORDER BY first_ns, id"
)
_LIVE = (
    "SELECT id, hits, data, bases FROM pymetrix_chunks "
    "WHERE app = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?"
)
# Chunks a live subscriber decodes per read at most.
_LIVE_CHUNKS = 4
_FIRST = "SELECT node, first_ns FROM pymetrix_counts WHERE app = ? AND node IN ({marks})"
_BASE_COUNTS = "SELECT node, hits FROM pymetrix_counts WHERE app = ? AND node IN ({marks})"
_APP_HITS = "SELECT COALESCE(SUM(hits), 0) FROM pymetrix_counts WHERE app = ?"
# Chunks a resuming subscriber looks back through per query, newest first.
_BEFORE = (
    "SELECT id, hits, bases FROM pymetrix_chunks WHERE app = ? AND id <= ? ORDER BY id DESC LIMIT ?"
)
_BEFORE_PAGE = 256
_ADD_NAME = "INSERT INTO pymetrix_names (app, idx, name) VALUES (?, ?, ?)"
# New rows take the next ``seq``: the order in which nodes and edges first appeared,
# which breaks ties between equal first-hit times. ``WHERE true`` lets SQLite parse the
# upsert after INSERT ... SELECT.
_UPSERT_COUNT = (
    "INSERT INTO pymetrix_counts (app, node, hits, first_ns, seq) "
    "SELECT ?, ?, ?, ?, (SELECT COUNT(*) FROM pymetrix_counts WHERE app = ?) WHERE true "
    "ON CONFLICT (app, node) DO UPDATE SET hits = pymetrix_counts.hits + excluded.hits, "
    "first_ns = {least}(pymetrix_counts.first_ns, excluded.first_ns)"
)
_UPSERT_EDGE = (
    "INSERT INTO pymetrix_edges (app, caller, node, hits, first_ns, seq) "
    "SELECT ?, ?, ?, ?, ?, (SELECT COUNT(*) FROM pymetrix_edges WHERE app = ?) WHERE true "
    "ON CONFLICT (app, caller, node) DO UPDATE SET hits = pymetrix_edges.hits + excluded.hits, "
    "first_ns = {least}(pymetrix_edges.first_ns, excluded.first_ns)"
)
_RETAIN = "DELETE FROM pymetrix_chunks WHERE app = ? AND last_ns < ?"


class SqlStore:
    """A store in a SQL database, written by a background thread in batches.

    Subclasses set the class attributes and implement the ``_``-prefixed hooks below.
    """

    kind = "sql"
    placeholder = "?"
    least = "MIN"
    # The exceptions meaning "the database failed", as opposed to a bug.
    driver_errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(
        self,
        shown_url: str,
        *,
        app: str,
        clock: Clock | None,
        retention: timedelta | None,
        flush_interval: float,
        batch_size: int,
        max_buffer: int,
    ) -> None:
        if not isinstance(app, str) or not app:
            raise ValueError(f"app must be a non-empty str, not {app!r}")
        self.url = shown_url
        self.app = app
        self._clock = clock or SystemClock()
        self._retention_ns = (
            None if retention is None else retention // timedelta(microseconds=1) * 1000
        )
        self._closed = False
        self._read_lock = threading.Lock()
        self._names: list[str] = []
        # Name -> number, and name -> its number's part of a key as caller.
        self._writer_names: dict[str | None, int] = {None: -1}
        self._writer_callers: dict[str | None, int] = {None: 0}
        self._writer_conn: Any = None
        self._next_retention = 0.0
        self._latest = 0
        self._waiters = Waiters()
        self._watcher_lock = threading.Lock()
        self._subscriptions: weakref.WeakSet[_SqlSubscription] = weakref.WeakSet()
        self._watcher: threading.Thread | None = None
        self._sql_cache: dict[str, str] = {}
        try:
            conn = self._open()
        except StoreError:
            raise
        except self.driver_errors as exc:
            raise StoreError(f"cannot open the {self.kind} store: {exc}", self.url) from exc
        self._reader: Any = conn
        try:
            self._app_id = self._register_app(conn, app)
        except self.driver_errors as exc:
            self._close_quietly(conn)
            raise StoreError(f"cannot open the {self.kind} store: {exc}", self.url) from exc
        self._writer = BatchWriter(
            f"pymetrix-{self.kind}-writer",
            self._write,
            f"{self.kind} store {self.url}",
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            maintain=self._maintain,
        )
        # The hot path: Metrics.hit calls the writer's append with no layer in between.
        self.append = self._writer.append
        manage(self)

    # -- hooks for the dialects ------------------------------------------------------

    def _open(self) -> Any:
        """Check or create the schema and return a connection for reads."""
        raise NotImplementedError

    def _connect(self) -> Any:
        """A new connection, ready for use (autocommit)."""
        raise NotImplementedError

    def _read_txn(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """A transaction whose reads all see one state of the database."""
        raise NotImplementedError

    def _write_txn(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """A transaction that holds this app's write lock until it ends."""
        raise NotImplementedError

    def _insert_chunk(
        self, conn: Any, first_ns: int, last_ns: int, hits: int, data: bytes, bases: bytes
    ) -> int:
        """Insert one chunk of this app; return its id."""
        raise NotImplementedError

    def _latest_id(self, conn: Any) -> int:
        """The id below which every row of this app is committed and readable."""
        raise NotImplementedError

    def _upsert_counts(self, conn: Any, rows: list[tuple[int, int, int]]) -> dict[int, int]:
        """Add (node, hits, first_ns) to the counts; return each node's count before.

        The app's count of every node before, under :data:`ALL_NODES`, comes with them.
        """
        app = self._app_id
        sql = self._sql(_BASE_COUNTS.format(marks=self._marks(len(rows))))
        bases = {node: 0 for node, _, _ in rows}
        bases.update(conn.execute(sql, (app, *bases)).fetchall())
        (bases[ALL_NODES],) = conn.execute(self._sql(_APP_HITS), (app,)).fetchone()
        conn.executemany(
            self._sql(_UPSERT_COUNT), [(app, node, hits, first, app) for node, hits, first in rows]
        )
        return bases

    def _upsert_edges(self, conn: Any, rows: list[tuple[int, int, int, int]]) -> None:
        """Add (caller, node, hits, first_ns) to the edge counts."""
        app = self._app_id
        conn.executemany(
            self._sql(_UPSERT_EDGE),
            [(app, caller, node, hits, first, app) for caller, node, hits, first in rows],
        )

    def _announce(self, conn: Any) -> None:
        """Tell other processes that rows were written (inside the write transaction)."""

    def _register_app(self, conn: Any, app: str) -> int:
        raise NotImplementedError

    def _watch_connect(self) -> Any:
        return self._connect()

    def _watch_wait(self, conn: Any, timeout: float) -> None:
        """Return when rows may have been written, or after ``timeout`` seconds."""
        time.sleep(timeout)

    def _orphan(self, conn: Any) -> None:
        """Forget a connection inherited across fork without touching the parent's."""
        _orphans.append(conn)

    def _sql(self, statement: str) -> str:
        cached = self._sql_cache.get(statement)
        if cached is None:
            cached = statement.replace("{least}", self.least)
            if self.placeholder != "?":
                cached = cached.replace("?", self.placeholder)
            self._sql_cache[statement] = cached
        return cached

    def _marks(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    @staticmethod
    def _close_quietly(conn: Any) -> None:
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.close()

    # -- writing (on the writer thread) ----------------------------------------------

    def _write(self, batch: Columns) -> None:
        conn = self._writer_conn
        if conn is None:
            conn = self._writer_conn = self._connect()
        added: list[str] = []
        try:
            with self._write_txn(conn):
                last_id = self._write_batch(conn, batch, added)
        except BaseException:
            # The transaction rolled back: names interned in it do not exist.
            for name in added:
                self._writer_names.pop(name, None)
                self._writer_callers.pop(name, None)
            self._writer_conn = None
            self._close_quietly(conn)
            raise
        if last_id > self._latest:
            self._latest = last_id
        self._wake()

    def _write_batch(self, conn: Any, batch: Columns, added: list[str]) -> int:
        # Per-hit work here runs in Python beside the application's threads: every
        # step is a C-level bulk operation (map, zip, Counter, array), none a loop.
        index = self._writer_names
        times, node_names, caller_names, durations, statuses = batch
        count = len(times)
        names: set[str | None] = set(node_names)
        names.update(caller_names)
        if not names <= index.keys():
            self._intern(conn, names, added)
        # A hit's key packs caller and node, as HitColumns does: (caller + 1) << 32 | node.
        keys = list(
            map(
                int.__or__,
                map(self._writer_callers.__getitem__, caller_names),
                map(index.__getitem__, node_names),
            )
        )
        edge_hits = Counter(keys)
        # Where each edge first appears: the batch is in time order, so that is its
        # first time, and the order of first appearance gives new rows their seq.
        edge_first = dict(zip(reversed(keys), range(count - 1, -1, -1)))
        edges = sorted(edge_first.items(), key=_second)
        node_hits: dict[int, int] = {}
        node_first: dict[int, int] = {}
        for key, at in edges:
            node = key & KEY_MASK
            node_hits[node] = node_hits.get(node, 0) + edge_hits[key]
            node_first.setdefault(node, at)
        bases = self._upsert_counts(
            conn, [(node, node_hits[node], times[at]) for node, at in node_first.items()]
        )
        chunk = Chunk(
            times=array("q", times),
            keys=array("q", keys),
            durations=(
                array("d", [_NAN]) * count
                if durations.count(None) == count
                else array("d", [_NAN if d is None else d for d in durations])
            ),
            statuses=(
                array("H", bytes(2 * count))
                if statuses.count(None) == count
                else array("H", [s or 0 for s in statuses])
            ),
        )
        chunk_id = self._insert_chunk(
            conn, times[0], times[-1], count, encode(chunk), encode_bases(bases)
        )
        self._upsert_edges(
            conn,
            [
                ((key >> KEY_SHIFT) - 1, key & KEY_MASK, edge_hits[key], times[at])
                for key, at in edges
            ],
        )
        self._announce(conn)
        return chunk_id

    def _intern(self, conn: Any, names: set[str | None], added: list[str]) -> None:
        """Give every name a number, reading those other processes added first."""
        index = self._writer_names
        callers = self._writer_callers
        known = len(index) - 1  # index also maps None (no caller) to -1
        for idx, name in conn.execute(self._sql(_NAMES), (self._app_id, known)).fetchall():
            index[name] = idx
            callers[name] = (idx + 1) << KEY_SHIFT
        for name in sorted(name for name in names - index.keys() if name is not None):
            idx = len(index) - 1
            conn.execute(self._sql(_ADD_NAME), (self._app_id, idx, name))
            index[name] = idx
            callers[name] = (idx + 1) << KEY_SHIFT
            added.append(name)

    def _maintain(self) -> None:
        if self._retention_ns is None:
            return
        now = time.monotonic()
        if now < self._next_retention:
            return
        self._next_retention = now + _RETENTION_EVERY
        cutoff = self._clock.time_ns() - self._retention_ns
        conn = self._writer_conn
        if conn is None:
            conn = self._writer_conn = self._connect()
        try:
            with self._write_txn(conn):
                conn.execute(self._sql(_RETAIN), (self._app_id, cutoff))
        except BaseException:
            self._writer_conn = None
            self._close_quietly(conn)
            raise

    # -- reading ---------------------------------------------------------------------

    def _read(self, read: Callable[[Any], T]) -> T:
        # While writes fail, reads would fail too: do not wait for the writer first.
        if not self._closed and not self._writer.failing:
            self._writer.flush(_READ_FLUSH_TIMEOUT)
        return self._read_now(read)

    def _load_names(self, conn: Any) -> list[str]:
        """Every name of this app, by number. Read lock held."""
        names = self._names
        rows = conn.execute(self._sql(_NAMES), (self._app_id, len(names))).fetchall()
        names.extend(name for _, name in rows)
        return list(names)

    def _bounds(self, query: Query, *, retained: bool) -> tuple[int, int]:
        lo = MIN_NS if query.since_ns is None else query.since_ns
        hi = MAX_NS if query.until_ns is None else query.until_ns
        if retained and self._retention_ns is not None:
            lo = max(lo, self._clock.time_ns() - self._retention_ns)
        return lo, hi

    def _wanted(self, query: Query, names: list[str]) -> set[int] | None:
        if query.ids is None:
            return None
        return {i for i, name in enumerate(names) if name in query.ids}

    def _hits(self, conn: Any, query: Query, names: list[str]) -> HitColumns:
        """The retained hits matching ``query``, in time order. Read transaction open."""
        lo, hi = self._bounds(query, retained=True)
        times: array[int] = array("q")
        keys: array[int] = array("q")
        durations: array[float] = array("d")
        statuses: array[int] = array("H")
        ordered = True
        newest = MIN_NS
        for first_ns, last_ns, hits, data in conn.execute(
            self._sql(_CHUNKS), (self._app_id, lo, hi)
        ):
            chunk = decode(data, hits)
            a, b = 0, hits
            if first_ns < lo:
                a = bisect_left(chunk.times, lo)
            if last_ns >= hi:
                b = bisect_left(chunk.times, hi)
            if a >= b:
                continue
            # Chunks of different processes may overlap in time; then sort below.
            if chunk.times[a] < newest:
                ordered = False
            newest = max(newest, chunk.times[b - 1])
            times.extend(chunk.times[a:b])
            keys.extend(chunk.keys[a:b])
            durations.extend(chunk.durations[a:b])
            statuses.extend(chunk.statuses[a:b])
        keep: Iterable[int] | None = None
        wanted = self._wanted(query, names)
        if wanted is not None:
            keep = [i for i, key in enumerate(keys) if key & KEY_MASK in wanted]
        if not ordered:
            if keep is None:
                keep = range(len(times))
            keep = sorted(keep, key=times.__getitem__)
        if keep is not None:
            times = array("q", [times[i] for i in keep])
            keys = array("q", [keys[i] for i in keep])
            durations = array("d", [durations[i] for i in keep])
            statuses = array("H", [statuses[i] for i in keep])
        return _columns(names, times, keys, durations, statuses)

    def snapshot(self, query: Query) -> Snapshot:
        def read(conn: Any) -> Snapshot:
            names = self._load_names(conn)
            columns = self._hits(conn, query, names)
            if query.windowed:
                return Snapshot(nodes=columns.node_counts(), hits=columns)
            return Snapshot(nodes=self._totals(conn, names, query), hits=columns)

        return self._read(read)

    def _totals(self, conn: Any, names: list[str], query: Query) -> list[NodeCount]:
        ids = query.ids
        return [
            NodeCount(names[node], hits, first_ns)
            for node, hits, first_ns in conn.execute(self._sql(_TOTALS), (self._app_id,))
            if ids is None or names[node] in ids
        ]

    def counts(self, query: Query) -> list[NodeCount]:
        def read(conn: Any) -> list[NodeCount]:
            names = self._load_names(conn)
            if not query.windowed:
                return self._totals(conn, names, query)
            return self._hits(conn, query, names).node_counts()

        return self._read(read)

    def edges(self, query: Query) -> list[EdgeCount]:
        def read(conn: Any) -> list[EdgeCount]:
            names = self._load_names(conn)
            if query.windowed:
                pairs = Counter(self._hits(conn, query, names).keys)
                rows = [
                    ((key >> KEY_SHIFT) - 1, key & KEY_MASK, hits) for key, hits in pairs.items()
                ]
            else:
                rows = conn.execute(self._sql(_EDGES), (self._app_id,)).fetchall()
            ids = query.ids
            return [
                EdgeCount(None if caller < 0 else names[caller], names[node], hits)
                for caller, node, hits in rows
                if ids is None or names[node] in ids
            ]

        return self._read(read)

    # -- live ------------------------------------------------------------------------

    def subscribe(self, after: int | None = None) -> _SqlSubscription:
        """A subscription starting after the last hit written so far.

        Args:
            after: start right after the hit whose ``LiveHit.seq`` this is instead (0:
                from the oldest hit still held); hits retention deleted since count as
                dropped.
        """

        def read(conn: Any) -> tuple[int, int, dict[int, int], int]:
            latest = self._latest_id(conn)
            seen = {
                node: hits for node, hits, _ in conn.execute(self._sql(_TOTALS), (self._app_id,))
            }
            total = sum(seen.values())
            if after is None or after >= total:
                return latest, latest, seen, total
            cursor = self._chunk_before(conn, max(0, after), latest)
            return latest, cursor, seen, max(0, after)

        latest, cursor, seen, total = self._read(read)
        if latest > self._latest:
            self._latest = latest
        subscription = _SqlSubscription(self, cursor, seen, total)
        self._subscriptions.add(subscription)
        self._ensure_watcher()
        return subscription

    def _chunk_before(self, conn: Any, after: int, latest: int) -> int:
        """The id of the newest chunk holding no hit numbered above ``after`` (0: none).

        Chunks are numbered in id order, so this looks back from the newest; a chunk
        from before hit numbers were kept ends the search. Read transaction open.
        """
        if after == 0:
            return 0
        upto = latest
        while True:
            rows = conn.execute(self._sql(_BEFORE), (self._app_id, upto, _BEFORE_PAGE)).fetchall()
            for chunk_id, hits, bases in rows:
                before = decode_bases(bases).get(ALL_NODES)
                if before is None or before + hits <= after:
                    return int(chunk_id)
            if len(rows) < _BEFORE_PAGE:
                return 0
            upto = rows[-1][0] - 1

    def _live_chunks(self, cursor: int, upto: int) -> list[tuple[int, Chunk, dict[int, int]]]:
        def read(conn: Any) -> list[tuple[int, Chunk, dict[int, int]]]:
            rows = conn.execute(self._sql(_LIVE), (self._app_id, cursor, upto, _LIVE_CHUNKS))
            return [
                (chunk_id, decode(data, hits), decode_bases(bases))
                for chunk_id, hits, data, bases in rows
            ]

        return self._read_now(read)

    def _first_times(self, nodes: Sequence[int]) -> tuple[list[str], dict[int, int]]:
        def read(conn: Any) -> tuple[list[str], dict[int, int]]:
            names = self._load_names(conn)
            sql = self._sql(_FIRST.format(marks=self._marks(len(nodes))))
            first = dict(conn.execute(sql, (self._app_id, *nodes)).fetchall())
            return names, first

        return self._read_now(read)

    def _read_now(self, read: Callable[[Any], T]) -> T:
        """Run ``read`` in a read transaction, without waiting for this process's writes."""
        with self._read_lock:
            # A connection kept from before may have died with a server restart: one
            # failure on it earns a retry on a new connection.
            for retry in (self._reader is not None, False):
                try:
                    conn = self._reader
                    if conn is None:
                        conn = self._reader = self._connect()
                    with self._read_txn(conn):
                        return read(conn)
                except self.driver_errors as exc:
                    self._close_quietly(self._reader)
                    self._reader = None
                    if not retry:
                        message = f"cannot read from the {self.kind} store: {exc}"
                        raise StoreError(message, self.url) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wake(self) -> None:
        self._waiters.wake_all()

    def _ensure_watcher(self) -> None:
        with self._watcher_lock:
            if self._watcher is not None and self._watcher.is_alive():
                return
            self._watcher = threading.Thread(
                target=self._watch, name=f"pymetrix-{self.kind}-watcher", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        """Follow rows written by other processes while someone subscribes."""
        conn = None
        failing = False
        try:
            while not self._closed and any(not s.closed for s in list(self._subscriptions)):
                try:
                    if conn is None:
                        conn = self._watch_connect()
                    self._watch_wait(conn, 0.25)
                    latest = self._latest_id(conn)
                    if failing:
                        failing = False
                        logger.warning("pymetrix: %s %s: following again", self.kind, self.url)
                except Exception as exc:
                    if not failing:
                        failing = True
                        logger.error(
                            "pymetrix: %s store %s: cannot follow new hits, retrying: %s",
                            self.kind,
                            self.url,
                            exc,
                        )
                    self._close_quietly(conn)
                    conn = None
                    time.sleep(_WATCH_RETRY)
                    continue
                if latest > self._latest:
                    self._latest = latest
                    self._wake()
        finally:
            self._close_quietly(conn)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        return self._writer.dropped

    @property
    def pending(self) -> int:
        """Hits recorded in this process and not yet written."""
        return self._writer.pending

    def flush(self, timeout: float | None = None) -> bool:
        return self._writer.flush(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued (waiting up to ``timeout`` seconds) and disconnect."""
        if self._closed:
            return
        self._writer.close(timeout)
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(2.0)
        with self._read_lock:
            self._close_quietly(self._reader)
            self._reader = None
        self._close_quietly(self._writer_conn)
        self._writer_conn = None

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, app={self.app!r})"

    def _after_fork_in_child(self) -> None:
        # Connections and locks belong to the parent (its threads may have held them at
        # fork time). Leave them be, start afresh, and let the writer restart.
        self._read_lock = threading.Lock()
        self._watcher_lock = threading.Lock()
        self._waiters = Waiters()
        for conn in (self._reader, self._writer_conn):
            if conn is not None:
                self._orphan(conn)
        self._reader = None
        self._writer_conn = None
        self._watcher = None
        self._subscriptions = weakref.WeakSet()
        self._writer._after_fork_in_child()


# Connections inherited across fork: kept referenced so that they are never finalised
# in the child, which would act on the parent's session.
_orphans: list[Any] = []


_second = itemgetter(1)


def _columns(
    names: list[str],
    times: array[int],
    keys: array[int],
    durations: array[float],
    statuses: array[int],
) -> HitColumns:
    """HitColumns from packed keys and plain durations and statuses.

    Each form HitColumns offers is derived from these when an export first asks for it;
    its constructors take either all-plain or all-packed columns, hence the slots.
    """
    columns = HitColumns.packed(names, times, keys, ())
    columns._extras = None
    columns._durations = durations
    columns._statuses = statuses
    return columns


class _SqlSubscription(WaitingSubscription):
    """A cursor over the store's chunk ids; each hit is delivered once, in id order.

    A hit's ``seq`` is its number among the app's hits, counted from 1 in the order
    they were written: the order of chunk ids, in which they are delivered.
    """

    def __init__(self, store: SqlStore, cursor: int, seen: dict[int, int], total: int) -> None:
        self._store = store
        self._cursor = cursor
        self._seen = seen
        # The app's hits up to the last one delivered or skipped; hits up to
        # ``_resume`` are old (the subscriber resumed after them) and not delivered.
        self._total = total
        self._resume = total
        self._first: dict[int, int] = {}
        self._names: list[str] = []
        self._ready: deque[LiveHit] = deque()
        super().__init__(store._waiters)

    def read(self, limit: int) -> list[LiveHit]:
        store = self._store
        if self.closed:
            return []
        ready = self._ready
        # Resuming may skip whole chunks of old hits: read on until some are new.
        while not ready:
            upto = store._latest
            if upto <= self._cursor:
                return []
            chunks = store._live_chunks(self._cursor, upto)
            # Fewer chunks than asked: nothing of this app is left up to ``upto``.
            self._cursor = chunks[-1][0] if len(chunks) >= _LIVE_CHUNKS else upto
            for _, chunk, bases in chunks:
                self._unpack(chunk, bases)
        out: list[LiveHit] = []
        while ready and len(out) < limit:
            out.append(ready.popleft())
        return out

    def _unpack(self, chunk: Chunk, bases: dict[int, int]) -> None:
        store = self._store
        first = self._first
        seen = self._seen
        before = bases.pop(ALL_NODES, None)
        if before is None:
            # A chunk written before hit numbers were kept: count on from the last.
            before = self._total
            for node, base in bases.items():
                gap = base - seen.get(node, 0)
                if gap > 0:
                    self._dropped += gap
        elif before > self._total:
            # Retention deleted these hits before this subscriber read them.
            self._dropped += before - self._total
            self._total = before
        seen.update(bases)
        skip = max(0, self._resume - before)
        self._total = before + len(chunk)
        if skip >= len(chunk):
            return
        needed = max(max(key & KEY_MASK, (key >> KEY_SHIFT) - 1) for key in set(chunk.keys))
        unknown = sorted(node for node, base in bases.items() if base and node not in first)
        if unknown or len(self._names) <= needed:
            self._names, found = store._first_times(unknown or [-1])
            first.update(found)
        names = self._names
        add = self._ready.append
        seq = before
        for time_ns, key, duration, status in zip(
            chunk.times, chunk.keys, chunk.durations, chunk.statuses
        ):
            node = key & KEY_MASK
            caller = (key >> KEY_SHIFT) - 1
            total = seen[node] + 1
            seen[node] = total
            seq += 1
            if total == 1:
                first[node] = time_ns
            if seq <= self._resume:
                continue
            add(
                LiveHit(
                    time_ns=time_ns,
                    node=names[node],
                    caller=None if caller < 0 else names[caller],
                    duration=None if duration != duration else duration,
                    status=status or None,
                    node_hits=total,
                    node_first_ns=first[node],
                    seq=seq,
                )
            )

    def _pending(self) -> bool:
        return self.closed or bool(self._ready) or self._cursor < self._store._latest


# Options any persistent store URL may carry in its query string.
STORE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "flush_interval": float,
    "batch_size": int,
    "max_buffer": int,
}


def split_options(
    url: str, shown_url: str, known: dict[str, Callable[[str], Any]], *, keep_unknown: bool
) -> tuple[str, dict[str, Any]]:
    """Take Pymetrix's options out of ``url``'s query string.

    Returns the URL without them and the options parsed. Unknown parameters stay in the
    URL if ``keep_unknown`` (a database driver's own), else they are an error.
    """
    parts = urlsplit(url)
    rest: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        convert = known.get(key)
        if convert is None:
            if not keep_unknown:
                valid = ", ".join(sorted(known))
                raise StoreError(f"unknown store URL option {key!r} (known: {valid})", shown_url)
            rest.append((key, value))
            continue
        try:
            options[key] = convert(value)
        except ValueError:
            raise StoreError(
                f"store URL option {key}={value!r} is not a number", shown_url
            ) from None
    # Rebuilt by hand: urlunsplit would turn "sqlite:////abs" into "sqlite://abs".
    base = url.split("?", 1)[0]
    if parts.fragment:
        base = base.split("#", 1)[0]
    return (f"{base}?{urlencode(rest)}" if rest else base), options
