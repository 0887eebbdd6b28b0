"""The PostgreSQL store: one database shared by every process on every host.

``postgresql://user:password@host:5432/dbname`` (or ``postgres://``), with psycopg 3
from the ``postgres`` extra. Pymetrix's options ride in the query string beside
libpq's own: ``flush_interval`` (seconds), ``batch_size`` and ``max_buffer`` (hits),
``overflow`` (``drop`` or ``block``) and ``connect_timeout`` (seconds).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from ..clock import Clock
from ..errors import MissingDependency, StoreError
from ._chunks import ALL_NODES
from ._dialect import Dialect
from ._options import WRITER_OPTIONS, seconds, split_options
from ._schema import POSTGRES_DDL, SCHEMA_VERSION, too_new, upgrade
from ._sql import SqlStore

try:
    import psycopg
    from psycopg import pq
    from psycopg.conninfo import make_conninfo
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("psycopg", "postgres") from exc

PgConnection = psycopg.Connection[Any]

__all__ = ["PostgresDialect", "PostgresStore", "open_postgres"]

# Advisory lock keys: (_LOCK_CLASS, 0) guards schema creation, (_LOCK_CLASS, app id)
# one app's writes, so that its row ids commit in order and a live cursor misses none.
_LOCK_CLASS = 0x706D78
_CHANNEL = "pymetrix_hits"

# One statement for a whole batch's counts. New rows take seq after the app's rows so
# far, in the order of first appearance (``k``).
_UPSERT_COUNTS = (
    "INSERT INTO pymetrix_counts (app, node, hits, first_ns, seq) "
    "SELECT %s, t.node, t.hits, t.first_ns, "
    "(SELECT COUNT(*) FROM pymetrix_counts WHERE app = %s) + t.k "
    "FROM unnest(%s::int[], %s::bigint[], %s::bigint[]) WITH ORDINALITY "
    "AS t(node, hits, first_ns, k) "
    "ON CONFLICT (app, node) DO UPDATE SET hits = pymetrix_counts.hits + excluded.hits, "
    "first_ns = LEAST(pymetrix_counts.first_ns, excluded.first_ns) "
    "RETURNING node, hits"
)
_UPSERT_EDGES = (
    "INSERT INTO pymetrix_edges (app, caller, node, hits, first_ns, seq) "
    "SELECT %s, t.caller, t.node, t.hits, t.first_ns, "
    "(SELECT COUNT(*) FROM pymetrix_edges WHERE app = %s) + t.k "
    "FROM unnest(%s::int[], %s::int[], %s::bigint[], %s::bigint[]) WITH ORDINALITY "
    "AS t(caller, node, hits, first_ns, k) "
    "ON CONFLICT (app, caller, node) DO UPDATE SET hits = pymetrix_edges.hits + excluded.hits, "
    "first_ns = LEAST(pymetrix_edges.first_ns, excluded.first_ns)"
)


# Every row of one call has the same app and tier.
_UPSERT_ROLLUPS = (
    "INSERT INTO pymetrix_rollups "
    "(app, tier, bucket, node, hits, errors, timed, duration_sum, first_ns, sketch, "
    "p50, p95, p99) "
    "SELECT %s, %s, * FROM unnest(%s::bigint[], %s::int[], %s::bigint[], %s::bigint[], "
    "%s::bigint[], %s::float8[], %s::bigint[], %s::bytea[], %s::float8[], %s::float8[], "
    "%s::float8[]) "
    "ON CONFLICT (app, tier, bucket, node) DO UPDATE SET "
    "hits = pymetrix_rollups.hits + excluded.hits, "
    "errors = pymetrix_rollups.errors + excluded.errors, "
    "timed = pymetrix_rollups.timed + excluded.timed, "
    "duration_sum = pymetrix_rollups.duration_sum + excluded.duration_sum, "
    "first_ns = LEAST(pymetrix_rollups.first_ns, excluded.first_ns), "
    "sketch = COALESCE(excluded.sketch, pymetrix_rollups.sketch), "
    "p50 = COALESCE(excluded.p50, pymetrix_rollups.p50), "
    "p95 = COALESCE(excluded.p95, pymetrix_rollups.p95), "
    "p99 = COALESCE(excluded.p99, pymetrix_rollups.p99)"
)
_UPSERT_ROLLUP_EDGES = (
    "INSERT INTO pymetrix_rollup_edges (app, tier, bucket, caller, node, hits, first_ns) "
    "SELECT %s, %s, * FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::bigint[], "
    "%s::bigint[]) "
    "ON CONFLICT (app, tier, bucket, caller, node) DO UPDATE SET "
    "hits = pymetrix_rollup_edges.hits + excluded.hits, "
    "first_ns = LEAST(pymetrix_rollup_edges.first_ns, excluded.first_ns)"
)


class PostgresDialect(Dialect[PgConnection]):
    """PostgreSQL's ways: an advisory lock per app, pipelined writes, LISTEN/NOTIFY."""

    kind = "postgresql"
    placeholder = "%s"
    least = "LEAST"
    driver_errors = (psycopg.Error, OSError)
    # Data the server refuses; connection, server and lock faults are worth a retry.
    refused_errors = (
        psycopg.DataError,
        psycopg.IntegrityError,
        psycopg.ProgrammingError,
        psycopg.NotSupportedError,
    )

    def __init__(
        self, conninfo: str, connect_timeout: float, url: str, create: bool = True
    ) -> None:
        super().__init__(create)
        self.conninfo = conninfo
        self.connect_timeout = max(1, round(connect_timeout))
        self.url = url

    def connect(self) -> PgConnection:
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout)

    def open(self) -> PgConnection:
        conn = self.connect()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_CLASS,))
                (exists,) = conn.execute(
                    "SELECT to_regclass('pymetrix_meta') IS NOT NULL"
                ).fetchone() or (False,)
                version = None
                if exists:
                    row = conn.execute(
                        "SELECT value FROM pymetrix_meta WHERE key = 'schema_version'"
                    ).fetchone()
                    version = None if row is None else int(row[0])
                if version is not None and version > SCHEMA_VERSION:
                    raise too_new(version, self.url)
                if version is None and not self.create:
                    raise StoreError("not a Pymetrix database: it holds no Pymetrix data", self.url)
                if version is not None and version < SCHEMA_VERSION:
                    upgrade(conn, version, "%s", "BYTEA")
                if version is None:
                    for statement in POSTGRES_DDL:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO pymetrix_meta (key, value) VALUES ('schema_version', %s)",
                        (str(SCHEMA_VERSION),),
                    )
        except BaseException:
            conn.close()
            raise
        return conn

    def unreachable(self, exc: BaseException) -> bool:
        if not isinstance(exc, psycopg.OperationalError):
            return False
        # libpq tells a server that answered (and refused: a wrong password, a missing
        # database) from one that did not or rejects every connection (starting up,
        # shutting down) by a ping; the error's own text is all the client gets else.
        conninfo = make_conninfo(self.conninfo, connect_timeout=self.connect_timeout)
        answer = pq.PGconn.ping(conninfo.encode())
        return answer in (pq.Ping.NO_RESPONSE, pq.Ping.REJECT)

    def register_app(self, conn: PgConnection, name: str) -> int:
        with conn.transaction():
            conn.execute(
                "INSERT INTO pymetrix_apps (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                (name,),
            )
            row = conn.execute("SELECT id FROM pymetrix_apps WHERE name = %s", (name,)).fetchone()
        assert row is not None  # inserted above if missing
        return int(row[0])

    @contextlib.contextmanager
    def read_txn(self, conn: PgConnection) -> Iterator[PgConnection]:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn

    @contextlib.contextmanager
    def write_txn(self, conn: PgConnection, app: int) -> Iterator[PgConnection]:
        # Pipelined: statements whose results are not needed go with the next that is,
        # so a batch costs two round trips to the server, not one per statement.
        with conn.pipeline(), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, app))
            yield conn

    def upsert_counts(
        self, conn: PgConnection, app: int, rows: Sequence[tuple[int, int, int]]
    ) -> tuple[dict[int, int], int | None]:
        # The chunk's id is taken now, under the app's lock, so that the chunk's insert
        # needs no answer from the server.
        reserved = conn.execute("SELECT nextval('pymetrix_chunks_id')")
        app_hits = conn.execute(
            "SELECT COALESCE(SUM(hits), 0)::bigint FROM pymetrix_counts WHERE app = %s",
            (app,),
        )
        # Lists: psycopg sends them as arrays (tuples would be records).
        nodes, hits, firsts = (list(column) for column in zip(*rows))
        totals = conn.execute(_UPSERT_COUNTS, (app, app, nodes, hits, firsts))
        after = dict(totals.fetchall())
        chunk_id = _one(reserved)
        bases = {node: after[node] - added for node, added, _ in rows}
        bases[ALL_NODES] = _one(app_hits)
        return bases, chunk_id

    def insert_chunk(
        self, conn: PgConnection, app: int, chunk_id: int | None, row: Sequence[Any]
    ) -> int:
        conn.execute(
            "INSERT INTO pymetrix_chunks (app, id, batch, first_ns, last_ns, hits, data, bases)"
            " VALUES (%s, %s, %s, %s, %s, %s, %b, %b)",
            (app, chunk_id, *row),
        )
        assert chunk_id is not None  # reserved by upsert_counts
        return chunk_id

    def upsert_edges(
        self, conn: PgConnection, app: int, rows: Sequence[tuple[int, int, int, int]]
    ) -> None:
        callers, nodes, hits, firsts = (list(column) for column in zip(*rows))
        conn.execute(_UPSERT_EDGES, (app, app, callers, nodes, hits, firsts))

    def upsert_rollups(
        self,
        conn: PgConnection,
        nodes: Sequence[Sequence[Any]],
        edges: Sequence[Sequence[Any]],
    ) -> None:
        # One statement per table over arrays, as for counts: a row per statement would
        # make the server parse and plan each.
        if nodes:
            columns = [list(column) for column in zip(*nodes)]
            conn.execute(_UPSERT_ROLLUPS, (columns[0][0], columns[1][0], *columns[2:]))
        if edges:
            columns = [list(column) for column in zip(*edges)]
            conn.execute(_UPSERT_ROLLUP_EDGES, (columns[0][0], columns[1][0], *columns[2:]))

    def announce(self, conn: PgConnection, app: int) -> None:
        # Delivered at commit, to every session that listens: live subscribers elsewhere.
        conn.execute("SELECT pg_notify(%s, %s)", (_CHANNEL, str(app)))

    def latest_id(self, conn: PgConnection, app: int) -> int:
        # Writes of one app hold its advisory lock until they commit, so its ids are
        # committed in order: every id up to the newest visible one is there to read.
        return _one(
            conn.execute("SELECT COALESCE(MAX(id), 0) FROM pymetrix_chunks WHERE app = %s", (app,))
        )

    def is_stored_batch(self, exc: Exception) -> bool:
        return (
            isinstance(exc, psycopg.errors.UniqueViolation)
            and exc.diag.constraint_name == "pymetrix_chunks_batch"
        )

    def watch_connect(self) -> PgConnection:
        conn = self.connect()
        conn.execute(f"LISTEN {_CHANNEL}")
        return conn

    def watch_wait(self, conn: PgConnection, timeout: float) -> None:
        for _ in conn.notifies(timeout=timeout, stop_after=1):
            pass

    def orphan(self, conn: PgConnection) -> None:
        # The child shares the parent's socket: point the child's descriptor at
        # /dev/null so that nothing the child does (closing included) reaches the
        # parent's session.
        with contextlib.suppress(Exception):
            fd = conn.fileno()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, fd)
            os.close(devnull)
        super().orphan(conn)


def _one(cursor: psycopg.Cursor[Any]) -> int:
    """The one int a statement returns."""
    row = cursor.fetchone()
    assert row is not None  # aggregates and nextval always return a row
    return int(row[0])


class PostgresStore(SqlStore):
    """Hits in a PostgreSQL database, written in batches by a background thread.

    Args:
        url: a libpq URL, ``postgresql://user:password@host:port/dbname``.
        app: the app whose hits these are; apps share a database without mixing.
        clock: the clock retention is measured against.
        retention: per-hit data older than this is deleted (counts stay exact).
        rollup_retention: rollups older than this are deleted (default: kept; each
            tier also has a bound of its own, see ``_rollup``).
        flush_interval: seconds between writes of queued hits.
        batch_size: hits written per transaction at most.
        max_buffer: hits kept in memory at most while the database is unreachable.
        overflow: with ``max_buffer`` hits queued, ``"drop"`` newer ones (counted in
            ``dropped``) or ``"block"`` recording until the database catches up.
        connect_timeout: seconds to wait for a connection.
        shown_url: the store as named in messages (default: ``url``, password masked).
        read_only: only read a database that holds Pymetrix's tables: nothing is
            created, the app is not registered, hits are refused.
    """

    def __init__(
        self,
        url: str,
        *,
        app: str = "default",
        clock: Clock | None = None,
        retention: timedelta | None = None,
        flush_interval: float = 0.5,
        batch_size: int = 50_000,
        max_buffer: int = 1_000_000,
        overflow: str = "drop",
        rollup_retention: timedelta | None = None,
        connect_timeout: float = 5.0,
        shown_url: str | None = None,
        read_only: bool = False,
    ) -> None:
        from . import mask_url

        shown = shown_url or mask_url(url)
        super().__init__(
            PostgresDialect(url, connect_timeout, shown, create=not read_only),
            shown,
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            overflow=overflow,
            rollup_retention=rollup_retention,
            read_only=read_only,
        )


_POSTGRES_OPTIONS = {**WRITER_OPTIONS, "connect_timeout": seconds(1, 3600)}


def open_postgres(url: str, options: Any) -> PostgresStore:
    """The ``postgresql://`` scheme's factory for :func:`pymetrix.store.open_store`."""
    from . import mask_url

    conninfo, settings = split_options(url, mask_url(url), _POSTGRES_OPTIONS, keep_unknown=True)
    if conninfo.startswith("postgres://"):
        conninfo = "postgresql://" + conninfo[len("postgres://") :]
    return PostgresStore(
        conninfo,
        app=options.app,
        clock=options.clock,
        retention=options.retention,
        rollup_retention=options.rollup_retention,
        shown_url=mask_url(url),
        read_only=options.read_only,
        **settings,
    )
