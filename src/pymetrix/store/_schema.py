"""The tables persistent stores keep, in SQLite's and PostgreSQL's dialects.

Several apps share one database: every row carries the app's number from
``pymetrix_apps``. Node and caller names are interned per app as dense numbers
(``pymetrix_names.idx``). Counts per node and per caller->node edge are kept up to date
by each write (upserts), so ``aggregate()`` and ``flow()`` read a handful of rows.

Per-hit data is stored in chunks, one row per written batch, its columns packed as
little-endian arrays (see ``_chunks.py``): a batch of many thousand hits is one insert, so
ingest is bound by packing, not by per-row work in the database, and a read of a million
hits decodes a hundred rows. A chunk's hits are in time order; ``first_ns``/``last_ns``
let a windowed read and retention find chunks through the ``(app, last_ns)`` index. Each
chunk records every node's count before it (``bases``), read in the write's transaction:
from it a live subscriber knows each hit's exact running total, and from the app's count
before it each hit's number, from which a subscriber resumes.
"""

from __future__ import annotations

__all__ = ["POSTGRES_DDL", "SCHEMA_VERSION", "SQLITE_DDL", "too_new", "upgrade"]


from ..errors import StoreError
from ._dialect import Connection

SCHEMA_VERSION = 5
"""Bumped on every change of the tables; a database from a newer version is refused.

Version 2 adds the app's hit count before each chunk to its ``bases``; version 1 readers
would take it for a node, so a version 1 database is marked 2 when opened. Version 3
gives each chunk the id of the batch it was written from, unique per app, so that a
batch retried after a lost reply to its COMMIT is recognised and not stored twice.
Version 4 adds the rollup tables, back-filled from the chunks on upgrade. Version 5 adds
each rollup row's p50/p95/p99, the five-minute and six-hour tiers, made on upgrade from
the minute and hour rows (complete from where those were), and how far each tier
coarser than a minute is made (``pymetrix_rollup_tiers``).
"""

# How far each tier coarser than a minute is made (see ``_sql_rollups.upsert``): every
# bucket starting before ``rolled_until`` (s) is in it; from ``complete_from`` (s; NULL:
# always) on, none is missing.
_TIERS = (
    "CREATE TABLE IF NOT EXISTS pymetrix_rollup_tiers (app INTEGER NOT NULL, "
    "tier INTEGER NOT NULL, complete_from BIGINT, rolled_until BIGINT NOT NULL, "
    "PRIMARY KEY (app, tier))"
)

# Rollups (see ``_rollup``): ``tier`` is the bucket width and ``bucket`` its start, both
# in seconds (UTC, since the epoch), so that plain SQL can chart them; ``node`` and
# ``caller`` are numbers of ``pymetrix_names`` (-1: no caller); ``sketch`` holds the
# latency sketch in the encoding ``_sketch.encode`` documents (NULL: no timed hit), and
# ``p50``/``p95``/``p99`` its quantiles in seconds, for plain SQL and reads of whole rows.
_ROLLUPS = (
    "CREATE TABLE IF NOT EXISTS pymetrix_rollups (app INTEGER NOT NULL, tier INTEGER NOT NULL, "
    "bucket BIGINT NOT NULL, node INTEGER NOT NULL, hits BIGINT NOT NULL, "
    "errors BIGINT NOT NULL, timed BIGINT NOT NULL, duration_sum DOUBLE PRECISION NOT NULL, "
    "first_ns BIGINT NOT NULL, sketch {blob}, p50 DOUBLE PRECISION, p95 DOUBLE PRECISION, "
    "p99 DOUBLE PRECISION, PRIMARY KEY (app, tier, bucket, node))",
    "CREATE TABLE IF NOT EXISTS pymetrix_rollup_edges (app INTEGER NOT NULL, "
    "tier INTEGER NOT NULL, bucket BIGINT NOT NULL, caller INTEGER NOT NULL, "
    "node INTEGER NOT NULL, hits BIGINT NOT NULL, first_ns BIGINT NOT NULL, "
    "PRIMARY KEY (app, tier, bucket, caller, node))",
    _TIERS,
)

# What brings a database of each older version to the next one, in both dialects.
_UPGRADES: dict[int, tuple[str, ...]] = {
    1: (),
    2: (
        "ALTER TABLE pymetrix_chunks ADD COLUMN batch BIGINT",
        "CREATE UNIQUE INDEX IF NOT EXISTS pymetrix_chunks_batch ON pymetrix_chunks (app, batch)",
    ),
    3: _ROLLUPS,
    4: (
        *(
            f"ALTER TABLE pymetrix_rollups ADD COLUMN {column} DOUBLE PRECISION"
            for column in ("p50", "p95", "p99")
        ),
        _TIERS,
    ),
}
_CHUNKS_OF_APP = "SELECT hits, data FROM pymetrix_chunks WHERE app = ? ORDER BY id"
_MARK = "UPDATE pymetrix_meta SET value = {mark} WHERE key = 'schema_version'"


def upgrade(conn: Connection, version: int, mark: str, blob: str) -> None:
    """Bring a database of an older ``version`` to this one, inside the caller's transaction.

    ``mark`` is the dialect's parameter placeholder, ``blob`` its binary column type.
    """
    for step in range(version, SCHEMA_VERSION):
        if step > 3 and version <= 3:
            break  # step 3 made the rollup tables as they are now: later steps alter them
        for statement in _UPGRADES[step]:
            conn.execute(statement.format(blob=blob))
    if version < 4:
        backfill_rollups(conn, mark)
    elif version < 5:
        from ._sql_rollups import add_tiers

        for app in _apps(conn):
            add_tiers(conn, app, mark)
    conn.execute(_MARK.format(mark=mark), (str(SCHEMA_VERSION),))


def backfill_rollups(conn: Connection, mark: str) -> None:
    """Fill the rollup tables from every chunk still held (a database from before them)."""
    from ._sql_rollups import backfill

    for app in _apps(conn):
        chunks = conn.execute(_CHUNKS_OF_APP.replace("?", mark), (app,)).fetchall()
        backfill(conn, app, [(hits, bytes(data)) for hits, data in chunks], mark)


def _apps(conn: Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT id FROM pymetrix_apps").fetchall()]


# An edge's ``caller`` is -1 for none, as in HitColumns, so it can be part of the key.
SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS pymetrix_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pymetrix_apps (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS pymetrix_names (app INTEGER NOT NULL, idx INTEGER NOT NULL, "
    "name TEXT NOT NULL, PRIMARY KEY (app, idx), UNIQUE (app, name)) WITHOUT ROWID",
    # AUTOINCREMENT: ids never go back, even once retention deleted every row, so a
    # live subscriber's cursor stays valid.
    "CREATE TABLE IF NOT EXISTS pymetrix_chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "app INTEGER NOT NULL, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, "
    "hits INTEGER NOT NULL, data BLOB NOT NULL, bases BLOB NOT NULL, batch BIGINT)",
    "CREATE INDEX IF NOT EXISTS pymetrix_chunks_time ON pymetrix_chunks (app, last_ns)",
    "CREATE UNIQUE INDEX IF NOT EXISTS pymetrix_chunks_batch ON pymetrix_chunks (app, batch)",
    "CREATE TABLE IF NOT EXISTS pymetrix_counts (app INTEGER NOT NULL, node INTEGER NOT NULL, "
    "hits INTEGER NOT NULL, first_ns INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "PRIMARY KEY (app, node)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS pymetrix_edges (app INTEGER NOT NULL, caller INTEGER NOT NULL, "
    "node INTEGER NOT NULL, hits INTEGER NOT NULL, first_ns INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, PRIMARY KEY (app, caller, node)) WITHOUT ROWID",
    *(statement.format(blob="BLOB") for statement in _ROLLUPS),
)

POSTGRES_DDL = (
    "CREATE TABLE IF NOT EXISTS pymetrix_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pymetrix_apps (id SERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS pymetrix_names (app INTEGER NOT NULL, idx INTEGER NOT NULL, "
    "name TEXT NOT NULL, PRIMARY KEY (app, idx), UNIQUE (app, name))",
    "CREATE SEQUENCE IF NOT EXISTS pymetrix_chunks_id",
    # (app, id) as key: a live subscriber finds its app's newest chunk and reads on from
    # its cursor through this index.
    "CREATE TABLE IF NOT EXISTS pymetrix_chunks (app INTEGER NOT NULL, "
    "id BIGINT NOT NULL DEFAULT nextval('pymetrix_chunks_id'), first_ns BIGINT NOT NULL, "
    "last_ns BIGINT NOT NULL, hits INTEGER NOT NULL, data BYTEA NOT NULL, "
    "bases BYTEA NOT NULL, batch BIGINT, PRIMARY KEY (app, id))",
    "CREATE INDEX IF NOT EXISTS pymetrix_chunks_time ON pymetrix_chunks (app, last_ns)",
    "CREATE UNIQUE INDEX IF NOT EXISTS pymetrix_chunks_batch ON pymetrix_chunks (app, batch)",
    "CREATE TABLE IF NOT EXISTS pymetrix_counts (app INTEGER NOT NULL, node INTEGER NOT NULL, "
    "hits BIGINT NOT NULL, first_ns BIGINT NOT NULL, seq INTEGER NOT NULL, "
    "PRIMARY KEY (app, node))",
    "CREATE TABLE IF NOT EXISTS pymetrix_edges (app INTEGER NOT NULL, caller INTEGER NOT NULL, "
    "node INTEGER NOT NULL, hits BIGINT NOT NULL, first_ns BIGINT NOT NULL, "
    "seq INTEGER NOT NULL, PRIMARY KEY (app, caller, node))",
    *(statement.format(blob="BYTEA") for statement in _ROLLUPS),
)


def too_new(version: int, url: str) -> StoreError:
    """The error for a database whose schema is newer than this Pymetrix reads."""
    return StoreError(
        f"the database was written by a newer Pymetrix (schema version {version}, this one "
        f"reads up to {SCHEMA_VERSION}); upgrade Pymetrix or use another database",
        url,
    )
