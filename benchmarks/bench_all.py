"""Every performance target in one run, printed as one table.

Each row is one figure measured in this run, its target, whether it meets it, and its
spread over the rounds (ratios are taken against a peer or floor measured in the same
round, so that load from elsewhere on the machine hits both alike). The other scripts
here do the measuring; this one drives them and checks the figures.

    make bench-all                                   # about 12 minutes
    python benchmarks/bench_all.py --quick           # about 5 minutes
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Measure this checkout, in this process and in every child the benchmarks start.
sys.path.insert(0, str(ROOT / "src"))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
)

import bench_core  # noqa: E402
import bench_http  # noqa: E402
import bench_storage  # noqa: E402
import orjson  # noqa: E402
from tests.pgcluster import benchmark_database  # noqa: E402

from pymetrix import Metrics  # noqa: E402


@dataclass
class Row:
    """One figure: ``value`` in ``unit``, its target ``op bound`` (None: for reference)."""

    figure: str
    value: float
    unit: str
    op: str | None = None
    bound: float = 0.0
    rounds: list[float] | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.op is None:
            return "ref"
        ok = self.value <= self.bound if self.op in ("<=", "<") else self.value >= self.bound
        return "pass" if ok else "short"

    def cells(self) -> list[str]:
        target = "-" if self.op is None else f"{self.op} {number(self.bound, self.unit)}"
        ratio = "-" if self.op is None or not self.bound else f"{self.value / self.bound:.2f}"
        spread = "-"
        if self.rounds:
            low, high = min(self.rounds), max(self.rounds)
            spread = f"{number(low, self.unit)}..{number(high, self.unit)}"
        return [
            self.figure,
            number(self.value, self.unit),
            target,
            ratio,
            self.verdict,
            spread + (f" {self.note}" if self.note else ""),
        ]


def number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit in ("us", "ms", "B"):
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def table(rows: list[Row]) -> str:
    header = ["figure", "value", "target", "value/target", "result", "spread over rounds"]
    cells = [header, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header) - 1)]
    lines = []
    for line in cells:
        head = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1]))
        lines.append(f"{head}  {line[-1]}".rstrip())
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


@contextmanager
def section(name: str) -> Iterator[None]:
    start = time.monotonic()
    print(f"[{name} ...]", file=sys.stderr, flush=True)
    yield
    print(f"[{name}: {time.monotonic() - start:.0f}s]", file=sys.stderr, flush=True)


# -- hit() -------------------------------------------------------------------------------


def hit_rows(ops: int, rounds: int) -> list[Row]:
    runs: dict[str, Callable[[int], None]] = {
        "loop": bench_core.loop_only(),
        "ours": bench_core.pymetrix_hits(Metrics("bench", max_events=ops * rounds + 1)),
        "prometheus": bench_core.prometheus_incs(),
        "floor": bench_core.plain_floor(),
    }
    per_round: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            per_round[name].append(bench_core.best_ns_per_op(run, ops, 1))
    cost = {
        name: [v - loop for v, loop in zip(values, per_round["loop"])]
        for name, values in per_round.items()
    }
    best = {name: min(values) for name, values in cost.items()}
    vs_prom = [o / p for o, p in zip(cost["ours"], cost["prometheus"])]
    vs_floor = [o / f for o, f in zip(cost["ours"], cost["floor"])]
    return [
        Row("hit(), 1 thread: ns per hit", best["ours"], "ns", rounds=cost["ours"]),
        Row(
            "hit() / prometheus_client labels().inc()",
            best["ours"] / best["prometheus"],
            "x",
            "<=",
            0.5,
            vs_prom,
        ),
        Row(
            "hit() / plain floor (dict += 1, append under a lock)",
            best["ours"] / best["floor"],
            "x",
            "<=",
            2.0,
            vs_floor,
        ),
    ]


# -- time_series() and memory ------------------------------------------------------------


def series_rows(hits: int, rounds: int) -> list[Row]:
    nodes = bench_core.NODES
    metrics = Metrics("bench")
    hit = metrics.hit
    for i in range(hits):
        hit(nodes[i % 100], caller=nodes[(i + 7) % 100])
    # The floor: the same output from ready columns (no store, no formatting), then
    # serialised the same way.
    hits_of = metrics.time_series()
    stamps = [e["time"] for node in hits_of["nodes"] for e in node["callers"]]
    callers = [e["caller"] for node in hits_of["nodes"] for e in node["callers"]]
    of_node = [i for i, node in enumerate(hits_of["nodes"]) for _ in node["callers"]]
    heads = [(n["id"], n["hits"], n["time"]) for n in hits_of["nodes"]]
    del hits_of

    def floor() -> bytes:
        groups: list[list[dict[str, str | None]]] = [[] for _ in heads]
        for n, caller, stamp in zip(of_node, callers, stamps):
            groups[n].append({"caller": caller, "time": stamp})
        out = {
            "id": "bench",
            "nodes": [
                {"id": i, "hits": h, "time": t, "callers": g} for (i, h, t), g in zip(heads, groups)
            ],
        }
        return orjson.dumps(out)

    ours_s, ours_total, floor_total = [], [], []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        series = metrics.time_series()
        middle = time.perf_counter()
        data = orjson.dumps(series)
        end = time.perf_counter()
        ours_s.append(middle - start)
        ours_total.append(end - start)
        assert sum(len(node["callers"]) for node in series["nodes"]) == hits
        del series, data
        gc.collect()
        start = time.perf_counter()
        data = floor()
        floor_total.append(time.perf_counter() - start)
        del data
    ratios = [o / f for o, f in zip(ours_total, floor_total)]
    label = f"{hits:,}"
    return [
        Row(f"time_series() of {label} hits, memory store", min(ours_s), "s", "<", 0.5, ours_s),
        Row(
            "time_series() + orjson / floor (same dicts + orjson)",
            min(ours_total) / min(floor_total),
            "x",
            "<=",
            1.5,
            ratios,
        ),
    ]


def memory_rows(hits: int) -> list[Row]:
    rows = [Row("memory per retained hit, with caller", bench_core.bytes_per_hit(hits), "B")]
    rows[0].op, rows[0].bound = "<=", 16.0
    nodes = bench_core.NODES
    gc.collect()
    import tracemalloc

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    metrics = Metrics("bench")
    for i in range(hits):
        metrics.hit(nodes[i % 100], None, (i % 5000) / 1e4, 200)
    metrics.aggregate()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    rows.append(Row("memory per retained hit, with duration and status", used / hits, "B"))
    rows[1].op, rows[1].bound = "<=", 16.0
    return rows


# -- live stream and persistent hit() -----------------------------------------------------


def live_rows(rounds: int, tmp: str, pg_url: str | None) -> list[Row]:
    stores = {"SQLite": (f"sqlite:///{tmp}/live.db", 15.0)}
    if pg_url is not None:
        stores["PostgreSQL"] = (pg_url, 15.0)
    rows = []
    for name, (url, bound) in stores.items():
        p99s = [bench_storage.live_latency(url)[1] * 1e3 for _ in range(rounds)]
        note = "(11.9 ms before)" if name == "PostgreSQL" else "(51.0 ms before)"
        rows.append(
            Row(
                f"live stream, other process: p99, {name}",
                statistics.median(p99s),
                "ms",
                "<",
                bound,
                p99s,
                note,
            )
        )
    return rows


def persistent_hit_row(rounds: int, hits: int, tmp: str) -> Row:
    ratios = []
    walls: dict[str, float] = {}
    for _ in range(rounds):
        memory, _ = bench_storage.hit_cost("memory://", hits)
        sqlite, _ = bench_storage.hit_cost(f"sqlite:///{tmp}/hitcost.db", hits)
        ratios.append(sqlite / memory)
        walls["memory"] = min(walls.get("memory", memory), memory)
        walls["sqlite"] = min(walls.get("sqlite", sqlite), sqlite)
    return Row(
        "hit() with SQLite, writer included / memory",
        walls["sqlite"] / walls["memory"],
        "x",
        "<=",
        1.2,
        ratios,
    )


# -- HTTP ----------------------------------------------------------------------------------


def http_rows(duration: float, rounds: int, calls: int, inprocess_rounds: int) -> list[Row]:
    rows = []
    for suite in bench_http.SUITES:
        run = bench_http.run_suite(suite, duration, rounds)
        print(run.table(), file=sys.stderr)
        plain_rates = [r.requests_per_s for r in run.results["plain"]]
        rows.append(
            Row(
                f"{suite}: plain req/s under wrk",
                run.median("plain", "requests_per_s"),
                "req/s",
                rounds=plain_rates,
            )
        )
        costs = bench_http.inprocess_costs(suite, calls, inprocess_rounds)
        for variant in run.results:
            if variant == "plain":
                continue
            ours = variant.startswith("pymetrix-")
            rows.append(
                Row(
                    f"{suite} {variant}: req/s vs plain",
                    run.rate_ratio(variant),
                    "x",
                    ">=" if ours else None,
                    0.95,
                    run.rate_ratios(variant),
                )
            )
            rows.append(
                Row(
                    f"{suite} {variant}: server CPU added per request",
                    run.added_cpu(variant),
                    "us",
                    "<=" if ours else None,
                    10.0,
                    run.added_cpus(variant),
                )
            )
            if variant in costs:
                added = bench_http.added_inprocess(costs, variant)
                rows.append(
                    Row(
                        f"{suite} {variant}: CPU added per request, in-process",
                        statistics.median(added),
                        "us",
                        "<=" if ours else None,
                        10.0,
                        added,
                    )
                )
    return rows


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter loads")
    parser.add_argument("--no-http", action="store_true", help="leave out the wrk runs")
    args = parser.parse_args()
    quick = args.quick
    started = time.monotonic()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[Row] = []
    with section("hit()"):
        rows += hit_rows(100_000 if quick else 400_000, 3 if quick else 5)
    with section("time_series() and memory"):
        rows += series_rows(1_000_000, 2 if quick else 3)
        rows += memory_rows(1_000_000)
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as tmp:
        with section("live stream"), postgres_or_none() as pg_url:
            rows += live_rows(1 if quick else 3, tmp, pg_url)
        with section("hit() with SQLite"):
            rows.append(persistent_hit_row(2 if quick else 3, 100_000 if quick else 200_000, tmp))
    if args.no_http or shutil.which("wrk") is None:
        print("HTTP rows left out: --no-http, or wrk is not installed", file=sys.stderr)
    else:
        with section("HTTP"):
            rows += http_rows(2 if quick else 5, 2 if quick else 3, 1000, 7 if quick else 15)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    minutes = (time.monotonic() - started) / 60
    print(
        f"bench-all{' --quick' if quick else ''}, {now}: python {platform.python_version()}, "
        f"{os.cpu_count()} cores (shared), load average {load} at the start; "
        f"{minutes:.0f} min"
    )
    print(table(rows))
    short = [row.figure for row in rows if row.verdict == "short"]
    print(f"{len(short)} of {sum(row.op is not None for row in rows)} targets short")


@contextmanager
def postgres_or_none() -> Iterator[str | None]:
    """A throwaway PostgreSQL database, or None where no server can be started."""
    try:
        manager = benchmark_database()
        url = manager.__enter__()
    except Exception as exc:  # no binaries, no permission: the SQLite row still runs
        print(f"PostgreSQL rows left out: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield url
    finally:
        manager.__exit__(None, None, None)


if __name__ == "__main__":
    main()
