"""What the SQLite and PostgreSQL stores share: batching, reads, live subscriptions.

A :class:`~pymetrix.store._dialect.Dialect` supplies connections and the few statements
that differ between databases; the chunk writer (``_sql_writer.py``) writes batches and
the live cursor (``_sql_live.py``) follows them; this module reads, and keeps the
store's lifecycle. Everything lives here once, for every dialect.

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
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from .._timefmt import MAX_NS, MIN_NS
from ..clock import Clock, SystemClock
from ..errors import InvalidArgument, StoreError
from . import _sql_rollups
from ._buffer import BatchWriter, Columns, WrittenByBatches, check_options
from ._chunks import ALL_NODES, Chunk, decode, decode_bases
from ._codec import KEY_MASK, KEY_SHIFT
from ._dialect import Connection, Dialect
from ._lifecycle import manage
from ._rollup import HORIZONS, SECOND, TIERS, Horizons, Rollups
from ._sql_live import LIVE_CHUNKS, SqlSubscription
from ._sql_writer import ChunkWriter
from ._waiting import Waiters
from .base import (
    AppCount,
    EdgeCount,
    HitColumns,
    NodeCount,
    Query,
    Snapshot,
)

__all__ = ["SqlStore"]

logger = logging.getLogger("pymetrix")

T = TypeVar("T")

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
_FIRST = "SELECT node, first_ns FROM pymetrix_counts WHERE app = ? AND node IN ({marks})"
# Chunks a resuming subscriber looks back through per query, newest first.
_BEFORE = (
    "SELECT id, hits, bases FROM pymetrix_chunks WHERE app = ? AND id <= ? ORDER BY id DESC LIMIT ?"
)
_BEFORE_PAGE = 256
_NEWEST_MINUTE = "SELECT MAX(bucket) FROM pymetrix_rollups WHERE app = ? AND tier = 60"
_TIERS_MADE = "SELECT tier, complete_from, rolled_until FROM pymetrix_rollup_tiers WHERE app = ?"
_NO_APP = 0
# Seconds between tries to open a database unreachable at start, while nothing is written.
_OPEN_BACKOFF_MIN = 0.25
_OPEN_BACKOFF_MAX = 5.0
# Every app with its hits and first hit (exact, kept at write time) and the newest
# retained chunk's last hit.
_APPS = (
    "SELECT a.id, a.name, COALESCE(SUM(c.hits), 0), MIN(c.first_ns), "
    "(SELECT MAX(k.last_ns) FROM pymetrix_chunks k WHERE k.app = a.id) "
    "FROM pymetrix_apps a LEFT JOIN pymetrix_counts c ON c.app = a.id GROUP BY a.id, a.name"
)


class SqlStore(WrittenByBatches):
    """A store in a SQL database, written by a background thread in batches.

    What differs between databases is the ``dialect``'s; the SQLite and PostgreSQL stores
    are this class with their dialect.
    """

    resumable = True
    blocking_reads = True

    def __init__(
        self,
        dialect: Dialect[Any],
        shown_url: str,
        *,
        app: str,
        clock: Clock | None,
        retention: timedelta | None,
        flush_interval: float,
        batch_size: int,
        max_buffer: int,
        overflow: str = "drop",
        rollup_retention: timedelta | None = None,
        read_only: bool = False,
    ) -> None:
        if not isinstance(app, str) or not app:
            raise InvalidArgument("app", app, "a non-empty str")
        check_options(flush_interval, batch_size, max_buffer, overflow)
        self.url = shown_url
        self.app = app
        self._dialect = dialect
        self.kind = dialect.kind
        self._clock = clock or SystemClock()
        self._retention_ns = _nanoseconds(retention)
        self._rollup_retention_ns = _nanoseconds(rollup_retention)
        self._closed = False
        self._read_lock = threading.Lock()
        self._names: list[str] = []
        self._next_retention = 0.0
        self._latest = 0
        self._waiters = Waiters()
        self._watcher_lock = threading.Lock()
        self._subscriptions: weakref.WeakSet[SqlSubscription] = weakref.WeakSet()
        self._watcher: threading.Thread | None = None
        self.read_only = read_only
        self._open_lock = threading.Lock()
        self._open_errors: tuple[type[BaseException], ...] = (StoreError, *dialect.driver_errors)
        self._next_open = 0.0
        self._open_backoff = _OPEN_BACKOFF_MIN
        # Set once construction is done: the writer thread may run before that.
        self._started = False
        # The last fault met opening the database, logged once until it changes.
        self._open_fault: str | None = None
        # The app's number: 0, which no app has (numbers start at 1), until known. A
        # store opened only to read registers no app: it finds its own once some process
        # records under it, and meanwhile its reads find nothing.
        self._app_id = _NO_APP
        self._opened = False
        self._reader: Connection | None = None
        # Replaced once the app's number is known; a store that reads only never writes.
        self._chunk_writer = ChunkWriter(dialect, _NO_APP)
        deferred: BaseException | None = None
        try:
            self._open()
        except StoreError:
            raise
        except dialect.driver_errors as exc:
            # A server that does not answer yet (down, starting, not resolvable): the
            # application starts, and its hits wait for it. A read-only store has nothing
            # to wait for; a server that answers and refuses (a wrong password, a
            # missing database) is a mistake to report now.
            if read_only or not dialect.unreachable(exc):
                raise StoreError(f"cannot open the {self.kind} store: {exc}", self.url) from exc
            deferred = exc
        self._writer = BatchWriter(
            f"pymetrix-{self.kind}-writer",
            self._write,
            f"{self.kind} store {self.url}",
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            # Retention deletes: the business of the processes that write.
            maintain=None if read_only else self._maintain,
            retryable=self._retryable,
            overflow=overflow,
        )
        if deferred is not None:
            self._open_fault = str(deferred)
            self._writer.mark_failing()
            logger.error(
                "pymetrix: %s store %s: cannot connect at start; hits are kept in memory "
                "(up to %d) and written once it answers: %s",
                self.kind,
                self.url,
                max_buffer,
                deferred,
            )
        # The hot path: Metrics.hit calls the writer's append with no layer in between.
        self.append = self._refuse if read_only else self._writer.append
        self._started = True
        manage(self)

    def _open(self) -> None:
        """Connect, create or check the schema, and register the app (or find it, when
        only reading). Raises ``StoreError`` or the dialect's driver errors."""
        dialect = self._dialect
        conn = dialect.open()
        try:
            if self.read_only:
                app_id = dialect.find_app(conn, self.app) or _NO_APP
            else:
                app_id = dialect.register_app(conn, self.app)
        except BaseException:
            self._close_quietly(conn)
            raise
        self._chunk_writer = ChunkWriter(dialect, app_id)
        self._app_id = app_id
        with self._read_lock:
            if self._reader is None:
                self._reader = conn
                conn = None
        self._close_quietly(conn)
        self._opened = True

    def _open_late(self) -> None:
        """Open the database if the server was unreachable at start; raises the fault
        (logged when it is new) while it cannot be opened."""
        if self._opened:
            return
        with self._open_lock:
            if self._opened:
                return
            try:
                self._open()
            except self._open_errors as exc:
                fault = str(exc)
                if fault != self._open_fault:
                    self._open_fault = fault
                    logger.error(
                        "pymetrix: %s store %s: cannot open it, hits stay in memory: %s",
                        self.kind,
                        self.url,
                        fault,
                    )
                raise
            self._open_fault = None
            self._writer.mark_recovered()
            logger.warning(
                "pymetrix: %s store %s: connected; writing the hits kept meanwhile",
                self.kind,
                self.url,
            )

    def _sql(self, statement: str) -> str:
        return self._dialect.sql(statement)

    @staticmethod
    def _close_quietly(conn: Connection | None) -> None:
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.close()

    def _refuse(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        raise StoreError("opened read-only: hits cannot be recorded", self.url)

    # -- writing (on the writer thread) ----------------------------------------------

    def _write(self, batch_id: int, batch: Columns) -> None:
        try:
            self._open_late()
        except self._open_errors as exc:
            # Nothing of the batch reached the database: a fault of the database, which
            # _retryable tells by its type, whatever the driver raised.
            reason = exc.reason if isinstance(exc, StoreError) else str(exc)
            raise StoreError(f"cannot open the {self.kind} store: {reason}", self.url) from exc
        chunk_id = self._chunk_writer.write(batch_id, batch)
        if chunk_id > self._latest:
            self._latest = chunk_id
        self._wake()

    def _retryable(self, exc: BaseException) -> bool:
        """Whether a write failed through the database (retry) or the batch (set aside)."""
        dialect = self._dialect
        if isinstance(exc, StoreError):
            return True  # the database could not be opened (see _write)
        return isinstance(exc, dialect.driver_errors) and not isinstance(
            exc, dialect.refused_errors
        )

    def _maintain(self) -> None:
        now = time.monotonic()
        if not self._opened:
            # Try now and then while idle, so that the store is ready before the first
            # hit or read; less often the longer the server stays away.
            if self._started and now >= self._next_open:
                self._open_backoff = min(self._open_backoff * 2, _OPEN_BACKOFF_MAX)
                self._next_open = now + self._open_backoff
                with contextlib.suppress(*self._open_errors):
                    self._open_late()
            return
        if now < self._next_retention:
            return
        self._next_retention = now + _RETENTION_EVERY
        cutoff = None
        if self._retention_ns is not None:
            cutoff = self._clock.time_ns() - self._retention_ns
        # Tiers age by the time of the hits written, not the clock: a store that is not
        # written to keeps what it has.
        latest = self._chunk_writer.last_ns
        tiers = {size: self._tier_horizon(size, latest) for size in TIERS}
        self._chunk_writer.delete_before(
            cutoff, {size: before for size, before in tiers.items() if before > MIN_NS}
        )

    def _tier_horizon(self, size: int, now: int) -> int:
        kept = [h for h in (HORIZONS[size], self._rollup_retention_ns) if h is not None]
        return MIN_NS if not kept or now == MIN_NS else now - min(kept)

    # -- reading ---------------------------------------------------------------------

    def _read(self, read: Callable[[Any], T]) -> T:
        # While writes fail, reads would fail too: do not wait for the writer first.
        if not self._closed and not self._writer.failing:
            self._writer.flush(_READ_FLUSH_TIMEOUT)
        return self._read_now(read)

    def _load_names(self, conn: Connection) -> list[str]:
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

    def _hits(self, conn: Connection, query: Query, names: list[str]) -> HitColumns:
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
        return HitColumns.packed(names, times, keys, durations=durations, statuses=statuses)

    def snapshot(self, query: Query) -> Snapshot:
        def read(conn: Connection) -> Snapshot:
            names = self._load_names(conn)
            columns = self._hits(conn, query, names)
            if query.windowed:
                return Snapshot(nodes=columns.node_counts(), hits=columns)
            return Snapshot(nodes=self._totals(conn, names, query), hits=columns)

        return self._read(read)

    def _totals(self, conn: Connection, names: list[str], query: Query) -> list[NodeCount]:
        ids = query.ids
        return [
            NodeCount(names[node], hits, first_ns)
            for node, hits, first_ns in conn.execute(self._sql(_TOTALS), (self._app_id,))
            if ids is None or names[node] in ids
        ]

    def counts(self, query: Query) -> list[NodeCount]:
        def read(conn: Connection) -> list[NodeCount]:
            names = self._load_names(conn)
            if not query.windowed:
                return self._totals(conn, names, query)
            return self._hits(conn, query, names).node_counts()

        return self._read(read)

    def edges(self, query: Query) -> list[EdgeCount]:
        def read(conn: Connection) -> list[EdgeCount]:
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

    def apps(self) -> list[AppCount]:
        """Every app of the database, with its hits and the times of its first and last."""

        def read(conn: Any) -> list[AppCount]:
            out = []
            for app, name, hits, first, last in conn.execute(self._sql(_APPS)).fetchall():
                if not hits:
                    out.append(AppCount(name, 0, None, None))
                    continue
                if last is None:
                    # Retention deleted every chunk of the app: its rollups remain.
                    last = _sql_rollups.newest_first(conn, self._sql, app)
                last = None if last is None else int(last)
                out.append(AppCount(name, int(hits), int(first), last))
            # Sorted here: the databases' collations would order names differently.
            return sorted(out, key=lambda entry: entry.app)

        return self._read(read)

    # -- rollups ---------------------------------------------------------------------

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
        def read(conn: Connection) -> Rollups:
            names = self._load_names(conn)
            wanted = self._wanted(Query(ids=ids), names)
            nodes = None if wanted is None else sorted(wanted)
            rows = _sql_rollups.read(
                conn,
                self._sql,
                self._app_id,
                size,
                lo,
                hi,
                nodes,
                sketches=sketches,
                edges=edges,
                step=step,
                quantiles=quantiles,
            )
            return rows.named(names)

        return self._read(read)

    def horizons(self) -> Horizons:
        # Retention deletes whole chunks older than its cutoff: every hit after it stays.
        raw = MIN_NS
        if self._retention_ns is not None:
            raw = self._clock.time_ns() - self._retention_ns
        # Tiers age by the newest hit stored by any process (each writer expires rows by
        # its own newest): a reader that wrote nothing must not take rows another
        # writer deleted for present.
        newest, made = self._read(self._tiers_made)
        now = max(self._chunk_writer.last_ns, newest)
        return Horizons(
            raw,
            {
                size: max(self._tier_horizon(size, now), made.get(size, (MIN_NS, 0))[0])
                for size in TIERS
            },
            {size: until for size, (_, until) in made.items()},
        )

    def _tiers_made(self, conn: Connection) -> tuple[int, dict[int, tuple[int, int]]]:
        """The end of the newest minute bucket (ns; MIN_NS if none), and of each tier
        made as its buckets close, from when and until when it holds them (ns)."""
        made = {
            tier * SECOND: (
                MIN_NS if complete_from is None else complete_from * SECOND,
                until * SECOND,
            )
            for tier, complete_from, until in conn.execute(
                self._sql(_TIERS_MADE), (self._app_id,)
            ).fetchall()
        }
        return self._newest_rolled(conn), made

    def _newest_rolled(self, conn: Connection) -> int:
        """The end of the newest minute bucket of this app's rollups (ns); MIN_NS if none."""
        (newest,) = conn.execute(self._sql(_NEWEST_MINUTE), (self._app_id,)).fetchone()
        return MIN_NS if newest is None else (int(newest) + 60) * 1_000_000_000

    # -- live ------------------------------------------------------------------------

    def subscribe(self, after: int | None = None) -> SqlSubscription:
        """A subscription starting after the last hit written so far.

        Args:
            after: start right after the hit whose ``LiveHit.seq`` this is instead (0:
                from the oldest hit still held); hits retention deleted since count as
                dropped.
        """

        def read(conn: Connection) -> tuple[int, int, dict[int, int], int]:
            latest = self._dialect.latest_id(conn, self._app_id)
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
        subscription = SqlSubscription(self, cursor, seen, total)
        self._subscriptions.add(subscription)
        self._ensure_watcher()
        return subscription

    def _chunk_before(self, conn: Connection, after: int, latest: int) -> int:
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
        def read(conn: Connection) -> list[tuple[int, Chunk, dict[int, int]]]:
            rows = conn.execute(self._sql(_LIVE), (self._app_id, cursor, upto, LIVE_CHUNKS))
            return [
                (chunk_id, decode(data, hits), decode_bases(bases))
                for chunk_id, hits, data, bases in rows
            ]

        return self._read_now(read)

    def _first_times(self, nodes: Sequence[int]) -> tuple[list[str], dict[int, int]]:
        def read(conn: Connection) -> tuple[list[str], dict[int, int]]:
            names = self._load_names(conn)
            sql = self._sql(_FIRST.format(marks=self._dialect.marks(len(nodes))))
            first = dict(conn.execute(sql, (self._app_id, *nodes)).fetchall())
            return names, first

        return self._read_now(read)

    def _read_now(self, read: Callable[[Any], T]) -> T:
        """Run ``read`` in a read transaction, without waiting for this process's writes."""
        try:
            self._open_late()
        except self._open_errors as exc:
            reason = exc.reason if isinstance(exc, StoreError) else str(exc)
            message = f"cannot read from the {self.kind} store: {reason}"
            raise StoreError(message, self.url) from exc
        with self._read_lock:
            # A connection kept from before may have died with a server restart: one
            # failure on it earns a retry on a new connection.
            for retry in (self._reader is not None, False):
                try:
                    conn = self._reader
                    if conn is None:
                        conn = self._reader = self._dialect.connect()
                    with self._dialect.read_txn(conn):
                        if self._app_id == _NO_APP:
                            self._app_id = self._dialect.find_app(conn, self.app) or _NO_APP
                        return read(conn)
                except self._dialect.driver_errors as exc:
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
                        conn = self._dialect.watch_connect()
                    self._dialect.watch_wait(conn, 0.25)
                    latest = self._dialect.latest_id(conn, self._app_id)
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
    def pending(self) -> int:
        """Hits recorded in this process and not yet written."""
        return self._writer.pending

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
        self._chunk_writer.disconnect()

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
        self._open_lock = threading.Lock()
        self._watcher_lock = threading.Lock()
        self._waiters = Waiters()
        if self._reader is not None:
            self._dialect.orphan(self._reader)
        self._reader = None
        self._chunk_writer.orphan()
        self._watcher = None
        self._subscriptions = weakref.WeakSet()
        self._writer._after_fork_in_child()


def _nanoseconds(delta: timedelta | None) -> int | None:
    return None if delta is None else delta // timedelta(microseconds=1) * 1000
