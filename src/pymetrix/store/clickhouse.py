"""The ClickHouse store: hits of many hosts in a column store built for them.

``clickhouse://user:password@host:8123/dbname`` (``clickhouses://`` for TLS, port 8443
by default), through clickhouse-connect from the ``clickhouse`` extra; or a ready
clickhouse-connect client: ``ClickHouseStore(client=client, database="analytics")``.
Pymetrix's options ride in the query string: ``flush_interval`` (seconds),
``batch_size`` and ``max_buffer`` (hits), ``overflow`` (``drop`` or ``block``),
``connect_timeout`` (seconds), ``cluster`` (create the tables on a cluster) and
``live_settle`` (seconds a live stream waits for claimed hits, default 10).

The schema is in ``_clickhouse_schema``: one insert per batch into the hits table, and
materialized views that keep counts, edges and rollups from it.

Exactly once: each batch is inserted with ``insert_deduplication_token`` set to its
batch id (the tables keep a deduplication window, also when not replicated, and the
views deduplicate their blocks too), so a batch retried after a lost reply is dropped
by the server instead of counted twice. A table of batch ids could not do that: the
insert and the id's row would be two writes, and a reply lost between them would
store the batch twice or lose it.

Threads: a clickhouse-connect client runs one query at a time. From a URL, the writer,
the reader and the live watcher each get a client of their own; a client handed in is
shared by all three under one lock (per client, so that stores sharing it queue too).

Hit numbers (``seq``, what live streams resume from) come from claims in the database,
in the order the server made them visible (``_clickhouse_seq``): dense and given once
whichever processes write an app, and followed by subscribers only as far as every
claimed range is written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from .._timefmt import MAX_NS, MIN_NS
from ..clock import Clock, SystemClock
from ..errors import InvalidArgument, MissingDependency, StoreError
from ._buffer import BatchWriter, Columns, WrittenByBatches, check_options
from ._clickhouse_live import ClickHouseSubscription
from ._clickhouse_schema import SCHEMA_VERSION, check_identifier, ddl, quote
from ._clickhouse_seq import SETTLE_SECONDS, Numbering, settled
from ._lifecycle import manage
from ._options import WRITER_OPTIONS, Option, seconds, split_options
from ._rollup import (
    HORIZONS,
    QUANTILES,
    SECOND,
    TIERS,
    EdgeRollup,
    Horizons,
    NodeRollup,
    Percentiles,
    Rollups,
    rounded,
)
from ._sketch import Sketch, value_of
from ._waiting import Waiters
from .base import AppCount, EdgeCount, HitColumns, NodeCount, Query, Snapshot

try:
    import clickhouse_connect
    from clickhouse_connect.driver import exceptions as ch_errors
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("clickhouse-connect", "clickhouse") from exc

__all__ = ["ClickHouseStore", "client_settings", "open_clickhouse"]

logger = logging.getLogger("pymetrix")

T = TypeVar("T")
Client = Any
"""A clickhouse-connect client (``clickhouse_connect.driver.Client``)."""

_READ_FLUSH_TIMEOUT = 5.0
# A bucket's quantiles are kept once it ended this long ago (ns): hits written later
# only make a read take them from the sketches again.
_QUANTILES_GRACE = 60 * SECOND
_QUANTILE_COLUMNS = ("app", "tier", "bucket", "node", "hits", "p50", "p95", "p99", "expires")
_WATCH_EVERY = 0.25
_RETENTION_EVERY = 1.0
_NAN = float("nan")
_DRIVER_ERRORS: tuple[type[Exception], ...] = (ch_errors.Error, OSError)
# What the client or server refuses in the data itself: retrying cannot help.
_REFUSED: tuple[type[BaseException], ...] = (ch_errors.DataError, ch_errors.ProgrammingError)
_UNREACHABLE: tuple[type[BaseException], ...] = (ch_errors.OperationalError, OSError)
_HIT_COLUMNS = (
    "app",
    "node",
    "time",
    "caller",
    "duration",
    "status",
    "seq",
    "node_hits",
    "keep",
    "rollup_keep",
    "offset",
)
_INSERT_SETTINGS = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # The views' blocks are already added up by their keys: merging them again while
    # they are written costs more than the views (every read adds rows up anyway).
    "optimize_on_insert": 0,
    # The views of a block run side by side, each on a core, rather than in turn.
    "parallel_view_processing": 1,
}
# With a cluster, the insert reaches the shards before it returns, so that a failure
# is seen (and the batch retried under its token) rather than queued on one node.
_CLUSTER_SETTINGS = {"distributed_foreground_insert": 1}

# One lock per client handed in, whichever stores share it.
_client_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_client_locks_guard = threading.Lock()


def _lock_of(client: Client) -> threading.Lock:
    with _client_locks_guard:
        lock = _client_locks.get(client)
        if lock is None:
            lock = _client_locks[client] = threading.Lock()
        return lock


def _new_guard_in_child() -> None:
    # A parent's thread may have held it at fork time; the child has no such thread.
    global _client_locks_guard
    _client_locks_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_guard_in_child)


class _Session:
    """One role's client (writer, reader, watcher) and the lock around its queries."""

    def __init__(
        self,
        connect: Callable[[], Client] | None,
        client: Client | None,
        lock: threading.Lock | None = None,
    ) -> None:
        self._connect = connect
        self._client = client
        if lock is None:
            lock = _lock_of(client) if client is not None else threading.Lock()
        self.lock = lock

    @contextmanager
    def use(self) -> Iterator[Client]:
        with self.lock:
            if self._client is None:
                assert self._connect is not None
                self._client = self._connect()
            try:
                yield self._client
            except _UNREACHABLE:
                self.reset()
                raise

    def reset(self) -> None:
        """Forget a client of our own that may be broken: the next use connects again."""
        if self._connect is not None and self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):  # a broken client may fail to close
                client.close()


def _ns(delta: timedelta | None) -> int | None:
    return None if delta is None else delta // timedelta(microseconds=1) * 1000


def _keep_seconds(ns: int | None) -> int:
    """Retention as the TTL columns hold it: whole seconds, rounded up; 0 for none."""
    return 0 if ns is None else min(4294967295, -(-ns // SECOND))


class ClickHouseStore(WrittenByBatches):
    """Hits in a ClickHouse database, written in batches by a background thread.

    Args:
        url: ``clickhouse://user:password@host:port/dbname`` (``clickhouses://`` for
            TLS); or None with ``client``.
        client: a ready clickhouse-connect client, used instead of ``url`` (shared by
            the store's threads under a lock).
        database: the database, a plain identifier (default: the URL's, or
            ``default``); created if missing.
        cluster: create the tables ``ON CLUSTER`` this cluster, replicated and behind
            ``Distributed`` tables sharded by node.
        app: the app whose hits these are; apps share a database without mixing.
        clock: the clock retention is measured against.
        retention: per-hit data older than this is no longer read, and deleted by TTL.
        rollup_retention: rollups older than this are no longer read, and deleted by
            TTL (each tier also has a bound of its own, see ``_rollup``).
        flush_interval: seconds between writes of queued hits.
        batch_size: hits written per insert at most.
        max_buffer: hits kept in memory at most while the server is unreachable.
        overflow: with ``max_buffer`` hits queued, ``"drop"`` newer ones or ``"block"``.
        connect_timeout: seconds to wait for a connection (from a URL).
        shown_url: the store as named in messages (default: ``url``, password masked).
        read_only: only read a database that holds Pymetrix's tables: nothing is
            created, the app is not registered, hits are refused.
        live_settle: seconds a live subscriber waits for hit numbers claimed and not
            written yet before it gives them up (counted as dropped).
    """

    resumable = True
    blocking_reads = True
    kind = "clickhouse"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Client | None = None,
        database: str | None = None,
        cluster: str | None = None,
        app: str = "default",
        clock: Clock | None = None,
        retention: timedelta | None = None,
        rollup_retention: timedelta | None = None,
        flush_interval: float = 0.5,
        batch_size: int = 50_000,
        max_buffer: int = 1_000_000,
        overflow: str = "drop",
        connect_timeout: float = 5.0,
        shown_url: str | None = None,
        read_only: bool = False,
        live_settle: float = SETTLE_SECONDS,
    ) -> None:
        from . import mask_url

        if not isinstance(app, str) or not app:
            raise InvalidArgument("app", app, "a non-empty str")
        if (url is None) == (client is None):
            raise InvalidArgument("url", url, "a clickhouse:// URL or a client, not both")
        check_options(flush_interval, batch_size, max_buffer, overflow)
        if (
            isinstance(live_settle, bool)
            or not isinstance(live_settle, int | float)
            or not 0 < live_settle <= 3600
        ):
            raise InvalidArgument("live_settle", live_settle, "seconds > 0, <= 3600")
        connect: Callable[[], Client] | None = None
        if url is not None:
            settings, url_database = client_settings(url, connect_timeout)
            if database is None:
                database = url_database
            self.url = shown_url or mask_url(url)

            def connect() -> Client:
                return clickhouse_connect.get_client(**settings)

        else:
            self.url = shown_url or f"{type(client).__name__} client"
        self.database = check_identifier(
            "database", "default" if database is None else database, self.url
        )
        self.cluster = None if cluster is None else check_identifier("cluster", cluster, self.url)
        self.app = app
        self.read_only = read_only
        self._db = quote(self.database)
        self._clock = clock or SystemClock()
        self._retention_ns = _ns(retention)
        self._rollup_retention_ns = _ns(rollup_retention)
        self._connect = connect
        self._given = client
        self._sessions = {role: _Session(connect, client) for role in ("writer", "reader", "watch")}
        self._closed = False
        self._opened = False
        self._open_lock = threading.Lock()
        self._open_fault: str | None = None
        self._latest = 0  # every hit up to this number is written or given up
        self._settle = float(live_settle)
        self._numbering = Numbering(self._table, self._delete_target, app)
        # Server time minus the newest hit's time at the last write (ns): how far this
        # store's clock is behind the server's, which TTL deletes by.
        self._offset_ns: int | None = None
        self._next_retention = 0.0
        self._waiters = Waiters()
        self._subscriptions: weakref.WeakSet[ClickHouseSubscription] = weakref.WeakSet()
        self._watcher: threading.Thread | None = None
        self._watcher_lock = threading.Lock()
        deferred: BaseException | None = None
        try:
            self._open()
        except StoreError:
            raise
        except _DRIVER_ERRORS as exc:
            if read_only or not isinstance(exc, _UNREACHABLE):
                raise StoreError(f"cannot open the clickhouse store: {exc}", self.url) from exc
            deferred = exc
        self._writer = BatchWriter(
            "pymetrix-clickhouse-writer",
            self._write,
            f"clickhouse store {self.url}",
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            retryable=self._retryable,
            overflow=overflow,
            maintain=None if read_only or retention is None else self._maintain,
        )
        if deferred is not None:
            self._open_fault = str(deferred)
            self._writer.mark_failing()
            logger.error(
                "pymetrix: clickhouse store %s: cannot connect at start; hits are kept in "
                "memory (up to %d) and written once it answers: %s",
                self.url,
                max_buffer,
                deferred,
            )
        self.append = self._refuse if read_only else self._writer.append
        manage(self)

    def _table(self, name: str) -> str:
        return f"{self._db}.{quote(name)}"

    def _delete_target(self, name: str) -> str:
        """What ``DELETE FROM`` takes for table ``name``: on a cluster, its local tables."""
        if self.cluster is None:
            return self._table(name)
        return f"{self._table(name + '_local')} ON CLUSTER {quote(self.cluster)}"

    # -- opening ---------------------------------------------------------------------

    def _open(self) -> None:
        """Create or check the schema and register the app; raises StoreError or the
        driver's errors."""
        with self._sessions["reader"].use() as client:
            version = self._schema_version(client)
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"the database was written by a newer Pymetrix (schema version "
                    f"{version}, this one reads up to {SCHEMA_VERSION}); upgrade Pymetrix "
                    "or use another database",
                    self.url,
                )
            if version is None:
                if self.read_only:
                    raise StoreError("not a Pymetrix database: it holds no Pymetrix data", self.url)
                for statement in ddl(self.database, self.cluster):
                    client.command(statement)
                client.command(
                    f"INSERT INTO {self._table('pymetrix_meta')} (key, value) "
                    "VALUES ('schema_version', {v:String})",
                    parameters={"v": str(SCHEMA_VERSION)},
                )
            if not self.read_only:
                client.command(
                    f"INSERT INTO {self._table('pymetrix_apps')} (app) VALUES ({{app:String}})",
                    parameters={"app": self.app},
                )
            self._latest = max(self._latest, self._settled_seq(client))
        self._opened = True

    def _schema_version(self, client: Client) -> int | None:
        """The database's schema version; None if it has no Pymetrix tables. A database
        with Pymetrix's table names and no version is not ours: StoreError."""
        tables = {
            row[0]
            for row in client.query(
                "SELECT name FROM system.tables WHERE database = {db:String} "
                "AND name LIKE 'pymetrix\\\\_%'",
                parameters={"db": self.database},
            ).result_rows
        }
        if "pymetrix_meta" not in tables:
            if "pymetrix_hits" in tables:
                raise StoreError(
                    "not a Pymetrix database: it has a pymetrix_hits table but no schema version",
                    self.url,
                )
            return None
        rows = client.query(
            f"SELECT value FROM {self._table('pymetrix_meta')} FINAL WHERE key = 'schema_version'"
        ).result_rows
        try:
            return int(rows[0][0])
        except (IndexError, ValueError):
            raise StoreError(
                "not a Pymetrix database: its pymetrix_meta table holds no schema version",
                self.url,
            ) from None

    def _open_late(self) -> None:
        if self._opened:
            return
        with self._open_lock:
            if self._opened:
                return
            try:
                self._open()
            except (StoreError, *_DRIVER_ERRORS) as exc:  # type: ignore[misc]
                if str(exc) != self._open_fault:
                    self._open_fault = str(exc)
                    logger.error(
                        "pymetrix: clickhouse store %s: cannot open it, hits stay in memory: %s",
                        self.url,
                        exc,
                    )
                raise
            self._open_fault = None
            self._writer.mark_recovered()
            logger.warning("pymetrix: clickhouse store %s: connected", self.url)

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
        except (StoreError, *_DRIVER_ERRORS) as exc:  # type: ignore[misc]
            reason = exc.reason if isinstance(exc, StoreError) else str(exc)
            raise StoreError(f"cannot open the clickhouse store: {reason}", self.url) from exc
        times = batch[0]
        settings: dict[str, Any] = {
            **_INSERT_SETTINGS,
            "insert_deduplication_token": f"pymetrix-{batch_id}",
        }
        if self.cluster is not None:
            settings.update(_CLUSTER_SETTINGS)
        wall_ns = time.time_ns()
        with self._sessions["writer"].use() as client:
            # Numbered on from the claims before this batch's own: a retry after a lost
            # reply finds the same claim, and the server drops the hits by their token.
            seen = self._numbering.claim(client, batch_id, batch[1])
            client.insert(
                self._table("pymetrix_hits"),
                self.hit_rows(batch, seen, (wall_ns - times[-1]) // SECOND),
                column_names=_HIT_COLUMNS,
                column_oriented=True,
                settings=settings,
            )
            self._offset_ns = wall_ns - times[-1]
            if self._subscriptions:
                self._follow(client)

    def hit_rows(self, batch: Columns, seen: dict[str, int], offset: int) -> list[Sequence[Any]]:
        """The columns of ``pymetrix_hits`` for a batch: ``seen`` holds each node's stored
        hits (counted on in place), ``offset`` the server's time minus the newest hit's
        (seconds). Every step is a C-level list operation but the running counts."""
        times, nodes, callers, durations, statuses = batch
        count = len(times)
        base = sum(seen.values())
        get = seen.get
        node_hits: list[int] = []
        add = node_hits.append
        for node in nodes:
            seen[node] = total = get(node, 0) + 1
            add(total)
        return [
            [self.app] * count,
            nodes,
            times,
            ["" if c is None else c for c in callers],
            [_NAN if d is None else d for d in durations],
            [s or 0 for s in statuses],
            range(base + 1, base + count + 1),
            node_hits,
            [_keep_seconds(self._retention_ns)] * count,
            [_keep_seconds(self._rollup_retention_ns)] * count,
            [offset] * count,
        ]

    def _maintain(self) -> None:
        """Delete the hits past retention (writer thread).

        TTL deletes them too, at the server's pace and by its clock; this delete makes
        a live subscriber resuming from before them count them as dropped at once, as
        with every store. Reads never wait for either: they skip such hits anyway.
        """
        now = time.monotonic()
        if not self._opened or now < self._next_retention or self._retention_ns is None:
            return
        self._next_retention = now + _RETENTION_EVERY
        params = {"app": self.app, "cutoff": self._clock.time_ns() - self._retention_ns}
        where = "app = {app:String} AND time < {cutoff:Int64}"
        with self._sessions["writer"].use() as client:
            old = client.query(
                f"SELECT count() FROM {self._table('pymetrix_hits')} WHERE {where}",
                parameters=params,
            ).result_rows
            if not old or not old[0][0]:
                return
            target = self._delete_target("pymetrix_hits")
            client.command(f"DELETE FROM {target} WHERE {where}", parameters=params)

    def _retryable(self, exc: BaseException) -> bool:
        """Whether a write failed through the server (retry) or the batch (set aside)."""
        if isinstance(exc, StoreError):
            return True
        return isinstance(exc, _DRIVER_ERRORS) and not isinstance(exc, _REFUSED)

    # -- reading ---------------------------------------------------------------------

    def _read(self, read: Callable[[Client], T]) -> T:
        # While writes fail, reads would fail too: do not wait for the writer first.
        if not self._closed and not self._writer.failing:
            self._writer.flush(_READ_FLUSH_TIMEOUT)
        return self._read_now(read)

    def _read_now(self, read: Callable[[Client], T], role: str = "reader") -> T:
        try:
            self._open_late()
            with self._sessions[role].use() as client:
                return read(client)
        except StoreError as exc:
            raise StoreError(
                f"cannot read from the clickhouse store: {exc.reason}", self.url
            ) from exc
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"cannot read from the clickhouse store: {exc}", self.url) from exc

    def _where(self, query: Query, *, retained: bool) -> tuple[str, dict[str, Any]]:
        """The conditions on hits of ``query`` (and within retention if ``retained``)."""
        lo = MIN_NS if query.since_ns is None else query.since_ns
        hi = MAX_NS if query.until_ns is None else query.until_ns
        if retained and self._retention_ns is not None:
            lo = max(lo, self._clock.time_ns() - self._retention_ns)
        where = "app = {app:String} AND time >= {lo:Int64} AND time < {hi:Int64}"
        params: dict[str, Any] = {"app": self.app, "lo": lo, "hi": hi}
        if query.ids is not None:
            where += " AND node IN {ids:Array(String)}"
            params["ids"] = sorted(query.ids)
        return where, params

    def _ids(self, ids: frozenset[str] | None, params: dict[str, Any]) -> str:
        if ids is None:
            return ""
        params["ids"] = sorted(ids)
        return " AND node IN {ids:Array(String)}"

    def _totals(self, client: Client, ids: frozenset[str] | None) -> list[NodeCount]:
        params: dict[str, Any] = {"app": self.app}
        rows = client.query(
            "SELECT node, toInt64(sum(hits)), min(first_ns) AS f, min(first_seq) AS s "
            f"FROM {self._table('pymetrix_counts')} WHERE app = {{app:String}}"
            f"{self._ids(ids, params)} GROUP BY node ORDER BY f, s",
            parameters=params,
        ).result_rows
        return [NodeCount(node, hits, first) for node, hits, first, _ in rows]

    def _hits(self, client: Client, query: Query) -> HitColumns:
        where, params = self._where(query, retained=True)
        result = client.query(
            "SELECT time, node, caller, duration, status "
            f"FROM {self._table('pymetrix_hits')} WHERE {where} ORDER BY time, seq",
            parameters=params,
        )
        columns = result.result_columns
        if not columns or not columns[0]:
            return HitColumns([], [], [], [], [], [])
        times, nodes, callers, durations, statuses = columns
        index: dict[str, int] = {}
        number = index.setdefault
        node_numbers = [number(node, len(index)) for node in nodes]
        caller_numbers = [number(caller, len(index)) if caller else -1 for caller in callers]
        return HitColumns(
            list(index), list(times), node_numbers, caller_numbers, durations, statuses
        )

    def snapshot(self, query: Query) -> Snapshot:
        def read(client: Client) -> Snapshot:
            hits = self._hits(client, query)
            if query.windowed:
                return Snapshot(nodes=hits.node_counts(), hits=hits)
            return Snapshot(nodes=self._totals(client, query.ids), hits=hits)

        return self._read(read)

    def counts(self, query: Query) -> list[NodeCount]:
        def read(client: Client) -> list[NodeCount]:
            if not query.windowed:
                return self._totals(client, query.ids)
            where, params = self._where(query, retained=True)
            rows = client.query(
                "SELECT node, count(), min((time, seq)) AS f "
                f"FROM {self._table('pymetrix_hits')} WHERE {where} GROUP BY node ORDER BY f",
                parameters=params,
            ).result_rows
            return [NodeCount(node, hits, first[0]) for node, hits, first in rows]

        return self._read(read)

    def edges(self, query: Query) -> list[EdgeCount]:
        def read(client: Client) -> list[EdgeCount]:
            if query.windowed:
                where, params = self._where(query, retained=True)
                sql = (
                    "SELECT caller, node, count(), min((time, seq)) AS f "
                    f"FROM {self._table('pymetrix_hits')} WHERE {where} "
                    "GROUP BY caller, node ORDER BY f"
                )
            else:
                params = {"app": self.app}
                sql = (
                    "SELECT caller, node, toInt64(sum(hits)), "
                    "(min(first_ns), min(first_seq)) AS f "
                    f"FROM {self._table('pymetrix_edges')} WHERE app = {{app:String}}"
                    f"{self._ids(query.ids, params)} GROUP BY caller, node ORDER BY f"
                )
            rows = client.query(sql, parameters=params).result_rows
            return [EdgeCount(caller or None, node, hits) for caller, node, hits, _ in rows]

        return self._read(read)

    def apps(self) -> list[AppCount]:
        """Every app of the database, with its hits and the times of its first and last."""

        def read(client: Client) -> list[AppCount]:
            names = client.query(
                f"SELECT DISTINCT app FROM {self._table('pymetrix_apps')}"
            ).result_rows
            counts = {
                app: (hits, first, last)
                for app, hits, first, last in client.query(
                    "SELECT app, toInt64(sum(hits)), min(first_ns), max(last_ns) "
                    f"FROM {self._table('pymetrix_counts')} GROUP BY app"
                ).result_rows
            }
            out = []
            for name in {row[0] for row in names} | set(counts):
                hits, first, last = counts.get(name, (0, None, None))
                out.append(AppCount(name, hits, first if hits else None, last if hits else None))
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
        kept = quantiles and not sketches and step is None
        params: dict[str, Any] = {"app": self.app, "tier": size // SECOND, "lo": lo, "hi": hi}
        bucket = "bucket"
        if step is not None:
            params["step"] = step
            bucket = "bucket - ((bucket % {step:Int64}) + {step:Int64}) % {step:Int64}"
        where = (
            "app = {app:String} AND tier = {tier:UInt32} AND bucket >= {lo:Int64} "
            f"AND bucket < {{hi:Int64}}{self._ids(ids, params)}"
        )
        table = self._table("pymetrix_rollups")
        sketch = ", sumMap(sketch)" if sketches else ""
        nodes_sql = (
            f"SELECT {bucket} AS b, node, toInt64(sum(hits)), toInt64(sum(errors)), "
            f"toInt64(sum(timed)), sum(duration_sum), min(first_ns){sketch} "
            f"FROM {table} WHERE {where} GROUP BY b, node"
        )
        edges_sql = (
            f"SELECT {bucket} AS b, caller, node, toInt64(sum(hits)), min(first_ns) "
            f"FROM {self._table('pymetrix_rollup_edges')} WHERE {where} GROUP BY b, caller, node"
        )

        def read(client: Client) -> Rollups:
            out = Rollups()
            if kept:
                out.nodes = self._kept_rows(client, size, where, params)
            else:
                for row in client.query(nodes_sql, parameters=params).result_rows:
                    bins = Sketch(dict(row[7])) if sketches else Sketch()
                    out.nodes[row[0], row[1]] = NodeRollup(
                        row[2], row[3], row[4], float(row[5]), row[6], bins
                    )
            if edges:
                for b, caller, node, hits, first in client.query(
                    edges_sql, parameters=params
                ).result_rows:
                    out.edges[b, caller or None, node] = EdgeRollup(hits, first)
            return out

        return self._read(read)

    def _kept_rows(
        self, client: Client, size: int, where: str, params: dict[str, Any]
    ) -> dict[tuple[int, str], NodeRollup]:
        """The rows of a tier by bucket and node, each with its quantiles, no sketch.

        The server adds up the counts, and joins each bucket and node to its quantiles
        kept in ``pymetrix_quantiles`` if they were kept for the hits it has now. The
        others (open buckets, buckets that got hits since) are taken from their summed
        sketches, and kept if their bucket has ended. Summing every bucket and node's
        sketches on every read cost most of a series.
        """
        table = self._table("pymetrix_rollups")
        columns = client.query(
            "SELECT r.b, r.node, r.h, r.e, r.t, r.d, r.f, q.p50, q.p95, q.p99, q.b != 0 FROM ("
            "SELECT bucket AS b, node, toInt64(sum(hits)) AS h, toInt64(sum(errors)) AS e, "
            "toInt64(sum(timed)) AS t, sum(duration_sum) AS d, min(first_ns) AS f "
            f"FROM {table} WHERE {where} GROUP BY b, node) AS r LEFT JOIN ("
            "SELECT bucket AS b, node, toInt64(hits) AS h, p50, p95, p99 "
            f"FROM {self._table('pymetrix_quantiles')} WHERE {where}"
            ") AS q ON r.b = q.b AND r.node = q.node AND r.h = q.h "
            "SETTINGS join_use_nulls = 1",
            parameters=params,
        ).result_columns
        if not columns:
            return {}
        buckets, names, hits, errors, timed, sums, firsts, p50s, p95s, p99s, found = columns
        keys = list(zip(buckets, names))
        quantiles = list(zip(p50s, p95s, p99s))
        missing = {key for key, t, f in zip(keys, timed, found) if t and not f}
        if missing:
            computed = self._quantiles_of(client, size, table, where, params, missing)
            quantiles = [computed.get(key, q) for key, q in zip(keys, quantiles)]
        triple = _TRIPLES.__getitem__
        rows = list(
            map(
                NodeRollup,
                hits,
                errors,
                timed,
                sums,
                firsts,
                [Sketch() for _ in keys],
                map(triple, quantiles),
            )
        )
        return dict(zip(keys, rows))

    def _quantiles_of(
        self,
        client: Client,
        size: int,
        table: str,
        where: str,
        params: dict[str, Any],
        pairs: set[tuple[int, str]],
    ) -> dict[tuple[int, str], tuple[int | None, ...]]:
        """The quantiles' sketch buckets of ``pairs`` (bucket, node) by their summed
        sketches; kept for the buckets closed."""
        found = client.query(
            f"WITH {_SUMMED_SKETCH} SELECT b, node, h, {_QUANTILE_INDEXES}, x FROM ("
            "SELECT bucket AS b, node, toInt64(sum(hits)) AS h, sumMap(sketch) AS m, "
            f"max(expires) AS x FROM {table} WHERE {where} "
            "AND node IN {pair_nodes:Array(String)} AND bucket IN {pair_buckets:Array(Int64)} "
            "GROUP BY b, node)",
            parameters={
                **params,
                "pair_nodes": sorted({node for _, node in pairs}),
                "pair_buckets": sorted({b for b, _ in pairs}),
            },
        ).result_rows
        found = [row for row in found if (row[0], row[1]) in pairs]
        closed = self._clock.time_ns() - size - _QUANTILES_GRACE
        keep = [row for row in found if row[0] <= closed]
        if keep and not self.read_only:
            try:
                client.insert(
                    self._table("pymetrix_quantiles"),
                    [[self.app, size // SECOND, *row] for row in keep],
                    column_names=_QUANTILE_COLUMNS,
                )
            except _DRIVER_ERRORS as exc:  # kept another time: the read goes on
                logger.debug("pymetrix: clickhouse store %s: quantiles not kept: %s", self.url, exc)
        return {(b, node): (p50, p95, p99) for b, node, _, p50, p95, p99, _ in found}

    def horizons(self) -> Horizons:
        raw = MIN_NS
        if self._retention_ns is not None:
            raw = self._clock.time_ns() - self._retention_ns
        # Tiers are deleted by TTL on the server's clock: their horizon follows it,
        # taken back to this store's clock by the offset seen at the last write.
        newest = self._read_now(self._newest_ns)
        offset = self._offset_ns
        now = max(newest, time.time_ns() - (offset if offset is not None else 0))
        return Horizons(raw, {size: self._tier_horizon(size, now) for size in TIERS})

    def _tier_horizon(self, size: int, now: int) -> int:
        kept = [h for h in (HORIZONS[size], self._rollup_retention_ns) if h is not None]
        return MIN_NS if not kept or now == MIN_NS else now - min(kept)

    def _newest_ns(self, client: Client) -> int:
        rows = client.query(
            f"SELECT max(last_ns), count() FROM {self._table('pymetrix_counts')} "
            "WHERE app = {app:String}",
            parameters={"app": self.app},
        ).result_rows
        return int(rows[0][0]) if rows and rows[0][1] else MIN_NS

    # -- live ------------------------------------------------------------------------

    def _settled_seq(self, client: Client) -> int:
        """How far the app's hits are settled: written, or given up as never coming."""
        latest = self._latest
        return max(latest, settled(client, self._table, self.app, latest, self._settle))

    def _follow(self, client: Client) -> None:
        """Move the settled number on, waking subscribers if it moved."""
        latest = self._settled_seq(client)
        if latest > self._latest:
            self._latest = latest
            self._waiters.wake_all()

    def subscribe(self, after: int | None = None) -> ClickHouseSubscription:
        """A subscription starting after the last hit written so far.

        Args:
            after: start right after the hit whose ``LiveHit.seq`` this is instead (0:
                from the oldest hit still held); hits retention deleted since count as
                dropped.
        """
        if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
            raise InvalidArgument("after", after, "an int >= 0 or None")
        latest = self._read(self._settled_seq)
        if latest > self._latest:
            self._latest = latest
        cursor = latest if after is None or after >= latest else max(0, after)
        subscription = ClickHouseSubscription(self, cursor)
        self._subscriptions.add(subscription)
        self._ensure_watcher()
        return subscription

    def _live_rows(self, cursor: int, upto: int, limit: int) -> list[tuple[Any, ...]]:
        # Not bounded by retention: a subscriber reads what it finds until the writer's
        # delete (``_maintain``) took it, as with every store.
        params: dict[str, Any] = {"app": self.app, "c": cursor, "u": upto, "n": limit}
        sql = (
            "SELECT time, node, caller, duration, status, seq, node_hits "
            f"FROM {self._table('pymetrix_hits')} WHERE app = {{app:String}} "
            "AND seq > {c:UInt64} AND seq <= {u:UInt64} "
            "ORDER BY seq LIMIT {n:UInt64}"
        )

        def read(client: Client) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in client.query(sql, parameters=params).result_rows]

        return self._read_now(read)

    def _first_times(self, nodes: Sequence[str]) -> dict[str, int]:
        def read(client: Client) -> dict[str, int]:
            return dict(
                client.query(
                    f"SELECT node, min(first_ns) FROM {self._table('pymetrix_counts')} "
                    "WHERE app = {app:String} AND node IN {ids:Array(String)} GROUP BY node",
                    parameters={"app": self.app, "ids": list(nodes)},
                ).result_rows
            )

        return self._read_now(read)

    def _ensure_watcher(self) -> None:
        with self._watcher_lock:
            if self._watcher is not None and self._watcher.is_alive():
                return
            self._watcher = threading.Thread(
                target=self._watch, name="pymetrix-clickhouse-watcher", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        """Follow hits written by other processes while someone subscribes."""
        failing = False
        while not self._closed and any(not s.closed for s in list(self._subscriptions)):
            time.sleep(_WATCH_EVERY)
            try:
                latest = self._read_now(self._settled_seq, role="watch")
            except StoreError as exc:
                if not failing:
                    failing = True
                    logger.error(
                        "pymetrix: clickhouse store %s: cannot follow new hits, retrying: %s",
                        self.url,
                        exc,
                    )
                continue
            if failing:
                failing = False
                logger.warning("pymetrix: clickhouse store %s: following again", self.url)
            if latest > self._latest:
                self._latest = latest
                self._waiters.wake_all()

    # -- lifecycle -------------------------------------------------------------------

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
        for session in self._sessions.values():
            with session.lock:
                session.reset()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, app={self.app!r})"

    def _after_fork_in_child(self) -> None:
        # The parent's clients and locks stay the parent's: a client of our own is made
        # anew on first use; a client handed in is the caller's to replace, and gets a
        # new lock (a parent's thread may have held its lock at fork time).
        lock = None
        if self._given is not None:
            lock = _client_locks[self._given] = threading.Lock()
        self._sessions = {
            role: _Session(self._connect, self._given, lock)
            for role in ("writer", "reader", "watch")
        }
        self._open_lock = threading.Lock()
        self._watcher_lock = threading.Lock()
        self._waiters = Waiters()
        self._watcher = None
        self._subscriptions = weakref.WeakSet()
        self._numbering.reset()
        self._writer._after_fork_in_child()


def client_settings(url: str, connect_timeout: float = 5.0) -> tuple[dict[str, Any], str | None]:
    """The ``clickhouse_connect.get_client`` arguments a store URL (without Pymetrix's
    options) names, and its database (None if the URL names none)."""
    from . import mask_url

    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise StoreError("expected a clickhouse:// or clickhouses:// URL", mask_url(url))
    secure = parts.scheme == "clickhouses"
    try:
        port = parts.port
    except ValueError:
        raise StoreError("invalid port", mask_url(url)) from None
    if not parts.hostname:
        raise StoreError("the URL names no host", mask_url(url))
    if parts.query:
        raise StoreError(f"unknown URL parameters {parts.query!r}", mask_url(url))
    path = unquote(parts.path.lstrip("/"))
    settings: dict[str, Any] = {
        "host": parts.hostname,
        "port": port or (8443 if secure else 8123),
        "username": unquote(parts.username) if parts.username else "default",
        "password": unquote(parts.password) if parts.password else "",
        "secure": secure,
        "connect_timeout": math.ceil(connect_timeout),
    }
    return settings, path or None


def _identifier(text: str) -> str:
    check_identifier("cluster", text, "")
    return text


def _parse_identifier(text: str) -> str:
    try:
        return _identifier(text)
    except StoreError:
        raise ValueError(text) from None


_CLICKHOUSE_OPTIONS = {
    **WRITER_OPTIONS,
    "connect_timeout": seconds(1, 3600),
    "cluster": Option(_parse_identifier, "a cluster name (letters, digits, _)"),
    "live_settle": seconds(0, 3600, open_low=True),
}


def open_clickhouse(url: str, options: Any) -> ClickHouseStore:
    """The ``clickhouse://`` scheme's factory for :func:`pymetrix.store.open_store`."""
    from . import mask_url

    bare, settings = split_options(url, mask_url(url), _CLICKHOUSE_OPTIONS, keep_unknown=False)
    return ClickHouseStore(
        bare,
        app=options.app,
        clock=options.clock,
        retention=options.retention,
        rollup_retention=options.rollup_retention,
        shown_url=mask_url(url),
        read_only=options.read_only,
        **settings,
    )


# Summed sketch ``m`` as ``_quantile_index`` reads it: its bucket indexes (ascending),
# their cumulative counts and its total.
_SUMMED_SKETCH = "mapKeys(m) AS _k, arrayCumSum(mapValues(m)) AS _c, _c[-1] AS _t"


def _quantile_index(q: float) -> str:
    """The sketch bucket of the nearest-rank ``q``-quantile, as ``Sketch.quantiles``
    finds it: the one after those whose cumulative count is below the rank (NULL: no
    timed hit). The rank is made an integer first: comparing the counts with a float
    cost a third more."""
    rank = f"toUInt64(greatest(1, ceil({q!r} * _t)))"
    return f"if(_t = 0, NULL, _k[arrayCount(c -> c < {rank}, _c) + 1])"


_QUANTILE_INDEXES = ", ".join(_quantile_index(q) for q in QUANTILES)


class _Triples(dict[tuple[int | None, ...], Percentiles]):
    """p50, p95 and p99 by their sketch buckets (None: no timed hit), rounded as every
    read gives them; each triple worked out once."""

    def __missing__(self, indexes: tuple[int | None, ...]) -> Percentiles:
        value = self[indexes] = rounded(None if i is None else value_of(i) for i in indexes)
        return value


_TRIPLES = _Triples()
