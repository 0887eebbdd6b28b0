"""Persistent stores measured against each other and the memory store, in one run.

Prints: sustained ingest (hits/s until durable) into SQLite and PostgreSQL from one
process and from four; ``aggregate()`` and ``time_series()`` latency with 1,000,000
stored hits; the cost of ``hit()`` on the caller's thread with each persistent store,
as a ratio to the memory store.

PostgreSQL: a throwaway cluster (fsync on) is started from the machine's binaries,
unless ``PYMETRIX_BENCH_POSTGRES_URL`` names a database to use.

    python benchmarks/bench_storage.py [--stored 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pgcluster import benchmark_database as postgres  # noqa: E402

from pymetrix import Metrics  # noqa: E402

NODES = [f"/api/endpoint-{k}" for k in range(20)]
CALLERS = [None, *NODES[:-1]]


def record(metrics: Metrics, count: int) -> None:
    hit = metrics.hit
    nodes, callers = NODES, CALLERS
    width = len(nodes)
    for i in range(count):
        k = i % width
        hit(nodes[k], callers[k])


# -- ingest ------------------------------------------------------------------------------


def ingest_worker(url: str, app: str, count: int, go: float) -> None:
    """Child process: at time ``go``, record ``count`` hits, flush, print start and end."""
    metrics = Metrics(app, store=url)
    time.sleep(max(0.0, go - time.time()))
    start = time.time()
    record(metrics, count)
    if not metrics.flush(timeout=600):
        raise SystemExit("flush timed out")
    end = time.time()
    metrics.close()
    print(start, end, metrics.dropped, flush=True)


def ingest(url: str, app: str, processes: int, per_process: int) -> float:
    """Hits per second from ``processes`` processes until everything is durable."""
    Metrics(app, store=url).close()  # schema made before the clock starts
    # Every process starts recording at one moment, once all have started up.
    go = time.time() + 1.0 + 0.5 * processes
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--ingest", url, app, str(per_process), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    spans = []
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"ingest worker failed: {out}")
        start, end, dropped = out.split()
        if int(dropped):
            raise SystemExit(f"ingest worker dropped {dropped} hits")
        spans.append((float(start), float(end)))
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    with Metrics(app, store=url) as metrics:
        total = sum(row["hits"] for row in metrics.aggregate())
    if total != processes * per_process:
        raise SystemExit(f"expected {processes * per_process} hits, found {total}")
    return total / elapsed


# -- live ------------------------------------------------------------------------------


def live_worker(url: str, app: str, bursts: int) -> None:
    """Child process: bursts of 20 hits, each flushed at once, ten bursts a second."""
    with Metrics(app, store=url) as metrics:
        for _ in range(bursts):
            record(metrics, 20)
            metrics.flush()
            time.sleep(0.1)


def live_latency(url: str, bursts: int = 50) -> tuple[float, float]:
    """p50 and p99 seconds from a hit in another process to its delivery here."""
    with Metrics("live", store=url) as metrics:
        subscription = metrics.store.subscribe()
        proc = subprocess.Popen([sys.executable, __file__, "--live", url, "live", str(bursts)])
        delays: list[float] = []
        deadline = time.monotonic() + 120
        while len(delays) < bursts * 20 and time.monotonic() < deadline:
            hits = subscription.read(1000)
            now = time.time_ns()
            delays.extend((now - hit.time_ns) / 1e9 for hit in hits)
            if not hits:
                subscription.wait(1.0)
        subscription.close()
        proc.wait(timeout=60)
    if len(delays) != bursts * 20:
        raise SystemExit(f"live stream delivered {len(delays)} of {bursts * 20} hits")
    delays.sort()
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99) - 1]


# -- reads -------------------------------------------------------------------------------


def timed(func: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- hit() cost --------------------------------------------------------------------------


def hit_cost(url: str, count: int) -> tuple[float, float]:
    """Seconds per ``hit()``: elapsed, and CPU time of the calling thread alone.

    Elapsed time includes what the writer thread takes from the caller by holding the
    GIL; the calling thread's CPU time is what ``hit()`` itself costs.
    """
    with Metrics("hitcost", store=url) as metrics:
        record(metrics, 1000)  # warm: ids admitted, writer started
        metrics.flush()
        start, cpu = time.perf_counter(), time.thread_time()
        record(metrics, count)
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    return elapsed / count, cpu / count


# -- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1_000_000, help="hits stored for reads")
    parser.add_argument("--hits", type=int, default=200_000, help="hits per hit() run")
    args = parser.parse_args()
    stored = args.stored

    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as tmp, postgres() as pg_url:
        stores = {"sqlite": f"sqlite:///{tmp}/bench.db", "postgresql": pg_url}
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load}")
        print()
        print(
            "sustained ingest, hits/s until durable (targets: sqlite 200,000, postgresql 100,000)"
        )
        for name, url in stores.items():
            one = ingest(url, "ingest-1", 1, stored)
            four = ingest(url, "ingest-4", 4, stored // 4)
            print(f"  {name:<11} 1 process {one:>10,.0f}    4 processes {four:>10,.0f}")

        print()
        print(f"read latency with {stored:,} stored hits (target: aggregate under 10 ms)")
        memory = Metrics("ingest-1")
        record(memory, stored)
        readers = {"memory": memory}
        for name, url in stores.items():
            readers[name] = Metrics("ingest-1", store=url)
        for name, metrics in readers.items():
            assert sum(row["hits"] for row in metrics.aggregate()) == stored
            aggregate = timed(metrics.aggregate, 50)
            flow = timed(metrics.flow, 50)
            series = timed(metrics.time_series, 3)
            print(
                f"  {name:<11} aggregate {aggregate * 1e3:8.2f} ms   flow {flow * 1e3:8.2f} ms"
                f"   time_series {series:6.2f} s"
            )
            metrics.close()

        print()
        print("live stream: a hit flushed in another process, until delivered (target: p99 < 1 s)")
        for name, url in stores.items():
            p50, p99 = live_latency(url)
            print(f"  {name:<11} p50 {p50 * 1e3:7.1f} ms   p99 {p99 * 1e3:7.1f} ms")

        print()
        print("hit() on the caller's thread (target: within 1.5x of memory)")
        urls = {"memory": "memory://", **stores}
        wall: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for _ in range(3):
            for name, url in urls.items():
                elapsed, own = hit_cost(url, args.hits)
                wall[name] = min(wall.get(name, elapsed), elapsed)
                cpu[name] = min(cpu.get(name, own), own)
        for name in urls:
            print(
                f"  {name:<11} caller's CPU {cpu[name] * 1e9:6.0f} ns/hit"
                f" {cpu[name] / cpu['memory']:5.2f}x memory   elapsed, writer included"
                f" {wall[name] * 1e9:6.0f} ns/hit {wall[name] / wall['memory']:5.2f}x memory"
            )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--ingest":
        ingest_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--live":
        live_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
