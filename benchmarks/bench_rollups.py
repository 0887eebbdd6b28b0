"""Rollups measured in SQLite and PostgreSQL: load, reads at N and N/10 hits, writer cost.

Prints, for each persistent store:

- load: N hits over 100 nodes, spread evenly across 30 days, written through the store's
  ``append`` with precomputed times (``overflow=block``, a large ``batch_size``), until
  flushed; then a second database with N/10 hits over the same 30 days;
- reads, each the median of several runs, at N and at N/10 in the same run: ``series()``
  over the 30 days (automatic step), the same for one node, ``aggregate(stats=True)``
  over the 30 days, and ``aggregate()`` and ``flow()`` over an unaligned 7-day window.
  Rollups make a read cost what its buckets cost, so N against N/10 should be ~1x;
- the writer: ``ChunkWriter.write`` on prepared batches of the default ``batch_size``,
  with rollups, with their upsert replaced by a no-op, and with no rollup work at all
  (patched in this process only), interleaved; batches of 10 s of live traffic, and
  batches as dense as the load's, which span hours;
- ``hit()`` on the caller's thread with a SQLite store against the memory store, as
  ``bench_storage.py`` measures it, beside that ratio as docs/storage.md records it.

Hits carry callers (so edges exist), durations on 90% (log-normal, median 20 ms, clipped
to 0.1 ms .. 2 s) and status 500 on 1%. Every answer read is checked against the hits
loaded. Absolute times carry the machine's noise: compare the ratios.

PostgreSQL: a throwaway cluster (fsync on) is started from the machine's binaries,
unless ``PYMETRIX_BENCH_POSTGRES_URL`` names a database to use; either way the databases
measured are created beside it and dropped afterwards (its user needs CREATEDB).

    python benchmarks/bench_rollups.py [--hits 10000000]
    python benchmarks/bench_rollups.py --hits 1000000   # to try it: about 3 minutes
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import cycle
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_storage import hit_cost  # noqa: E402
from tests.pgcluster import benchmark_database, postgres_databases  # noqa: E402

from pymetrix import Metrics  # noqa: E402
from pymetrix.clock import ManualClock  # noqa: E402
from pymetrix.store import Query, _sql_rollups, _sql_writer  # noqa: E402
from pymetrix.store._dialect import Dialect  # noqa: E402
from pymetrix.store._rollup import Indexed  # noqa: E402
from pymetrix.store._sql_writer import ChunkWriter  # noqa: E402
from pymetrix.store.sqlite import SQLiteDialect  # noqa: E402

NODES = [f"/api/endpoint-{k}" for k in range(100)]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 30
SECOND = 1_000_000_000
START_NS = int(START.timestamp()) * SECOND
SPAN_NS = DAYS * 86_400 * SECOND
END = START + timedelta(days=DAYS)
# Unaligned to any bucket, and inside the 14 days the minute tier keeps.
WINDOW = (
    START + timedelta(days=21, hours=5, minutes=17, seconds=23, microseconds=500_000),
    START + timedelta(days=28, hours=5, minutes=17, seconds=23, microseconds=500_000),
)
LOAD_BATCH = 200_000
WRITER_BATCH = 50_000  # the stores' default batch_size
# What each 30-day read must take at most, and N's cost against N/10's.
READ_TARGET_MS = 20.0
SCALE_TARGET = 1.5
WRITER_TARGET = 0.9
HIT_TARGET = 1.1


# -- the hits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profiles:
    """Node, caller, duration and status of hits, cycled through by every load."""

    nodes: list[str]
    callers: list[str | None]
    durations: list[float | None]
    statuses: list[int | None]


def profiles(count: int, seed: int = 1) -> Profiles:
    """``count`` random hits: nodes by a Zipf law, 30% without caller, else one of three
    callers per node; 90% timed, log-normal; status 500 on 1% of all hits."""
    rng = random.Random(seed)
    picked = rng.choices(range(len(NODES)), [1 / (k + 1) for k in range(len(NODES))], k=count)
    nodes = [NODES[k] for k in picked]
    callers = [
        None if rng.random() < 0.3 else NODES[(k + rng.choice((1, 7, 31))) % len(NODES)]
        for k in picked
    ]
    durations: list[float | None] = [
        min(2.0, max(1e-4, rng.lognormvariate(math.log(0.02), 1.2))) if rng.random() < 0.9 else None
        for _ in range(count)
    ]
    statuses: list[int | None] = [
        None if d is None else 500 if rng.random() < 1 / 90 else 200 for d in durations
    ]
    return Profiles(nodes, callers, durations, statuses)


def spacing(hits: int) -> int:
    """Nanoseconds between hits spread evenly over the 30 days."""
    return SPAN_NS // hits


def load(
    metrics: Metrics, hits: int, pool: Profiles, step: int | None = None
) -> tuple[float, float]:
    """Append ``hits`` through the store, ``step`` ns apart (default: spread over the 30
    days), flush; seconds to append, and until durable."""
    if step is None:
        step = spacing(hits)
    append = metrics.store.append
    start = time.perf_counter()
    # map() calls append once per hit with no Python loop around it; deque consumes.
    deque(
        map(
            append,
            range(START_NS, START_NS + hits * step, step),
            cycle(pool.nodes),
            cycle(pool.callers),
            cycle(pool.durations),
            cycle(pool.statuses),
        ),
        maxlen=0,
    )
    appended = time.perf_counter() - start
    if not metrics.flush(timeout=3600):
        raise SystemExit("flush timed out")
    return appended, time.perf_counter() - start


def check_loaded(metrics: Metrics, hits: int) -> None:
    """Every hit stored, none dropped, and rollup reads equal to the hits' answers."""
    if metrics.dropped:
        raise SystemExit(f"{metrics.store!r}: {metrics.dropped} hits dropped")
    total = {row["id"]: row["hits"] for row in metrics.aggregate()}
    if sum(total.values()) != hits:
        raise SystemExit(f"{metrics.store!r}: {sum(total.values())} hits stored of {hits}")
    month = {
        row["id"]: row["hits"] for row in metrics.aggregate(stats=True, since=START, until=END)
    }
    lo, hi = (nanoseconds(t) for t in WINDOW)
    exact = {c.node: c.hits for c in metrics.store.counts(Query(since_ns=lo, until_ns=hi))}
    window = {row["id"]: row["hits"] for row in metrics.aggregate(since=WINDOW[0], until=WINDOW[1])}
    flowed = sum(row["hits"] for row in metrics.flow(since=WINDOW[0], until=WINDOW[1]))
    if month != total or window != exact or flowed != sum(exact.values()):
        raise SystemExit(
            f"{metrics.store!r}: rollups disagree with the hits: 30 days"
            f" {sum(month.values())} of {hits}; window {sum(window.values())}"
            f" (flow {flowed}) of {sum(exact.values())}"
        )


def nanoseconds(when: datetime) -> int:
    return (when - START) // timedelta(microseconds=1) * 1000 + START_NS


# -- reads -------------------------------------------------------------------------------


def timed(
    funcs: dict[str, Callable[[], object]], runs: int = 5, budget: float = 15.0
) -> dict[str, float]:
    """Median seconds of each of ``funcs``, called in turn ``runs`` times (3 once ``budget``
    seconds are spent), so that a slow moment of the machine falls on all of them."""
    times: dict[str, list[float]] = {key: [] for key in funcs}
    spent = time.perf_counter()
    for done in range(runs):
        if done >= 3 and time.perf_counter() - spent > budget:
            break
        for key, func in funcs.items():
            start = time.perf_counter()
            func()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(seconds) for key, seconds in times.items()}


def reads(metrics: Metrics) -> dict[str, Callable[[], object]]:
    """The reads measured, by label."""
    one = NODES[0]
    return {
        "series() 30 days": lambda: metrics.series(since=START, until=END),
        "series(ids=[one node]) 30 days": lambda: metrics.series(since=START, until=END, ids=[one]),
        "aggregate(stats=True) 30 days": lambda: metrics.aggregate(
            stats=True, since=START, until=END
        ),
        "aggregate() 7 days, unaligned": lambda: metrics.aggregate(
            since=WINDOW[0], until=WINDOW[1]
        ),
        "flow() 7 days, unaligned": lambda: metrics.flow(since=WINDOW[0], until=WINDOW[1]),
    }


# Reads with a target of their own, beside the N vs N/10 ratio every read has.
TIMED_TARGETS = ("series() 30 days", "aggregate(stats=True) 30 days")


# -- the writer --------------------------------------------------------------------------


def _skip_upsert(conn: Any, dialect: Any, app: int, minutes: Indexed) -> None:
    return None


def _skip_roll(*columns: Any, **flags: Any) -> Indexed:
    return Indexed()


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Rollups as written (``with``), the upsert skipped, or no rollup work at all."""
    if name == "with":
        yield
    elif name == "upsert skipped":
        with mock.patch.object(_sql_rollups, "upsert", _skip_upsert):
            yield
    else:
        with (
            mock.patch.object(_sql_rollups, "upsert", _skip_upsert),
            mock.patch.object(_sql_writer, "roll_indexed", _skip_roll),
        ):
            yield


VARIANTS = ("with", "upsert skipped", "none")


def writer_rates(
    dialect: Dialect[Any], app: str, pool: Profiles, step: int, rounds: int = 5
) -> dict[str, float]:
    """Hits/s of ``ChunkWriter.write`` per variant: the median of ``rounds`` batches each.

    Every write takes the pool's first ``WRITER_BATCH`` hits, ``step`` ns apart, carrying
    on in time from the batch before (of whatever variant), as a writer's batches do.
    """
    conn = dialect.open()
    try:
        writer = ChunkWriter(dialect, dialect.register_app(conn, app))
    finally:
        conn.close()
    size = WRITER_BATCH
    columns = (pool.nodes[:size], pool.callers[:size], pool.durations[:size], pool.statuses[:size])
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    written = 0
    try:
        for _ in range(rounds + 1):  # the first round warms up
            for name in VARIANTS:
                first = START_NS + written * size * step
                batch = (list(range(first, first + size * step, step)), *columns)
                written += 1
                with variant(name):
                    start = time.perf_counter()
                    writer.write(random.getrandbits(62), batch)
                    times[name].append(time.perf_counter() - start)
    finally:
        writer.disconnect()
    return {name: size / statistics.median(spent[1:]) for name, spent in times.items()}


# -- hit() -------------------------------------------------------------------------------


def recorded_hit_ratios() -> tuple[float, float] | None:
    """The SQLite/memory ratios of ``hit()`` docs/storage.md records: caller's CPU, elapsed."""
    text = (ROOT / "docs" / "storage.md").read_text()
    found = re.search(
        r"^\s*sqlite\s+caller's CPU\s+\d+ ns/hit\s+([\d.]+)x memory"
        r"\s+elapsed, writer included\s+\d+ ns/hit\s+([\d.]+)x memory",
        text,
        re.MULTILINE,
    )
    return None if found is None else (float(found[1]), float(found[2]))


# -- PostgreSQL databases ----------------------------------------------------------------


def postgres_dialect(url: str) -> Dialect[Any]:
    from pymetrix.store.postgres import PostgresDialect

    return PostgresDialect(url, 10.0, url)


# -- the run -----------------------------------------------------------------------------


def with_options(url: str, **options: object) -> str:
    glue = "&" if "?" in url else "?"
    return url + glue + "&".join(f"{key}={value}" for key, value in options.items())


def loads_and_reads(urls: dict[str, dict[str, str]], sizes: dict[str, int], pool: Profiles) -> None:
    """Load each store's N and N/10 databases, printing the rates; then the reads table."""
    print(
        f"load through the store's append (batch_size={LOAD_BATCH:,}, overflow=block),"
        " until flushed (target: nothing dropped)"
    )
    print(f"  {'store':<11} {'db':<5} {'hits':>12} {'appended s':>11} {'durable s':>10}"
          f" {'hits/s':>10} {'dropped':>8}")  # fmt: skip
    rows: list[str] = []
    for kind, by_size in urls.items():
        opened: dict[str, Metrics] = {}
        for size, hits in sizes.items():
            url = with_options(by_size[size], batch_size=LOAD_BATCH, overflow="block")
            metrics = Metrics(f"rollups-{size}", store=url, clock=ManualClock(END))
            appended, durable = load(metrics, hits, pool)
            print(
                f"  {kind:<11} {size:<5} {hits:>12,} {appended:>11.1f} {durable:>10.1f}"
                f" {hits / durable:>10,.0f} {metrics.dropped:>8}",
                flush=True,
            )
            check_loaded(metrics, hits)
            opened[size] = metrics
        # Read while this store's two databases are the only ones open.
        measured = {size: reads(metrics) for size, metrics in opened.items()}
        for label in measured["N"]:
            at = {
                size: seconds * 1e3
                for size, seconds in timed({size: measured[size][label] for size in sizes}).items()
            }
            ratio = at["N"] / at["N/10"]
            met = ratio <= SCALE_TARGET
            target = f"<= {SCALE_TARGET}x"
            if label in TIMED_TARGETS:
                met = met and at["N"] < READ_TARGET_MS
                target = f"< {READ_TARGET_MS:.0f} ms, {target}"
            rows.append(
                f"  {kind:<11} {label:<32} {at['N']:>9.1f} {at['N/10']:>9.1f}"
                f" {ratio:>8.2f}x  {target:<19} {'yes' if met else 'NO'}"
            )
        for metrics in opened.values():
            metrics.close()

    print()
    print("reads, ms, median of 3-5 runs taking N and N/10 in turn, over the same 30 days")
    print(f"  {'store':<11} {'read':<32} {'N':>9} {'N/10':>9} {'N / N/10':>9}  {'target':<19} met")
    print("\n".join(rows))


def writer_table(urls: dict[str, str], pool: Profiles, large: int) -> None:
    """``ChunkWriter.write`` with rollups, their upsert skipped, and without rollup work."""
    print(f"writer: ChunkWriter.write of {WRITER_BATCH:,}-hit batches, hits/s, median of 5")
    print(
        f"  {'store':<11} {'batch':<24} {'with':>9} {'upsert skipped':>15} {'ratio':>6}"
        f"  {'target':<8} met {'no rollups':>11} {'ratio':>6}"
    )
    shapes = {
        "10 s of live traffic": 10 * SECOND // WRITER_BATCH,
        "the load's (N) spacing": spacing(large),
    }
    for kind, url in urls.items():
        dialect = (
            SQLiteDialect(url.removeprefix("sqlite:///"), 5.0, url)
            if kind == "sqlite"
            else postgres_dialect(url)
        )
        for shape, step in shapes.items():
            rate = writer_rates(dialect, f"writer-{step}", pool, step)
            ratio = rate["with"] / rate["upsert skipped"]
            met = "yes" if ratio >= WRITER_TARGET else "NO"
            print(
                f"  {kind:<11} {shape:<24} {rate['with']:>9,.0f} {rate['upsert skipped']:>15,.0f}"
                f" {ratio:>5.2f}x  {f'>= {WRITER_TARGET}x':<8} {met:<3}"
                f" {rate['none']:>11,.0f} {rate['with'] / rate['none']:>5.2f}x",
                flush=True,
            )


def hit_table(sqlite_url: str, calls: int) -> None:
    """``hit()`` with a SQLite store against the memory store, beside the recorded ratio."""
    recorded = recorded_hit_ratios()
    print(
        f"hit() on the caller's thread, ns/hit, best of 3 runs of {calls:,}"
        " (bench_storage.py's measure; recorded: its ratio in docs/storage.md)"
    )
    print(f"  {'measure':<26} {'memory':>7} {'sqlite':>7} {'ratio':>7} {'recorded':>9}"
          f" {'ratio/recorded':>15}  {'target':<8} met")  # fmt: skip
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    for _ in range(3):
        for name, url in (("memory", "memory://"), ("sqlite", sqlite_url)):
            elapsed, own = hit_cost(url, calls)
            wall[name] = min(wall.get(name, elapsed), elapsed)
            cpu[name] = min(cpu.get(name, own), own)
    for i, (label, figures) in enumerate(
        (("caller's CPU", cpu), ("elapsed, writer included", wall))
    ):
        ratio = figures["sqlite"] / figures["memory"]
        before = None if recorded is None else recorded[i]
        shown, change, met = "n/a", "n/a", "NO"
        if before is not None:
            shown, change = f"{before:.2f}x", f"{ratio / before:.2f}x"
            met = "yes" if ratio / before <= HIT_TARGET else "NO"
        print(
            f"  {label:<26} {figures['memory'] * 1e9:>7.0f} {figures['sqlite'] * 1e9:>7.0f}"
            f" {ratio:>6.2f}x {shown:>9} {change:>15}  {f'<= {HIT_TARGET}x':<8} {met}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hits", type=int, default=10_000_000, help="N, hits in the large database"
    )
    parser.add_argument("--hit-calls", type=int, default=200_000, help="hits per hit() run")
    args = parser.parse_args()
    sizes = {"N": args.hits, "N/10": args.hits // 10}
    pool = profiles(1 << 18)
    edges = len(set(zip(pool.callers, pool.nodes)))
    began = time.perf_counter()
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load_avg}")
    print(
        f"N = {args.hits:,} hits over {len(NODES)} nodes and {edges} caller->node edges, spread"
        f" evenly over {DAYS} days from {START:%Y-%m-%d} UTC; 90% timed, 1% status 500"
    )
    databases = ["pymetrix_rollups_n", "pymetrix_rollups_n10", "pymetrix_rollups_writer"]
    with (
        tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as tmp,
        benchmark_database() as pg_url,
        postgres_databases(pg_url, databases) as pg,
    ):
        print()
        loads_and_reads(
            {
                "sqlite": {"N": f"sqlite:///{tmp}/n.db", "N/10": f"sqlite:///{tmp}/n10.db"},
                "postgresql": {"N": pg[databases[0]], "N/10": pg[databases[1]]},
            },
            sizes,
            pool,
        )
        print()
        writer_table(
            {"sqlite": f"sqlite:///{tmp}/writer.db", "postgresql": pg[databases[2]]},
            pool,
            args.hits,
        )
        print()
        hit_table(f"sqlite:///{tmp}/hit.db", args.hit_calls)
    print()
    print(f"whole run: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
