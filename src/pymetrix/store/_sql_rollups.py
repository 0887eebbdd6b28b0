"""Rollups in SQL: kept by the writer's transaction, read by any range of buckets.

Counters are added by upserts (``hits = hits + excluded.hits``), so the rows of any
number of batches and processes add up exactly. A latency sketch cannot be added in
SQL: the writer reads the sketches of the rows its batch touches, merges them and
writes them back, inside the batch's transaction, which holds the app's write lock
(SQLite's file lock, PostgreSQL's advisory lock): no other writer can interleave, so
that is no read-modify-write race.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._timefmt import MAX_NS, MIN_NS
from ._chunks import decode
from ._dialect import Connection, Dialect
from ._rollup import (
    FIVE_MINUTES,
    HOUR,
    MINUTE,
    SECOND,
    SIX_HOURS,
    TIERS,
    EdgeRollup,
    Indexed,
    NodeRollup,
    percentiles,
    roll_indexed,
)
from ._sketch import Sketch
from ._sketch import decode as decode_sketch
from ._sketch import encode as encode_sketch

__all__ = [
    "add_tiers",
    "UPSERT_EDGE",
    "UPSERT_NODE",
    "backfill",
    "expire",
    "newest_first",
    "read",
    "tiers",
    "upsert",
]

_INSERT_NODE = (
    "INSERT INTO pymetrix_rollups (app, tier, bucket, node, hits, errors, timed, "
    "duration_sum, first_ns, sketch, p50, p95, p99) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_NODE = (
    _INSERT_NODE + " ON CONFLICT (app, tier, bucket, node) DO UPDATE SET "
    "hits = pymetrix_rollups.hits + excluded.hits, "
    "errors = pymetrix_rollups.errors + excluded.errors, "
    "timed = pymetrix_rollups.timed + excluded.timed, "
    "duration_sum = pymetrix_rollups.duration_sum + excluded.duration_sum, "
    "first_ns = {least}(pymetrix_rollups.first_ns, excluded.first_ns), "
    "sketch = COALESCE(excluded.sketch, pymetrix_rollups.sketch), "
    "p50 = COALESCE(excluded.p50, pymetrix_rollups.p50), "
    "p95 = COALESCE(excluded.p95, pymetrix_rollups.p95), "
    "p99 = COALESCE(excluded.p99, pymetrix_rollups.p99)"
)
_INSERT_EDGE = (
    "INSERT INTO pymetrix_rollup_edges (app, tier, bucket, caller, node, hits, first_ns) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_EDGE = (
    _INSERT_EDGE + " ON CONFLICT (app, tier, bucket, caller, node) DO UPDATE SET "
    "hits = pymetrix_rollup_edges.hits + excluded.hits, "
    "first_ns = {least}(pymetrix_rollup_edges.first_ns, excluded.first_ns)"
)
_SKETCHES = (
    "SELECT bucket, node, sketch FROM pymetrix_rollups WHERE app = ? AND tier = ? "
    "AND bucket >= ? AND bucket <= ? AND sketch IS NOT NULL"
)
_READ_NODES = (
    "SELECT bucket, node, hits, errors, timed, duration_sum, first_ns, sketch, p50, p95, p99 "
    "FROM pymetrix_rollups WHERE app = ? AND tier = ? AND bucket >= ? AND bucket < ?"
)
_READ_EDGES = (
    "SELECT bucket, caller, node, hits, first_ns FROM pymetrix_rollup_edges "
    "WHERE app = ? AND tier = ? AND bucket >= ? AND bucket < ?"
)
_NEWEST_FIRST = (
    "SELECT MAX(first_ns) FROM pymetrix_rollups WHERE app = ? AND tier = ? AND bucket = "
    "(SELECT MAX(bucket) FROM pymetrix_rollups WHERE app = ? AND tier = ?)"
)
_EXPIRE = (
    "DELETE FROM pymetrix_rollups WHERE app = ? AND tier = ? AND bucket < ?",
    "DELETE FROM pymetrix_rollup_edges WHERE app = ? AND tier = ? AND bucket < ?",
)

Sql = Callable[[str], str]


def tiers(minutes: Indexed) -> list[tuple[int, Indexed]]:
    """The rows of every tier, from rows in minute buckets (each from the one before)."""
    out = [(MINUTE, minutes)]
    for size in TIERS[1:]:
        out.append((size, out[-1][1].coarsen(size)))
    return out


def _node_rows(app: int, size: int, rows: Indexed, sketches: dict[Any, Sketch]) -> list[Any]:
    out = []
    tier = size // SECOND
    for (bucket_ns, node), row in rows.nodes.items():
        bucket = bucket_ns // SECOND
        sketch = None
        p50 = p95 = p99 = None
        if row.timed:
            merged = sketches.get((bucket, node))
            if merged is not None:
                merged.merge(row.sketch)
            whole = merged or row.sketch
            sketch = encode_sketch(whole)
            p50, p95, p99 = percentiles(whole)
        out.append(
            (
                app,
                tier,
                bucket,
                node,
                row.hits,
                row.errors,
                row.timed,
                row.duration_sum,
                row.first_ns,
                sketch,
                p50,
                p95,
                p99,
            )
        )
    return out


def _edge_rows(app: int, size: int, rows: Indexed) -> list[Any]:
    tier = size // SECOND
    return [
        (app, tier, bucket_ns // SECOND, (key >> 32) - 1, key & 0xFFFFFFFF, e.hits, e.first_ns)
        for (bucket_ns, key), e in rows.edges.items()
    ]


def upsert(conn: Connection, dialect: Dialect[Any], app: int, minutes: Indexed) -> None:
    """Add a batch's rollups (in minute buckets) to every tier; the app's lock is held."""
    sql = dialect.sql
    for size, rows in tiers(minutes):
        sketches: dict[Any, Sketch] = {}
        timed = [bucket for (bucket, _), row in rows.nodes.items() if row.timed]
        if timed:
            bounds = (app, size // SECOND, min(timed) // SECOND, max(timed) // SECOND)
            for bucket, node, data in conn.execute(sql(_SKETCHES), bounds).fetchall():
                sketches[bucket, node] = decode_sketch(data)
        dialect.upsert_rollups(
            conn, _node_rows(app, size, rows, sketches), _edge_rows(app, size, rows)
        )


def read(
    conn: Connection,
    sql: Sql,
    app: int,
    size: int,
    lo: int,
    hi: int,
    nodes: Sequence[int] | None = None,
    sketches: bool = True,
    edges: bool = True,
    step: int | None = None,
    quantiles: bool = False,
) -> Indexed:
    """The rows of tier ``size`` whose buckets start in ``[lo, hi)`` (ns), of ``nodes``
    only if given; without their sketches unless ``sketches``, without edges unless
    ``edges``, with their p50/p95/p99 if ``quantiles``. With a ``step`` (ns, a multiple
    of ``size``), no sketches and no quantiles, the database adds the rows up into
    buckets of ``step``, so that only those cross to Python."""
    out = Indexed()
    bounds: tuple[int, ...] = (app, size // SECOND, -(-lo // SECOND), -(-hi // SECOND))
    read_nodes, read_edges = _READ_NODES, _READ_EDGES
    if not quantiles:
        read_nodes = read_nodes.replace(", p50, p95, p99 ", ", NULL, NULL, NULL ")
    if not sketches:
        read_nodes = read_nodes.replace(", sketch,", ", NULL,")
        if step is not None and not quantiles:
            # Seconds are whole: a literal, not a parameter, so that GROUP BY matches it.
            # Integer division: a literal % would be a placeholder to psycopg.
            whole = f"bucket / {int(step // SECOND)} * {int(step // SECOND)}"
            read_nodes = (
                f"SELECT {whole}, node, SUM(hits), SUM(errors), SUM(timed), "
                "SUM(duration_sum), MIN(first_ns), NULL, NULL, NULL, NULL "
                + read_nodes[read_nodes.index("FROM") :]
            )
    if nodes is not None:
        if not nodes:
            return out
        marks = ", ".join("?" * len(nodes))
        read_nodes += f" AND node IN ({marks})"
        read_edges += f" AND node IN ({marks})"
        bounds = (*bounds, *nodes)
    grouped = step is not None and not sketches and not quantiles
    for bucket, node, hits, errors, timed, total, first_ns, sketch, p50, p95, p99 in conn.execute(
        sql(read_nodes + (" GROUP BY 1, 2" if grouped else "")), bounds
    ):
        out.nodes[bucket * SECOND, node] = NodeRollup(
            int(hits),
            int(errors),
            int(timed),
            float(total),
            int(first_ns),
            decode_sketch(sketch) if sketches else Sketch(),
            (p50, p95, p99) if quantiles else None,
        )
    if edges:
        for bucket, caller, node, hits, first_ns in conn.execute(sql(read_edges), bounds):
            out.edges[bucket * SECOND, (caller + 1) << 32 | node] = EdgeRollup(hits, first_ns)
    return out


def expire(conn: Connection, sql: Sql, app: int, size: int, before_ns: int) -> None:
    """Delete tier ``size``'s rows of buckets that ended before ``before_ns``."""
    bucket = (before_ns - size) // SECOND
    for statement in _EXPIRE:
        conn.execute(sql(statement), (app, size // SECOND, bucket))


def backfill(conn: Connection, app: int, chunks: Iterable[tuple[int, bytes]], mark: str) -> None:
    """Write the rollups of ``chunks`` (hits, data) into empty rollup tables."""
    minutes = Indexed()
    for hits, data in chunks:
        chunk = decode(data, hits)
        part = roll_indexed(chunk.times, chunk.keys, chunk.durations, chunk.statuses, MINUTE)
        minutes.merge(part)

    def sql(statement: str) -> str:
        return statement.replace("?", mark)

    for size, rows in tiers(minutes):
        cursor = conn.cursor()
        node_rows = _node_rows(app, size, rows, {})
        if node_rows:
            cursor.executemany(sql(_INSERT_NODE), node_rows)
        edge_rows = _edge_rows(app, size, rows)
        if edge_rows:
            cursor.executemany(sql(_INSERT_EDGE), edge_rows)


_ROLLED_SKETCHES = (
    "SELECT tier, bucket, node, sketch FROM pymetrix_rollups WHERE app = ? AND sketch IS NOT NULL"
)
_SET_QUANTILES = (
    "UPDATE pymetrix_rollups SET p50 = ?, p95 = ?, p99 = ? "
    "WHERE app = ? AND tier = ? AND bucket = ? AND node = ?"
)
_OLDEST_BUCKET = "SELECT MIN(bucket) FROM pymetrix_rollups WHERE app = ? AND tier = ?"
_NEWEST_END = "SELECT MAX(bucket + tier) FROM pymetrix_rollups WHERE app = ?"
_TIER_START = "INSERT INTO pymetrix_meta (key, value) VALUES (?, ?)"


def add_tiers(conn: Connection, app: int, mark: str) -> None:
    """Bring an app's rollups of schema version 4 to 5: every row's quantiles, and the
    five-minute and six-hour tiers made from the minute and hour rows. Those hold every
    bucket from the first whole one of their source on (or, with no source row, from the
    end of the newest bucket): kept in ``pymetrix_meta`` as ``rollups_from:APP:TIER``."""

    def sql(statement: str) -> str:
        return statement.replace("?", mark)

    cursor = conn.cursor()
    updates = [
        (*percentiles(decode_sketch(data)), app, tier, bucket, node)
        for tier, bucket, node, data in conn.execute(sql(_ROLLED_SKETCHES), (app,)).fetchall()
    ]
    if updates:
        cursor.executemany(sql(_SET_QUANTILES), updates)
    (newest_end,) = conn.execute(sql(_NEWEST_END), (app,)).fetchone()
    if newest_end is None:
        return
    for source, size in ((MINUTE, FIVE_MINUTES), (HOUR, SIX_HOURS)):
        (oldest,) = conn.execute(sql(_OLDEST_BUCKET), (app, source // SECOND)).fetchone()
        start = int(newest_end) * SECOND
        if oldest is not None:
            start = -(-int(oldest) * SECOND // size) * size
            rows = read(conn, sql, app, source, MIN_NS, MAX_NS).coarsen(size)
            node_rows = _node_rows(app, size, rows, {})
            if node_rows:
                cursor.executemany(sql(_INSERT_NODE), node_rows)
            edge_rows = _edge_rows(app, size, rows)
            if edge_rows:
                cursor.executemany(sql(_INSERT_EDGE), edge_rows)
        key = f"rollups_from:{app}:{size // SECOND}"
        conn.execute(sql(_TIER_START), (key, str(start)))


def newest_first(conn: Any, sql: Callable[[str], str], app: int) -> int | None:
    """The time of the first hit in the app's newest bucket, of the finest tier still
    kept: at most one bucket before its last hit (None: no rollups)."""
    found = []
    for size in TIERS:
        tier = size // SECOND
        (first,) = conn.execute(sql(_NEWEST_FIRST), (app, tier, app, tier)).fetchone()
        if first is not None:
            found.append(int(first))
    # A finer tier's newest bucket lies within a coarser one's: the latest first hit wins.
    return max(found, default=None)
