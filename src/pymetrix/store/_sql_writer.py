"""Writing batches of hits into a SQL database as chunks, on the writer thread.

One batch is one transaction: names it brings are interned, its counts and edge counts
are added by upserts, and its hits are packed into one chunk row that records every
node's count before it (from which live subscribers number each hit). Per-hit work runs
in Python beside the application's threads, so every step is a C-level bulk operation
(map, zip, Counter, array), none a loop over hits.
"""

from __future__ import annotations

import contextlib
from array import array
from collections import Counter
from operator import itemgetter
from typing import Any

from . import _sql_rollups
from ._buffer import Columns
from ._chunks import Chunk, encode, encode_bases
from ._codec import KEY_MASK, KEY_SHIFT
from ._dialect import Connection, Dialect
from ._rollup import MINUTE, roll_indexed

__all__ = ["ChunkWriter"]

_NAN = float("nan")
_NAMES = "SELECT idx, name FROM pymetrix_names WHERE app = ? AND idx >= ? ORDER BY idx"
_ADD_NAME = "INSERT INTO pymetrix_names (app, idx, name) VALUES (?, ?, ?)"
_RETAIN = "DELETE FROM pymetrix_chunks WHERE app = ? AND last_ns < ?"
_second = itemgetter(1)


class ChunkWriter:
    """Writes one app's batches through ``dialect``, keeping its own connection.

    Only the writer thread calls it. Names are numbered per app (``pymetrix_names``);
    the numbers this process knows are cached, and a transaction that rolls back takes
    the ones it added with it.
    """

    def __init__(self, dialect: Dialect[Any], app: int) -> None:
        self._dialect = dialect
        self._app = app
        self._conn: Connection | None = None
        # Name -> number, and name -> its number's part of a key as caller.
        self._names: dict[str | None, int] = {None: -1}
        self._callers: dict[str | None, int] = {None: 0}
        # The time of the newest hit this writer stored: what rollup tiers age by.
        self.last_ns = -(1 << 63)

    def write(self, batch_id: int, batch: Columns) -> int:
        """Store ``batch`` under ``batch_id`` in one transaction.

        Returns the chunk's id, or 0 when a batch of that id is stored already (a retry
        after the reply to its COMMIT was lost). Raises if nothing was written.
        """
        conn = self._connection()
        added: list[str] = []
        try:
            with self._dialect.write_txn(conn, self._app):
                chunk_id = self._write(conn, batch_id, batch, added)
            self.last_ns = max(self.last_ns, batch[0][-1])
            return chunk_id
        except Exception as exc:
            self._forget(added)
            self.disconnect()
            if self._dialect.is_stored_batch(exc):
                return 0
            raise
        except BaseException:
            self._forget(added)
            self.disconnect()
            raise

    def delete_before(self, cutoff_ns: int | None, tiers: dict[int, int]) -> None:
        """Delete the chunks whose hits are all older than ``cutoff_ns`` (None: none),
        and each tier's rollups of buckets that ended before ``tiers[size]``."""
        conn = self._connection()
        try:
            with self._dialect.write_txn(conn, self._app):
                if cutoff_ns is not None:
                    conn.execute(self._dialect.sql(_RETAIN), (self._app, cutoff_ns))
                for size, before in tiers.items():
                    _sql_rollups.expire(conn, self._dialect.sql, self._app, size, before)
        except BaseException:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # A broken connection is let go either way.
            with contextlib.suppress(Exception):
                conn.close()

    def orphan(self) -> None:
        """Forget the connection after fork, without touching the parent's session."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._dialect.orphan(conn)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._dialect.connect()
        return self._conn

    def _forget(self, added: list[str]) -> None:
        # The transaction rolled back: names interned in it do not exist.
        for name in added:
            self._names.pop(name, None)
            self._callers.pop(name, None)

    def _write(self, conn: Connection, batch_id: int, batch: Columns, added: list[str]) -> int:
        dialect = self._dialect
        app = self._app
        index = self._names
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
                map(self._callers.__getitem__, caller_names),
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
        bases, chunk_id = dialect.upsert_counts(
            conn, app, [(node, node_hits[node], times[at]) for node, at in node_first.items()]
        )
        untimed = durations.count(None) == count
        unstatused = statuses.count(None) == count
        chunk = Chunk(
            times=array("q", times),
            keys=array("q", keys),
            durations=(
                array("d", [_NAN]) * count
                if untimed
                else array("d", [_NAN if d is None else d for d in durations])
            ),
            statuses=(
                array("H", bytes(2 * count))
                if unstatused
                else array("H", [s or 0 for s in statuses])
            ),
        )
        row = (batch_id, times[0], times[-1], count, encode(chunk), encode_bases(bases))
        chunk_id = dialect.insert_chunk(conn, app, chunk_id, row)
        dialect.upsert_edges(
            conn,
            app,
            [
                ((key >> KEY_SHIFT) - 1, key & KEY_MASK, edge_hits[key], times[at])
                for key, at in edges
            ],
        )
        _sql_rollups.upsert(
            conn,
            dialect,
            app,
            roll_indexed(
                times,
                keys,
                chunk.durations,
                chunk.statuses,
                MINUTE,
                timed=not untimed,
                errors=not unstatused,
            ),
        )
        dialect.announce(conn, app)
        return chunk_id

    def _intern(self, conn: Connection, names: set[str | None], added: list[str]) -> None:
        """Give every name a number, reading those other processes added first."""
        index = self._names
        callers = self._callers
        known = len(index) - 1  # index also maps None (no caller) to -1
        sql = self._dialect.sql
        for idx, name in conn.execute(sql(_NAMES), (self._app, known)).fetchall():
            index[name] = idx
            callers[name] = (idx + 1) << KEY_SHIFT
        for name in sorted(name for name in names - index.keys() if name is not None):
            idx = len(index) - 1
            conn.execute(sql(_ADD_NAME), (self._app, idx, name))
            index[name] = idx
            callers[name] = (idx + 1) << KEY_SHIFT
            added.append(name)
