"""The ClickHouse store's tables, made for the engine, and the DDL that creates them.

One ``INSERT`` per batch into ``pymetrix_hits`` writes its hits: materialized views
derive everything else from each inserted block, so a batch's hits, counts and rollups
stand or fall together with that one insert, and one deduplication token keeps a
retried batch from being counted twice in any of them. (Before it, a claim row gives
the batch its hit numbers; a claim without hits only leaves a hole in the numbers.)

=========================== ======================= ===================================
table                       engine                  holds
=========================== ======================= ===================================
``pymetrix_meta``           ReplacingMergeTree      the schema version
``pymetrix_apps``           ReplacingMergeTree      every app opened on the database
``pymetrix_hits``           MergeTree, by day       one row per hit, ordered by
                                                    (app, node, time); TTL: retention
``pymetrix_counts``         AggregatingMergeTree    hits, first and last hit per node
``pymetrix_edges``          AggregatingMergeTree    hits and first hit per edge
``pymetrix_rollups``        AggregatingMergeTree    per tier, bucket and node: hits,
                                                    errors, durations, latency sketch
                                                    bins (a ``Map`` summed by merges);
                                                    TTL: the tier's horizon
``pymetrix_rollup_edges``   AggregatingMergeTree    per tier, bucket and edge: hits
``pymetrix_claims``         MergeTree               a row per batch: its hits per node,
                                                    ordered by block number (the hits'
                                                    numbers, see ``_clickhouse_seq``)
``pymetrix_marks``          ReplacingMergeTree      the totals up to a claim, per app
``pymetrix_written``        MergeTree               each written block's range of hit
                                                    numbers
``pymetrix_quantiles``      ReplacingMergeTree      a closed bucket's p50/p95/p99 per node
                                                    (sketch buckets), for its hits then
=========================== ======================= ===================================

Times are Int64 nanoseconds, as every Pymetrix store keeps them (a DateTime64(6) would
lose the nanoseconds the other stores give back). No caller is ``''`` (ids are never
empty), no duration NaN, no status 0. Aggregating tables merge their parts in the
background; every read adds rows up with ``GROUP BY``, so parts not merged yet give the
same exact answers.

Retention is a TTL on each row, computed from columns the writer fills per batch:
``keep`` (per-hit retention in seconds, 0 for none), ``rollup_keep`` (the same for
rollups) and ``offset`` (the server's clock minus the time of the batch's newest hit,
in seconds), so that a store whose clock is not the server's (tests, replays) ages its
rows by its own time. Reads never rely on TTL having run: they bound what they read by
the store's horizons, so an answer is exact whether or not a merge deleted the rows.

With ``cluster``, every table is created ``ON CLUSTER`` with a ``Replicated`` engine
under a ``_local`` name, and a ``Distributed`` table of the plain name over it, sharded
by ``cityHash64(node)``: a node's hits, counts and rollups live on one shard, and the
materialized views run on each shard over its own hits.
"""

from __future__ import annotations

import re

from ..errors import StoreError
from ._rollup import HORIZONS, MINUTE, SECOND, TIERS

__all__ = ["SCHEMA_VERSION", "TABLES", "check_identifier", "ddl", "quote"]

SCHEMA_VERSION = 1
"""The version of the ClickHouse schema; a database of a newer one is refused."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_NEVER = 4294967295  # the last second a DateTime holds: rows kept for ever
_DEDUP = "non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000"

TABLES = (
    "pymetrix_meta",
    "pymetrix_apps",
    "pymetrix_hits",
    "pymetrix_counts",
    "pymetrix_edges",
    "pymetrix_rollups",
    "pymetrix_rollup_edges",
    "pymetrix_claims",
    "pymetrix_marks",
    "pymetrix_written",
    "pymetrix_quantiles",
)


def check_identifier(kind: str, name: str, shown: str) -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``), else ``StoreError``."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise StoreError(
            f"invalid ClickHouse {kind} {name!r}: expected letters, digits and _ "
            "(not starting with a digit, at most 64)",
            shown,
        )
    return name


def quote(name: str) -> str:
    """A checked identifier, quoted for SQL."""
    return f"`{name}`"


def _sum(kind: str) -> str:
    return f"SimpleAggregateFunction(sum, {kind})"


def _min(kind: str) -> str:
    return f"SimpleAggregateFunction(min, {kind})"


def _max(kind: str) -> str:
    return f"SimpleAggregateFunction(max, {kind})"


def _expires(seconds: str, keep: str) -> str:
    """A DateTime ``keep`` seconds after ``seconds`` (server time), never if ``keep`` is 0."""
    return (
        f"toDateTime(if({keep} = 0, {_NEVER}, "
        f"least({_NEVER}, greatest(0, {seconds} + {keep} + offset))))"
    )


def _tier_keep() -> str:
    """How long each tier is kept (seconds), bounded by the batch's ``rollup_keep``."""
    kept = [(size, HORIZONS[size]) for size in TIERS]
    cases = "".join(f"tier = {size // SECOND}, {keep // SECOND}, " for size, keep in kept if keep)
    keep = f"multiIf({cases}0)"
    return f"if(rollup_keep = 0, {keep}, if({keep} = 0, rollup_keep, least({keep}, rollup_keep)))"


# Each table: its columns, its engine family, its sorting key and what follows the key.
_LOCAL: dict[str, tuple[str, str, str, str]] = {
    "pymetrix_meta": ("key String, value String", "ReplacingMergeTree", "key", ""),
    "pymetrix_apps": ("app String", "ReplacingMergeTree", "app", ""),
    "pymetrix_hits": (
        "app LowCardinality(String), node LowCardinality(String), time Int64, "
        "caller LowCardinality(String), duration Float64, status UInt16, seq UInt64, "
        "node_hits UInt64, keep UInt32, rollup_keep UInt32, offset Int64, "
        "INDEX seq_range seq TYPE minmax GRANULARITY 1",
        "MergeTree",
        "app, node, time",
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(time, 1000000000), 'UTC')) "
        f"TTL {_expires('intDiv(time, 1000000000)', 'keep')} "
        f"SETTINGS {_DEDUP}",
    ),
    "pymetrix_counts": (
        f"app LowCardinality(String), node LowCardinality(String), hits {_sum('UInt64')}, "
        f"first_ns {_min('Int64')}, first_seq {_min('UInt64')}, last_ns {_max('Int64')}, "
        f"last_seq {_max('UInt64')}",
        "AggregatingMergeTree",
        "app, node",
        f"SETTINGS {_DEDUP}",
    ),
    "pymetrix_edges": (
        "app LowCardinality(String), node LowCardinality(String), "
        f"caller LowCardinality(String), hits {_sum('UInt64')}, first_ns {_min('Int64')}, "
        f"first_seq {_min('UInt64')}",
        "AggregatingMergeTree",
        "app, node, caller",
        f"SETTINGS {_DEDUP}",
    ),
    "pymetrix_rollups": (
        "app LowCardinality(String), tier UInt32, bucket Int64, node LowCardinality(String), "
        f"hits {_sum('UInt64')}, errors {_sum('UInt64')}, timed {_sum('UInt64')}, "
        f"duration_sum {_sum('Float64')}, first_ns {_min('Int64')}, "
        "sketch SimpleAggregateFunction(sumMap, Map(Int32, UInt64)), "
        f"expires {_max('DateTime')}",
        "AggregatingMergeTree",
        "app, tier, node, bucket",
        f"TTL expires SETTINGS {_DEDUP}",
    ),
    "pymetrix_rollup_edges": (
        "app LowCardinality(String), tier UInt32, bucket Int64, node LowCardinality(String), "
        f"caller LowCardinality(String), hits {_sum('UInt64')}, first_ns {_min('Int64')}, "
        f"expires {_max('DateTime')}",
        "AggregatingMergeTree",
        "app, tier, node, caller, bucket",
        f"TTL expires SETTINGS {_DEDUP}",
    ),
    # Block numbers kept through merges: the order claims became visible in.
    "pymetrix_claims": (
        "app LowCardinality(String), batch UInt64, hits UInt64, nodes Map(String, UInt64), "
        "at DateTime64(3) DEFAULT now64(3)",
        "MergeTree",
        "app, at",
        f"SETTINGS enable_block_number_column = 1, {_DEDUP}",
    ),
    # The newest mark (highest block) is the one merges keep.
    "pymetrix_marks": (
        "app LowCardinality(String), block UInt64, hits UInt64, nodes Map(String, UInt64)",
        "ReplacingMergeTree(block)",
        "app",
        "",
    ),
    "pymetrix_written": (
        "app LowCardinality(String), first UInt64, last UInt64, at DateTime64(3)",
        "MergeTree",
        "app, last",
        f"SETTINGS {_DEDUP}",
    ),
    # A closed bucket's quantiles, for the hits it had when they were taken.
    "pymetrix_quantiles": (
        "app LowCardinality(String), tier UInt32, bucket Int64, node LowCardinality(String), "
        "hits UInt64, p50 Nullable(Int32), p95 Nullable(Int32), p99 Nullable(Int32), "
        "expires DateTime",
        "ReplacingMergeTree(hits)",
        "app, tier, node, bucket",
        "TTL expires",
    ),
}

_SCALE = "49.99833328888678"  # 1 / log(GAMMA): see _sketch.index_of
_SKETCH_INDEX = f"toInt32(if(duration >= 0.000001, ceil(log(duration) * {_SCALE}), -2147483648))"
_TIERS = f"[{', '.join(str(size // SECOND) for size in TIERS)}]"
_MINUTE_NS = MINUTE


def _floor(value: str, size: str) -> str:
    """``value`` rounded down to a multiple of ``size`` (towards the past before 1970)."""
    return f"(intDiv({value}, {size}) - ({value} % {size} < 0)) * {size}"


# Views add a block up by minute first (and by sketch bin for nodes), then spread those
# few rows over the tiers: the tiers cost rows of minutes, not of hits.
_BY_MINUTE = _floor("time", str(_MINUTE_NS))
_BUCKET = _floor("minute", "(tier * 1000000000)")
_EXPIRY = _expires("intDiv(bucket, 1000000000) + tier", _tier_keep())

# Each view: the table it writes, and its SELECT over an inserted block of hits.
_VIEWS: dict[str, tuple[str, str]] = {
    "pymetrix_counts_mv": (
        "pymetrix_counts",
        "SELECT app, node, count() AS hits, min(time) AS first_ns, min(seq) AS first_seq, "
        "max(time) AS last_ns, max(seq) AS last_seq FROM {hits} GROUP BY app, node",
    ),
    "pymetrix_edges_mv": (
        "pymetrix_edges",
        "SELECT app, node, caller, count() AS hits, min(time) AS first_ns, "
        "min(seq) AS first_seq FROM {hits} GROUP BY app, node, caller",
    ),
    # By minute and sketch bin, then by minute with its bins as two arrays; spread over the
    # tiers and added up by bucket, the arrays are joined end to end. A bucket of one
    # minute (every tier of a batch within a minute) keeps that minute's bins as they are;
    # only a bucket of several minutes adds its bins up (sumMap, once per row written).
    "pymetrix_rollups_mv": (
        "pymetrix_rollups",
        "SELECT app, tier, bucket, node, hits, errors, timed, duration_sum, first_ns, "
        "if(minutes = 1, mapFromArrays(bins, counts), "
        "CAST(arrayReduce('sumMap', [bins], [counts]), 'Map(Int32, UInt64)')) AS sketch, "
        "expires FROM ("
        f"SELECT app, tier, {_BUCKET} AS bucket, node, sum(hits) AS hits, "
        "sum(errors) AS errors, sum(timed) AS timed, sum(duration_sum) AS duration_sum, "
        "min(first_ns) AS first_ns, groupArrayArray(bins) AS bins, "
        f"groupArrayArray(counts) AS counts, count() AS minutes, max({_EXPIRY}) AS expires "
        "FROM ("
        "SELECT app, node, minute, sum(n) AS hits, sum(e) AS errors, sum(t) AS timed, "
        "sum(d) AS duration_sum, min(f) AS first_ns, groupArrayIf(bin, t > 0) AS bins, "
        "groupArrayIf(t, t > 0) AS counts, max(offset) AS offset, "
        "max(rollup_keep) AS rollup_keep FROM ("
        f"SELECT app, node, {_BY_MINUTE} AS minute, {_SKETCH_INDEX} AS bin, count() AS n, "
        "countIf(status >= 500) AS e, countIf(NOT isNaN(duration)) AS t, "
        "sumIf(duration, NOT isNaN(duration)) AS d, min(time) AS f, max(offset) AS offset, "
        "max(rollup_keep) AS rollup_keep FROM {hits} GROUP BY app, node, minute, bin"
        ") GROUP BY app, node, minute"
        f") ARRAY JOIN {_TIERS} AS tier GROUP BY app, tier, bucket, node)",
    ),
    "pymetrix_rollup_edges_mv": (
        "pymetrix_rollup_edges",
        f"SELECT app, tier, {_BUCKET} AS bucket, node, caller, sum(n) AS hits, "
        f"min(f) AS first_ns, max({_EXPIRY}) AS expires FROM ("
        f"SELECT app, node, caller, {_BY_MINUTE} AS minute, count() AS n, min(time) AS f, "
        "max(offset) AS offset, max(rollup_keep) AS rollup_keep "
        "FROM {hits} GROUP BY app, node, caller, minute"
        f") ARRAY JOIN {_TIERS} AS tier GROUP BY app, tier, bucket, node, caller",
    ),
    "pymetrix_written_mv": (
        "pymetrix_written",
        "SELECT app, min(seq) AS first, max(seq) AS last, now64(3) AS at FROM {hits} GROUP BY app",
    ),
}

# The Distributed table's sharding key: a node's rows all on one shard.
_SHARDING = {
    "pymetrix_meta": "0",
    "pymetrix_apps": "cityHash64(app)",
    "pymetrix_claims": "cityHash64(app)",
    "pymetrix_marks": "cityHash64(app)",
    "pymetrix_written": "cityHash64(app)",
}


def ddl(database: str, cluster: str | None = None) -> list[str]:
    """The statements that create the schema in ``database`` (both checked identifiers),
    on every node of ``cluster`` if given."""
    db = quote(database)
    on = "" if cluster is None else f" ON CLUSTER {quote(cluster)}"
    out = [f"CREATE DATABASE IF NOT EXISTS {db}{on}"]
    suffix = "" if cluster is None else "_local"
    for table, (columns, engine, key, rest) in _LOCAL.items():
        if cluster is not None:
            engine = f"Replicated{engine}"
        statement = (
            f"CREATE TABLE IF NOT EXISTS {db}.{quote(table + suffix)}{on} ({columns}) "
            f"ENGINE = {engine} ORDER BY ({key})"
        )
        out.append(f"{statement} {rest}".rstrip())
        if cluster is not None:
            shard = _SHARDING.get(table, "cityHash64(node)")
            local = quote(table + suffix)
            out.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{quote(table)}{on} AS {db}.{local} "
                f"ENGINE = Distributed({quote(cluster)}, {db}, {local}, {shard})"
            )
    hits = f"{db}.{quote('pymetrix_hits' + suffix)}"
    for view, (target, select) in _VIEWS.items():
        out.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{quote(view + suffix)}{on} "
            f"TO {db}.{quote(target + suffix)} AS {select.format(hits=hits)}"
        )
    return out
