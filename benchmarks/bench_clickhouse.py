"""ClickHouse against PostgreSQL and SQLite: ingest from one process, reads over 30 days.

For each store, in one process:

- load: N hits over 100 nodes, spread evenly across 30 days, written through the store's
  ``append`` (``overflow=block``, ``batch_size`` 200,000) until flushed, rollups on (the
  ClickHouse store's materialized views, the SQL stores' upserts); every answer is then
  checked against the hits loaded (``bench_rollups.check_loaded``). Each batch spans a
  day and a half (N = 1,000,000) to 14 hours (10,000,000): thousands of minutes, the
  hard case for rollups;
- live-like load: the same N hits into a second, empty store, each batch's hits within
  one second (200,000 hits a second), as an app writes its live traffic: a batch touches
  one bucket of each tier (two where it crosses a minute);
- reads over the 30 days, each the median of 3-5 runs taken in turn:
  ``aggregate(stats=True)``, ``series()`` (automatic step) and ``flow()``; and the first
  ``series()``, timed once before them (ClickHouse keeps the quantiles of ended buckets
  it reads, for the next reads).

CPU us/hit is this process's CPU time (all its threads: recording, the writer, and for
ClickHouse the chDB engine running the views) per hit loaded: what a hit costs whatever
else the machine runs. A PostgreSQL or SQLite server's own work is not in it for
PostgreSQL (another process); SQLite's is (a library).

Targets: at least 500,000 hits/s into ClickHouse in both loads, and every read under
50 ms. Ratios are each store's figure against ClickHouse's.

ClickHouse runs in this process through chDB (``clickhouse-connect``'s ``chdb://``
client), which shares the process's cores with the writer's Python: a server on other
cores would take the views' work off them. PostgreSQL: a throwaway cluster, or
``PYMETRIX_BENCH_POSTGRES_URL``.

    python benchmarks/bench_clickhouse.py [--hits 10000000] [--stores clickhouse,sqlite]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_rollups import END, START, check_loaded, load, profiles, timed  # noqa: E402

from pymetrix import Metrics  # noqa: E402
from pymetrix.store import Store  # noqa: E402
from pymetrix.store._rollup import SECOND  # noqa: E402

STORES = ("clickhouse", "postgresql", "sqlite")
LOAD_BATCH = 200_000
INGEST_TARGET = 500_000  # hits/s into ClickHouse from one process
READ_TARGET_MS = 50.0


@contextmanager
def opened(kind: str, place: Path) -> Iterator[Store]:
    """A new, empty store of ``kind``."""
    options: dict[str, Any] = {
        "app": "bench",
        "batch_size": LOAD_BATCH,
        "max_buffer": 4 * LOAD_BATCH,
    }
    if kind == "clickhouse":
        import clickhouse_connect

        from pymetrix.store.clickhouse import ClickHouseStore

        # One chDB engine per process: each store is a database of its own in it.
        client = clickhouse_connect.get_client(dsn=f"chdb://{place.parent / 'chdb'}")
        database = place.name.replace("-", "_")
        store: Store = ClickHouseStore(
            client=client, database=database, overflow="block", **options
        )
    elif kind == "sqlite":
        from pymetrix.store.sqlite import SQLiteStore

        store = SQLiteStore(place / "bench.db", overflow="block", **options)
    else:
        from tests.pgcluster import benchmark_database

        from pymetrix.store.postgres import PostgresStore

        with benchmark_database() as url:
            store = PostgresStore(url, overflow="block", **options)
            try:
                yield store
            finally:
                store.close()
            return
    try:
        yield store
    finally:
        store.close()


def load_live(metrics: Metrics, hits: int, pool: Any) -> float:
    """Append ``hits`` a batch's worth per second of time (each batch within one second,
    as live traffic is written), flush; seconds until durable."""
    return load(metrics, hits, pool, step=SECOND // LOAD_BATCH)[1]


def reads(metrics: Metrics) -> dict[str, Callable[[], object]]:
    return {
        "aggregate(stats=True)": lambda: metrics.aggregate(stats=True, since=START, until=END),
        "series()": lambda: metrics.series(since=START, until=END),
        "flow()": lambda: metrics.flow(since=START, until=END),
    }


def writer_cost(pool: Any, hits: int = LOAD_BATCH) -> tuple[float, float]:
    """CPU us per hit of the ClickHouse writer's own work for one batch, without a
    server: building the hit columns (``ClickHouseStore.hit_rows``), and encoding them
    in ClickHouse's Native format as clickhouse-connect sends them. Best of 3."""
    from clickhouse_connect.datatypes.registry import get_from_name
    from clickhouse_connect.driver.insert import InsertContext
    from clickhouse_connect.driver.transform import NativeTransform

    from pymetrix.store.clickhouse import _HIT_COLUMNS, ClickHouseStore

    types = (
        "LowCardinality(String)",
        "LowCardinality(String)",
        "Int64",
        "LowCardinality(String)",
        "Float64",
        "UInt16",
        "UInt64",
        "UInt64",
        "UInt32",
        "UInt32",
        "Int64",
    )
    batch = (
        list(range(hits)),  # the times do not change the work
        pool.nodes[:hits],
        pool.callers[:hits],
        pool.durations[:hits],
        pool.statuses[:hits],
    )
    store = ClickHouseStore.__new__(ClickHouseStore)
    store.app = "bench"
    store._retention_ns = store._rollup_retention_ns = None
    prepare: list[float] = []
    encode: list[float] = []
    for _ in range(3):
        began = time.process_time()
        rows = store.hit_rows(batch, {}, 0)
        prepared = time.process_time()
        context = InsertContext(
            "t", _HIT_COLUMNS, [get_from_name(t) for t in types], rows, column_oriented=True
        )
        for _chunk in NativeTransform().build_insert(context):
            pass
        encoded = time.process_time()
        prepare.append(prepared - began)
        encode.append(encoded - prepared)
    return min(prepare) / hits * 1e6, min(encode) / hits * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=10_000_000)
    parser.add_argument("--stores", default=",".join(STORES))
    args = parser.parse_args()
    kinds = [kind for kind in args.stores.split(",") if kind]
    hits = args.hits
    pool = profiles(min(hits, 1_000_000))
    started = time.perf_counter()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(
        f"N = {hits:,} hits over 100 nodes, spread evenly over 30 days from {START:%Y-%m-%d} "
        "UTC; 90% timed, 1% status 500; one process; rollups on"
    )
    ingest: dict[str, tuple[float, float, float]] = {}
    live: dict[str, tuple[float, float, float]] = {}
    latency: dict[str, dict[str, float]] = {}
    # chDB goes on merging parts in the background after a store is closed: a file it
    # writes while the directory is removed is left, not an error.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, ExitStack():
        for kind in kinds:
            place = Path(tmp) / kind
            place.mkdir()
            with opened(kind, place) as store, Metrics("bench", store=store) as metrics:
                cpu = time.process_time()
                _, durable = load(metrics, hits, pool)
                cpu = time.process_time() - cpu
                ingest[kind] = (durable, hits / durable, cpu / hits * 1e6)
                check_loaded(metrics, hits)
                # The first series of a range pays for what a store keeps for the next
                # (ClickHouse: the quantiles of ended buckets).
                first = time.perf_counter()
                reads(metrics)["series()"]()
                first = time.perf_counter() - first
                latency[kind] = {k: v * 1000 for k, v in timed(reads(metrics)).items()}
                latency[kind]["series(), first read"] = first * 1000
            place = Path(tmp) / f"{kind}-live"
            place.mkdir()
            with opened(kind, place) as store, Metrics("bench", store=store) as metrics:
                cpu = time.process_time()
                durable = load_live(metrics, hits, pool)
                cpu = time.process_time() - cpu
                live[kind] = (durable, hits / durable, cpu / hits * 1e6)
                check_loaded(metrics, hits)
    base = "clickhouse" if "clickhouse" in ingest else kinds[0]
    print()
    print(f"load through append until flushed (batch_size={LOAD_BATCH:,}, overflow=block)")
    print(
        f"  {'store':<11} {'hits':<15} {'durable s':>10} {'hits/s':>11} {'vs ' + base:>15}"
        "  target        met  CPU us/hit (this process)"
    )
    for traffic, loaded in (("over 30 days", ingest), ("live-like, 1 s", live)):
        for kind, (seconds, rate, cpu_us) in loaded.items():
            target, met = "", ""
            if kind == "clickhouse":
                target = f">= {INGEST_TARGET:,}"
                met = "yes" if rate >= INGEST_TARGET else "NO"
            ratio = rate / loaded[base][1]
            print(
                f"  {kind:<11} {traffic:<15} {seconds:>10.1f} {rate:>11,.0f} {ratio:>14.2f}x"
                f"  {target:<13} {met:<4} {cpu_us:>8.2f}"
            )
    print()
    print("reads over the 30 days, ms, median of 3-5 runs (the first series once)")
    print(f"  {'store':<11} {'read':<23} {'ms':>9} {'vs ' + base:>15}  target     met")
    for kind, figures in latency.items():
        for read, ms in figures.items():
            ratio = ms / latency[base][read]
            met = "yes" if ms < READ_TARGET_MS else "NO"
            target = f"< {READ_TARGET_MS:g} ms"
            print(f"  {kind:<11} {read:<23} {ms:>9.1f} {ratio:>14.2f}x  {target:<10} {met}")
    if "clickhouse" in kinds:
        prepare, encode = writer_cost(pool)
        print()
        print(f"the ClickHouse writer's own CPU per hit, a {LOAD_BATCH:,}-hit batch, no server")
        print(f"  hit columns (hit_rows)           {prepare:.2f} us")
        print(f"  Native encoding (clickhouse-connect) {encode:.2f} us")
        print(f"  one writer core: {1e6 / (prepare + encode):,.0f} hits/s before the server")
    print()
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
