"""Recording and export costs of the core, against prometheus_client and plain Python.

Run: ``make bench`` (or ``python benchmarks/bench_core.py [--quick]``). Each figure is the
best of several rounds, measured in this run; compare the ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
import tracemalloc
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter

from pymetrix import Metrics

NODES = [f"/node/{i}" for i in range(100)]


def best_ns_per_op(run: Callable[[int], None], ops: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter_ns()
        run(ops)
        best = min(best, (time.perf_counter_ns() - start) / ops)
    return best


def threaded(body: Callable[[int], None], threads: int) -> Callable[[int], None]:
    """``body(n)`` in ``threads`` threads at once; ops counts the hits of all of them."""

    def run(ops: int) -> None:
        per = ops // threads
        barrier = threading.Barrier(threads)

        def work() -> None:
            barrier.wait()
            body(per)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return run


def pymetrix_hits(metrics: Metrics) -> Callable[[int], None]:
    hit = metrics.hit
    nodes = NODES

    def run(ops: int) -> None:
        for i in range(ops):
            hit(nodes[i % 100])

    return run


def prometheus_incs() -> Callable[[int], None]:
    counter = Counter("hits", "hits", ["id"], registry=CollectorRegistry())
    nodes = NODES

    def run(ops: int) -> None:
        for i in range(ops):
            counter.labels(nodes[i % 100]).inc()

    return run


def plain_floor() -> Callable[[int], None]:
    counts: dict[str, int] = {}
    times: list[int] = []
    lock = threading.Lock()
    now = time.time_ns
    nodes = NODES

    def run(ops: int) -> None:
        for i in range(ops):
            key = nodes[i % 100]
            t = now()
            with lock:
                counts[key] = counts.get(key, 0) + 1
                times.append(t)

    return run


def loop_only() -> Callable[[int], None]:
    nodes = NODES

    def run(ops: int) -> None:
        for i in range(ops):
            nodes[i % 100]

    return run


def repeat(call: Callable[[], object]) -> Callable[[int], None]:
    def run(ops: int) -> None:
        for _ in range(ops):
            call()

    return run


def track_overhead(rounds: int, ops: int) -> tuple[float, float]:
    metrics = Metrics("bench")

    def bare() -> int:
        return 1

    tracked = metrics.track("tracked")(bare)

    def run_bare(n: int) -> None:
        for _ in range(n):
            bare()

    def run_tracked(n: int) -> None:
        for _ in range(n):
            tracked()

    return best_ns_per_op(run_bare, ops, rounds), best_ns_per_op(run_tracked, ops, rounds)


def bytes_per_hit(hits: int) -> float:
    nodes = NODES
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    metrics = Metrics("bench")
    for i in range(hits):
        metrics.hit(nodes[i % 100], caller=nodes[(i + 1) % 100])
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert metrics.aggregate()[0]["hits"] == hits // 100
    return (after - before) / hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer hits, for a smoke run")
    args = parser.parse_args()
    ops = 100_000 if args.quick else 400_000
    rounds = 3 if args.quick else 5
    big = 100_000 if args.quick else 1_000_000

    # Rounds interleave the candidates, so that a burst of load from elsewhere on the
    # machine hits all of them alike; each keeps its best round.
    runs: dict[str, Callable[[int], None]] = {"loop": loop_only()}
    for threads in (1, 4):
        label = "1 thread" if threads == 1 else f"{threads} threads"
        candidates = {
            "pymetrix hit()": pymetrix_hits(Metrics("bench", max_events=ops * rounds + 1)),
            "prometheus_client labels(id).inc()": prometheus_incs(),
            "plain Python floor (dict += 1, append time_ns under a lock)": plain_floor(),
        }
        for name, body in candidates.items():
            runs[f"{name} [{label}]"] = body if threads == 1 else threaded(body, threads)
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], best_ns_per_op(run, ops, 1))
    loop = best.pop("loop")
    results = {name: value - loop for name, value in best.items()}

    print(f"Per-hit cost, ns (best of {rounds} rounds of {ops:,} hits on 100 ids; loop excluded)")
    for name, value in results.items():
        print(f"  {name:<75} {value:8.0f}")
    for label in ("1 thread", "4 threads"):
        ours = results[f"pymetrix hit() [{label}]"]
        prom = results[f"prometheus_client labels(id).inc() [{label}]"]
        floor = results[f"plain Python floor (dict += 1, append time_ns under a lock) [{label}]"]
        print(f"  {label}: hit() / prometheus labels().inc() = {ours / prom:.2f}x (target <= 0.5)")
        print(f"  {label}: hit() / plain floor = {ours / floor:.2f}x (target <= 2)")

    bare, tracked = track_overhead(rounds, ops // 2)
    print(f"track: bare call {bare:.0f} ns, tracked call {tracked:.0f} ns")
    print(f"  overhead {tracked - bare:.0f} ns per call ({tracked / bare:.1f}x the bare call)")

    metrics = Metrics("bench")
    hit = metrics.hit
    for i in range(big):
        hit(NODES[i % 100], caller=NODES[(i + 7) % 100])
    agg = best_ns_per_op(repeat(metrics.aggregate), 100, rounds)
    ts_seconds = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        series = metrics.time_series()
        ts_seconds = min(ts_seconds, time.perf_counter() - start)
        assert sum(len(node["callers"]) for node in series["nodes"]) == big
        del series
    small = Metrics("bench")
    for i in range(1000):
        small.hit(NODES[i % 100])
    agg_small = best_ns_per_op(repeat(small.aggregate), 100, rounds)
    print(f"After {big:,} hits over 100 nodes:")
    print(
        f"  aggregate(): {agg / 1e6:.3f} ms (target < 1 ms; after 1,000 hits: "
        f"{agg_small / 1e6:.3f} ms, ratio {agg / agg_small:.2f})"
    )
    print(f"  time_series(): {ts_seconds:.2f} s, best of 3 (target < 0.5 s)")
    per_hit = bytes_per_hit(big)
    print(f"Memory per retained hit: {per_hit:.1f} bytes (target <= 16)")


if __name__ == "__main__":
    main()
