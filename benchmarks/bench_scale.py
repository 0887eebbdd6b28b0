"""N simulated app hosts writing into one store: sustained hits/s, writer lag, read latency.

Each host is a process with its own ``Metrics`` on the store (one app, as the hosts of
one service share it), recording hits on 100 nodes as fast as its writer takes them
(``overflow=block``: recording waits for the database rather than dropping) for
``--seconds``. Meanwhile this process reads the store as a dashboard would, every 0.2 s:
``aggregate(stats=True)`` and ``series()`` over the last hour. Printed per store and N:

- sustained hits/s: hits stored (counted back from the store) over the time from the
  start until every host had flushed;
- writer lag: the oldest queued hit's age (``backlog().oldest_age``), sampled by each
  host every 0.1 s: median and max over all hosts;
- read latency: median and p95 of the reads.

Stores: ``memory`` (each host its own: the ceiling with no storage at all), ``sqlite``
(one file), ``postgresql`` (a throwaway cluster, or ``PYMETRIX_BENCH_POSTGRES_URL``)
``chdb`` (ClickHouse inside the one host process: N = 1 only, and no reads, as a chDB
directory belongs to one process) and ``clickhouse`` when ``PYMETRIX_CLICKHOUSE_URL``
names a server.

    python benchmarks/bench_scale.py [--hosts 1,2,4] [--seconds 8] [--stores sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymetrix import Metrics  # noqa: E402

NODES = [f"/api/endpoint-{k}" for k in range(100)]
APP = "scale"
WRITER = "batch_size=50000&max_buffer=200000&overflow=block&flush_interval=0.2"


def open_store(url: str) -> Any:
    """The store a host writes: a URL, or ``chdb://DIR`` for ClickHouse in the process."""
    if not url.startswith("chdb://"):
        return url
    import clickhouse_connect

    from pymetrix.store.clickhouse import ClickHouseStore

    return ClickHouseStore(
        client=clickhouse_connect.get_client(dsn=url),
        app=APP,
        batch_size=50_000,
        max_buffer=200_000,
        overflow="block",
        flush_interval=0.2,
    )


def host(url: str, seconds: float, start_at: float, out: Any) -> None:
    """One app host: record hits for ``seconds`` from ``start_at``, then flush."""
    lags: list[float] = []
    with Metrics(APP, store=open_store(url)) as metrics:
        store = metrics.store
        hit = metrics.hit
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        sampled = time.monotonic()
        recorded = 0
        while time.time() < end:
            for node in NODES:
                hit(node, caller="/", duration=0.012, status=200)
            recorded += len(NODES)
            if time.monotonic() - sampled >= 0.1:
                sampled = time.monotonic()
                lags.append(store.backlog().oldest_age)
        metrics.flush(timeout=600)
        flushed = time.time()
        if url.startswith("chdb://"):
            # Nobody else can open this chDB directory: count what it stored here.
            recorded = sum(row["hits"] for row in metrics.aggregate())
        out.put((recorded, flushed, lags, metrics.dropped))
        metrics.store.close()  # a store handed in is ours to close


def url_of(kind: str, place: Path, postgres: str | None) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{place / 'scale.db'}?{WRITER}"
    if kind == "chdb":
        return f"chdb://{place / 'chdb'}"
    if kind == "clickhouse":
        base = os.environ["PYMETRIX_CLICKHOUSE_URL"].split("?", 1)[0]
        return f"{base}?{WRITER}"
    assert postgres is not None
    return f"{postgres}?{WRITER}"


@contextmanager
def postgres_database(kinds: list[str]) -> Iterator[str | None]:
    if "postgresql" not in kinds:
        yield None
        return
    from tests.pgcluster import benchmark_database

    with benchmark_database() as url:
        yield url


def run(kind: str, url: str, hosts: int, seconds: float) -> dict[str, float]:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    start_at = time.time() + 3.0  # every host started and connected by then
    procs = [context.Process(target=host, args=(url, seconds, start_at, out)) for _ in range(hosts)]
    for proc in procs:
        proc.start()
    reads: list[float] = []
    # Opened once the hosts have created the database: a read-only store creates nothing.
    reader: Metrics | None = None
    results: list[tuple[int, float, list[float], int]] = []
    try:
        while len(results) < hosts:
            if reader is None and kind not in ("memory", "chdb") and time.time() >= start_at + 0.5:
                reader = Metrics(APP, store=url, read_only=True)
            if reader is not None:
                now = datetime.now(timezone.utc)
                began = time.perf_counter()
                reader.aggregate(stats=True, since=now - timedelta(hours=1))
                reader.series(since=now - timedelta(hours=1))
                reads.append(time.perf_counter() - began)
            while not out.empty():
                results.append(out.get())
            time.sleep(0.2)
        stored = sum(r[0] for r in results)
        if kind not in ("memory", "chdb"):
            with Metrics(APP, store=url, read_only=True) as counted:
                stored = sum(row["hits"] for row in counted.aggregate())
    finally:
        if reader is not None:
            reader.close()
        for proc in procs:
            proc.join()
    done = max(r[1] for r in results)
    lags = [lag for r in results for lag in r[2]] or [0.0]
    reads.sort()
    return {
        "hits/s": stored / (done - start_at),
        "stored": stored,
        "dropped": sum(r[3] for r in results),
        "lag median": statistics.median(lags),
        "lag max": max(lags),
        "read median": 1000 * statistics.median(reads) if reads else float("nan"),
        "read p95": 1000 * reads[int(0.95 * (len(reads) - 1))] if reads else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=8.0)
    default = ["memory", "sqlite", "postgresql", "chdb"]
    if os.environ.get("PYMETRIX_CLICKHOUSE_URL"):
        default.append("clickhouse")
    parser.add_argument("--stores", default=",".join(default))
    args = parser.parse_args()
    kinds = [k for k in args.stores.split(",") if k]
    counts = [int(n) for n in args.hosts.split(",")]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(
        f"each host: one process recording on 100 nodes for {args.seconds:g} s, overflow=block; "
        "reads: aggregate(stats=True) + series() over the last hour, every 0.2 s"
    )
    print(
        f"  {'store':<11} {'hosts':>5} {'hits/s':>10} {'stored':>10} {'dropped':>7} "
        f"{'lag med s':>9} {'lag max s':>9} {'read med ms':>11} {'read p95 ms':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp, postgres_database(kinds) as postgres:
        for kind in kinds:
            for n in counts:
                if kind == "chdb" and n > 1:
                    continue  # one process per chDB directory
                place = Path(tmp) / f"{kind}-{n}"
                place.mkdir()
                url = url_of(kind, place, postgres)
                if kind == "postgresql":
                    url = _fresh_postgres(url, f"scale_{n}")
                r = run(kind, url, n, args.seconds)
                print(
                    f"  {kind:<11} {n:>5} {r['hits/s']:>10,.0f} {r['stored']:>10,.0f} "
                    f"{r['dropped']:>7,.0f} {r['lag median']:>9.2f} {r['lag max']:>9.2f} "
                    f"{r['read median']:>11.1f} {r['read p95']:>11.1f}",
                    flush=True,
                )


def _fresh_postgres(url: str, name: str) -> str:
    """``url`` pointing at a new database ``name`` beside its own."""
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(parts._replace(query="").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parts._replace(path=f"/{name}").geturl()


if __name__ == "__main__":
    main()
