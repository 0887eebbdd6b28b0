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
from itertools import pairwise
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
# A coarse tier is made a minute after its bucket ends, when a batch gets there: hits of
# other processes still on their way by then are added to it, at more cost.
_GRACE = MINUTE
_MINUTE_HITS = (
    "SELECT bucket, node, hits FROM pymetrix_rollups "
    "WHERE app = ? AND tier = 60 AND bucket >= ? AND bucket < ?"
)
_ROLLED = "SELECT tier, rolled_until FROM pymetrix_rollup_tiers WHERE app = ?"
_SET_ROLLED = (
    "INSERT INTO pymetrix_rollup_tiers (app, tier, rolled_until) VALUES (?, ?, ?) "
    "ON CONFLICT (app, tier) DO UPDATE SET rolled_until = excluded.rolled_until"
)
_NEWEST_END_OF = "SELECT MAX(bucket + tier) FROM pymetrix_rollups WHERE app = ? AND tier = ?"
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
            if size != MINUTE:  # a minute's are read from its sketch: one per node at most
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
    """Add a batch's rollups (in minute buckets) to every tier; the app's lock is held.

    The minute tier takes every row. A coarser tier is made as its buckets close: once a
    batch reaches a minute past a bucket's end, its rows are made from the finer tier's
    (read back, so that every process's hits are in them), and the tier's
    ``rolled_until`` moves on. A batch's rows in buckets already made (a late hit, or
    hits of a bucket made while other processes still wrote to it) are added to those
    too. So a live batch writes its minute rows only, not five tiers of sketches.
    """
    sql = dialect.sql
    _add(conn, dialect, app, MINUTE, minutes)
    if not minutes.nodes:
        return
    made = {
        int(tier) * SECOND: int(until) * SECOND
        for tier, until in conn.execute(sql(_ROLLED), (app,)).fetchall()
    }
    buckets = [bucket for bucket, _ in minutes.nodes]
    oldest, reached = min(buckets), max(buckets) + MINUTE - _GRACE
    source_until = None
    for finer, size in pairwise(TIERS):
        until = made.get(size)
        if until is None:
            until = _first_unmade(conn, sql, app, size, oldest)
        elif oldest < until:
            late = minutes.before(until).coarsen(size)
            _add(conn, dialect, app, size, late)
        target = _floor(reached, size)
        if source_until is not None:
            target = min(target, source_until)
        if target > until:
            if finer == MINUTE:
                rows = _minutes_made(conn, sql, app, until, target, minutes).coarsen(size)
            else:
                rows = read(conn, sql, app, finer, until, target).coarsen(size)
            dialect.upsert_rollups(
                conn, _node_rows(app, size, rows, {}), _edge_rows(app, size, rows)
            )
            until = target
        if until != made.get(size):
            conn.execute(sql(_SET_ROLLED), (app, size // SECOND, until // SECOND))
        source_until = until


def _add(conn: Connection, dialect: Dialect[Any], app: int, size: int, rows: Indexed) -> None:
    """Add ``rows`` to tier ``size``: counters by upsert, sketches merged with the stored."""
    if not rows.nodes and not rows.edges:
        return
    sql = dialect.sql
    sketches: dict[Any, Sketch] = {}
    timed = [bucket for (bucket, _), row in rows.nodes.items() if row.timed]
    if timed:
        bounds = (app, size // SECOND, min(timed) // SECOND, max(timed) // SECOND)
        for bucket, node, data in conn.execute(sql(_SKETCHES), bounds).fetchall():
            sketches[bucket, node] = decode_sketch(data)
    dialect.upsert_rollups(conn, _node_rows(app, size, rows, sketches), _edge_rows(app, size, rows))


def _minutes_made(
    conn: Connection, sql: Sql, app: int, lo: int, hi: int, batch: Indexed
) -> Indexed:
    """The minute rows of ``[lo, hi)`` as stored: the batch's own where the stored hits
    are its hits (no other batch wrote to them), read back where other batches did."""
    own = batch.nodes
    out = Indexed()
    others: list[tuple[int, int]] = []
    bounds = (app, lo // SECOND, hi // SECOND)
    for bucket, node, hits in conn.execute(sql(_MINUTE_HITS), bounds).fetchall():
        key = (bucket * SECOND, node)
        row = own.get(key)
        if row is not None and row.hits == hits:
            out.nodes[key] = row
        else:
            others.append(key)
    if others:
        first = min(bucket for bucket, _ in others)
        last = max(bucket for bucket, _ in others) + MINUTE
        stored = read(conn, sql, app, MINUTE, first, last, edges=False).nodes
        for key in others:
            out.nodes[key] = stored[key]
    for bucket, caller, node, hits, first_ns in conn.execute(
        sql(_READ_EDGES), (app, 60, *bounds[1:])
    ):
        out.edges[bucket * SECOND, (caller + 1) << 32 | node] = EdgeRollup(hits, first_ns)
    return out


def _first_unmade(conn: Connection, sql: Sql, app: int, size: int, oldest: int) -> int:
    """Where tier ``size`` starts being made: after its newest row (made by an upgrade or a
    back-fill; later hits in that bucket are added to it), else at the batch's first."""
    (end,) = conn.execute(sql(_NEWEST_END_OF), (app, size // SECOND)).fetchone()
    return int(end) * SECOND if end is not None else _floor(oldest, size)


def _floor(t: int, size: int) -> int:
    return t - t % size


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
            # Integer division (a literal % would be a placeholder to psycopg), from a
            # multiple of the step below every bucket (int64 ns: within 10^10 s of 1970)
            # so that it rounds down before 1970 too.
            width = int(step // SECOND)
            base = -(10**10 // width + 1) * width
            whole = f"(bucket - ({base})) / {width} * {width} + ({base})"
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
        _insert(conn, sql, app, size, rows)


def _insert(conn: Connection, sql: Sql, app: int, size: int, rows: Indexed) -> None:
    """Insert ``rows`` into tier ``size``, where none of them is yet."""
    cursor = conn.cursor()
    node_rows = _node_rows(app, size, rows, {})
    if node_rows:
        cursor.executemany(sql(_INSERT_NODE), node_rows)
    edge_rows = _edge_rows(app, size, rows)
    if edge_rows:
        cursor.executemany(sql(_INSERT_EDGE), edge_rows)


_ROLLED_SKETCHES = (
    "SELECT tier, bucket, node, sketch FROM pymetrix_rollups "
    "WHERE app = ? AND tier > 60 AND sketch IS NOT NULL"
)
_SET_QUANTILES = (
    "UPDATE pymetrix_rollups SET p50 = ?, p95 = ?, p99 = ? "
    "WHERE app = ? AND tier = ? AND bucket = ? AND node = ?"
)
_OLDEST_BUCKET = "SELECT MIN(bucket) FROM pymetrix_rollups WHERE app = ? AND tier = ?"
_NEWEST_END = "SELECT MAX(bucket + tier) FROM pymetrix_rollups WHERE app = ?"
_TIER_START = (
    "INSERT INTO pymetrix_rollup_tiers (app, tier, complete_from, rolled_until) VALUES (?, ?, ?, ?)"
)


def add_tiers(conn: Connection, app: int, mark: str) -> None:
    """Bring an app's rollups of schema version 4 to 5: every row's quantiles, and the
    five-minute and six-hour tiers made from the minute and hour rows. Those hold every
    bucket from the first whole one of their source on (or, with no source row, from the
    end of the newest bucket): their ``complete_from`` in ``pymetrix_rollup_tiers``."""

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
            _insert(
                conn, sql, app, size, read(conn, sql, app, source, MIN_NS, MAX_NS).coarsen(size)
            )
        (end,) = conn.execute(sql(_NEWEST_END_OF), (app, size // SECOND)).fetchone()
        made = start // SECOND if end is None else max(int(end), start // SECOND)
        conn.execute(sql(_TIER_START), (app, size // SECOND, start // SECOND, made))


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
