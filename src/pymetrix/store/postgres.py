"""The PostgreSQL store: one database shared by every process on every host.

``postgresql://user:password@host:5432/dbname`` (or ``postgres://``), with psycopg 3
from the ``postgres`` extra. Pymetrix's options ride in the query string beside
libpq's own: ``flush_interval`` (seconds), ``batch_size`` and ``max_buffer`` (hits),
``overflow`` (``drop`` or ``block``) and ``connect_timeout`` (seconds).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ..clock import Clock
from ..errors import MissingDependency
from ._chunks import ALL_NODES
from ._options import WRITER_OPTIONS, seconds, split_options
from ._schema import POSTGRES_DDL, SCHEMA_VERSION, too_new, upgrade
from ._sql import SqlStore

try:
    import psycopg
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("psycopg", "postgres") from exc

__all__ = ["PostgresStore", "open_postgres"]

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


class PostgresStore(SqlStore):
    """Hits in a PostgreSQL database, written with COPY in batches by a background thread.

    Args:
        url: a libpq URL, ``postgresql://user:password@host:port/dbname``.
        app: the app whose hits these are; apps share a database without mixing.
        clock: the clock retention is measured against.
        retention: per-hit data older than this is deleted (counts stay exact).
        flush_interval: seconds between writes of queued hits.
        batch_size: hits written per transaction at most.
        max_buffer: hits kept in memory at most while the database is unreachable.
        overflow: with ``max_buffer`` hits queued, ``"drop"`` newer ones (counted in
            ``dropped``) or ``"block"`` recording until the database catches up.
        connect_timeout: seconds to wait for a connection.
        shown_url: the store as named in messages (default: ``url``, password masked).
    """

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
        connect_timeout: float = 5.0,
        shown_url: str | None = None,
    ) -> None:
        from . import mask_url

        self._conninfo = url
        self._reserved_id = 0
        self._connect_timeout = max(1, round(connect_timeout))
        super().__init__(
            shown_url or mask_url(url),
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            overflow=overflow,
        )

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
        )

    def _open(self) -> psycopg.Connection[Any]:
        conn = self._connect()
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
                if version is not None and version < SCHEMA_VERSION:
                    upgrade(conn, version, "%s")
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

    def _register_app(self, conn: Any, app: str) -> int:
        with conn.transaction():
            conn.execute(
                "INSERT INTO pymetrix_apps (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                (app,),
            )
            (app_id,) = conn.execute(
                "SELECT id FROM pymetrix_apps WHERE name = %s", (app,)
            ).fetchone()
        return int(app_id)

    @contextlib.contextmanager
    def _read_txn(self, conn: Any) -> Iterator[Any]:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn

    @contextlib.contextmanager
    def _write_txn(self, conn: Any) -> Iterator[Any]:
        # Pipelined: statements whose results are not needed go with the next that is,
        # so a batch costs two round trips to the server, not one per statement.
        with conn.pipeline(), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, self._app_id))
            yield conn

    def _upsert_counts(self, conn: Any, rows: list[tuple[int, int, int]]) -> dict[int, int]:
        # The chunk's id is taken now, under the app's lock, so that the chunk's insert
        # needs no answer from the server.
        reserved = conn.execute("SELECT nextval('pymetrix_chunks_id')")
        app_hits = conn.execute(
            "SELECT COALESCE(SUM(hits), 0)::bigint FROM pymetrix_counts WHERE app = %s",
            (self._app_id,),
        )
        # Lists: psycopg sends them as arrays (tuples would be records).
        nodes, hits, firsts = (list(column) for column in zip(*rows))
        totals = conn.execute(_UPSERT_COUNTS, (self._app_id, self._app_id, nodes, hits, firsts))
        after = dict(totals.fetchall())
        (self._reserved_id,) = reserved.fetchone()
        bases = {node: after[node] - added for node, added, _ in rows}
        (bases[ALL_NODES],) = app_hits.fetchone()
        return bases

    def _insert_chunk(
        self,
        conn: Any,
        batch_id: int,
        first_ns: int,
        last_ns: int,
        hits: int,
        data: bytes,
        bases: bytes,
    ) -> int:
        chunk_id = int(self._reserved_id)
        conn.execute(
            "INSERT INTO pymetrix_chunks (app, id, batch, first_ns, last_ns, hits, data, bases)"
            " VALUES (%s, %s, %s, %s, %s, %s, %b, %b)",
            (self._app_id, chunk_id, batch_id, first_ns, last_ns, hits, data, bases),
        )
        return chunk_id

    def _is_stored_batch(self, exc: Exception) -> bool:
        return (
            isinstance(exc, psycopg.errors.UniqueViolation)
            and exc.diag.constraint_name == "pymetrix_chunks_batch"
        )

    def _upsert_edges(self, conn: Any, rows: list[tuple[int, int, int, int]]) -> None:
        callers, nodes, hits, firsts = (list(column) for column in zip(*rows))
        conn.execute(_UPSERT_EDGES, (self._app_id, self._app_id, callers, nodes, hits, firsts))

    def _announce(self, conn: Any) -> None:
        # Delivered at commit, to every session that listens: live subscribers elsewhere.
        conn.execute("SELECT pg_notify(%s, %s)", (_CHANNEL, str(self._app_id)))

    def _latest_id(self, conn: Any) -> int:
        # Writes of one app hold its advisory lock until they commit, so its ids are
        # committed in order: every id up to the newest visible one is there to read.
        (latest,) = conn.execute(
            "SELECT COALESCE(MAX(id), 0) FROM pymetrix_chunks WHERE app = %s", (self._app_id,)
        ).fetchone()
        return int(latest)

    def _watch_connect(self) -> psycopg.Connection[Any]:
        conn = self._connect()
        conn.execute(f"LISTEN {_CHANNEL}")
        return conn

    def _watch_wait(self, conn: Any, timeout: float) -> None:
        for _ in conn.notifies(timeout=timeout, stop_after=1):
            pass

    def _orphan(self, conn: Any) -> None:
        # The child shares the parent's socket: point the child's descriptor at
        # /dev/null so that nothing the child does (closing included) reaches the
        # parent's session.
        with contextlib.suppress(Exception):
            fd = conn.fileno()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, fd)
            os.close(devnull)
        super()._orphan(conn)


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
        shown_url=mask_url(url),
        **settings,
    )
