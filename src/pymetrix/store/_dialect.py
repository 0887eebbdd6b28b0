"""What differs between SQL databases, behind one small interface.

A :class:`Dialect` knows how to connect, prepare the schema, open transactions and say
the few statements whose text differs; it holds no state of a store (only its
configuration and a cache of statement texts), and its methods return what they
compute. :class:`~pymetrix.store._sql.SqlStore` and its chunk writer do everything else
once, for every dialect. Statements are written with ``?`` placeholders and ``{least}``
for the two-argument minimum; :meth:`Dialect.sql` turns them into the dialect's own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from ._chunks import ALL_NODES

__all__ = ["Connection", "Dialect"]


class Connection(Protocol):
    """The part of a DB-API connection the stores use (sqlite3 and psycopg both fit)."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)

_BASE_COUNTS = "SELECT node, hits FROM pymetrix_counts WHERE app = ? AND node IN ({marks})"
_APP_HITS = "SELECT COALESCE(SUM(hits), 0) FROM pymetrix_counts WHERE app = ?"
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
_FIND_APP = "SELECT id FROM pymetrix_apps WHERE name = ?"
_INSERT_CHUNK = (
    "INSERT INTO pymetrix_chunks (app, batch, first_ns, last_ns, hits, data, bases)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


# Connections inherited across fork; see Dialect.orphan.
_orphans: list[object] = []


class Dialect(Generic[C]):
    """One SQL database's ways; the defaults suit a database with ``executemany`` upserts.

    Attributes:
        kind: the scheme, as named in messages and thread names.
        driver_errors: exceptions meaning "the database failed", as opposed to a bug.
        refused_errors: among those, the ones that refuse a batch's own data, which a
            retry cannot store.
        create: whether :meth:`open` creates a database and its tables that are not
            there yet (False: the store only reads one that exists).
    """

    kind = "sql"
    placeholder = "?"
    least = "MIN"
    driver_errors: tuple[type[BaseException], ...] = (OSError,)
    refused_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, create: bool = True) -> None:
        self.create = create
        self._texts: dict[str, str] = {}

    # -- what each dialect provides --------------------------------------------------

    def connect(self) -> C:
        """A new connection in autocommit mode."""
        raise NotImplementedError

    def open(self) -> C:
        """A connection to a database whose tables are created, or checked and upgraded.

        Raises ``StoreError`` for a database that is not Pymetrix's or is newer, and,
        unless :attr:`create`, for one that does not exist or has no tables yet.
        """
        raise NotImplementedError

    def register_app(self, conn: C, name: str) -> int:
        """The number of app ``name``, registered if new."""
        raise NotImplementedError

    def find_app(self, conn: C, name: str) -> int | None:
        """The number of app ``name``; None if it is not registered."""
        row = conn.execute(self.sql(_FIND_APP), (name,)).fetchone()
        return None if row is None else int(row[0])

    def read_txn(self, conn: C) -> contextlib.AbstractContextManager[C]:
        """A transaction whose reads all see one state of the database."""
        raise NotImplementedError

    def write_txn(self, conn: C, app: int) -> contextlib.AbstractContextManager[C]:
        """A transaction holding app ``app``'s write lock until it ends."""
        raise NotImplementedError

    def latest_id(self, conn: C, app: int) -> int:
        """The chunk id up to which every chunk of ``app`` is committed and readable."""
        raise NotImplementedError

    def is_stored_batch(self, exc: Exception) -> bool:
        """Whether ``exc`` says that a batch's id is stored already."""
        raise NotImplementedError

    def unreachable(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised opening the database, means that its server did not
        answer (down, starting up, not resolvable), as opposed to answering and refusing
        (a wrong password, a missing database): then the store waits for it."""
        return False

    # -- what a dialect may change ---------------------------------------------------

    def upsert_counts(
        self, conn: C, app: int, rows: Sequence[tuple[int, int, int]]
    ) -> tuple[dict[int, int], int | None]:
        """Add (node, hits, first_ns) rows to the counts.

        Returns each node's count before, with the app's under :data:`ALL_NODES`, and the
        id the batch's chunk is to take (None: the database assigns it on insert).
        """
        bases = {node: 0 for node, _, _ in rows}
        sql = self.sql(_BASE_COUNTS.format(marks=", ".join([self.placeholder] * len(bases))))
        bases.update(conn.execute(sql, (app, *bases)).fetchall())
        (bases[ALL_NODES],) = conn.execute(self.sql(_APP_HITS), (app,)).fetchone()
        self._executemany(
            conn, _UPSERT_COUNT, [(app, node, hits, first, app) for node, hits, first in rows]
        )
        return bases, None

    def insert_chunk(self, conn: C, app: int, chunk_id: int | None, row: Sequence[Any]) -> int:
        """Insert a chunk: ``row`` is (batch, first_ns, last_ns, hits, data, bases). Its id."""
        cursor = conn.execute(self.sql(_INSERT_CHUNK), (app, *row))
        return int(cursor.lastrowid)

    def upsert_edges(self, conn: C, app: int, rows: Sequence[tuple[int, int, int, int]]) -> None:
        """Add (caller, node, hits, first_ns) rows to the edge counts."""
        self._executemany(
            conn,
            _UPSERT_EDGE,
            [(app, caller, node, hits, first, app) for caller, node, hits, first in rows],
        )

    def upsert_rollups(
        self, conn: C, nodes: Sequence[Sequence[Any]], edges: Sequence[Sequence[Any]]
    ) -> None:
        """Add rollup rows (``_sql_rollups``' columns, app and tier first) to the tables."""
        from ._sql_rollups import UPSERT_EDGE, UPSERT_NODE

        if nodes:
            self._executemany(conn, UPSERT_NODE, nodes)
        if edges:
            self._executemany(conn, UPSERT_EDGE, edges)

    def announce(self, conn: C, app: int) -> None:
        """Tell other processes that rows were written (inside the write transaction)."""

    def watch_connect(self) -> C:
        """A connection that :meth:`watch_wait` listens on."""
        return self.connect()

    def watch_wait(self, conn: C, timeout: float) -> None:
        """Return when rows may have been written, or after ``timeout`` seconds."""
        time.sleep(timeout)

    def orphan(self, conn: C) -> None:
        """Make a connection inherited across fork harmless to the parent's session.

        It stays referenced, so that it is never finalised in the child, which would
        act on the parent's session.
        """
        _orphans.append(conn)

    # -- helpers ---------------------------------------------------------------------

    def sql(self, statement: str) -> str:
        """``statement`` in this dialect: placeholders and ``{least}`` replaced."""
        text = self._texts.get(statement)
        if text is None:
            text = statement.replace("{least}", self.least)
            if self.placeholder != "?":
                text = text.replace("?", self.placeholder)
            self._texts[statement] = text
        return text

    def marks(self, count: int) -> str:
        """``count`` placeholders, comma-separated."""
        return ", ".join([self.placeholder] * count)

    def _executemany(self, conn: C, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        conn.cursor().executemany(self.sql(statement), rows)
