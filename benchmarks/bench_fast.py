"""The numpy fast paths against the pure-Python ones: rollups of a batch, grouped quantiles.

Prints, each figure the median of several runs:

- ``roll_indexed`` of a 50,000-hit batch (the stores' default ``batch_size``) in minute
  buckets, hits/s, pure Python against numpy, for a batch as dense as 10 million hits
  over 30 days (it spans 3.6 hours) and one of 10 s of live traffic; columns as the SQL
  writer passes them (times and keys lists, durations and statuses arrays);
- the same per batch size, to place the crossover (``NUMPY_MIN_HITS``);
- quantiles p50/p95/p99 of 3,000 encoded sketches of ~110 buckets merged into 100
  groups (30 day rows of 100 nodes): merging decoded sketches as reads did, the
  pure-Python ``grouped_quantiles_py`` and numpy's (dense table, and sorting);
- the same per number of sketches, to place ``grouped_quantiles``' crossover.

Hits as ``bench_rollups.py`` makes them: 100 nodes by a Zipf law, 30% without caller,
90% timed (log-normal, median 20 ms), status 500 on 1%.

    python benchmarks/bench_fast.py
"""

from __future__ import annotations

import math
import random
import statistics
import time
from array import array
from collections.abc import Callable
from functools import partial
from typing import Any

from pymetrix.store._rollup import MINUTE, roll_indexed_py
from pymetrix.store._rollup_np import grouped_quantiles_np, roll_indexed_np
from pymetrix.store._sketch import ZERO, Sketch, decode, encode, grouped_quantiles_py

SECOND = 1_000_000_000
BATCH = 50_000
NODES = 100
QS = (0.50, 0.95, 0.99)
Columns = tuple[list[int], list[int], "array[float]", "array[int]"]


def batch(count: int, step: int, seed: int = 1) -> Columns:
    rng = random.Random(seed)
    nodes = rng.choices(range(NODES), [1 / (k + 1) for k in range(NODES)], k=count)
    keys = [
        node if rng.random() < 0.3 else ((node + rng.choice((1, 7, 31))) % NODES + 1) << 32 | node
        for node in nodes
    ]
    durations = array(
        "d",
        [
            min(2.0, max(1e-4, rng.lognormvariate(math.log(0.02), 1.2)))
            if rng.random() < 0.9
            else math.nan
            for _ in range(count)
        ],
    )
    statuses = array("H", [500 if rng.random() < 0.01 else 200 for _ in range(count)])
    start = 1_704_067_200 * SECOND
    return list(range(start, start + count * step, step)), keys, durations, statuses


def seconds(*calls: Callable[[], object], rounds: int) -> list[float]:
    """The median time of each call, run in turns (so that noise hits all alike)."""
    spent: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, times in zip(calls, spent):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in spent]


SHAPES = {
    "dense (3.6 h)": 30 * 86_400 * SECOND // 10_000_000,
    "live (10 s)": 10 * SECOND // BATCH,
}


def rollups() -> None:
    print(f"roll_indexed of {BATCH:,} hits in minute buckets, hits/s, median of 7")
    print(f"  {'batch':<15} {'buckets':>7} {'python':>11} {'numpy':>11} {'speed-up':>9}")
    for shape, step in SHAPES.items():
        columns = batch(BATCH, step)
        python, fast = seconds(
            partial(roll_indexed_py, *columns, MINUTE),
            partial(roll_indexed_np, *columns, MINUTE),
            rounds=7,
        )
        rolled = roll_indexed_np(*columns, MINUTE)
        assert rolled == roll_indexed_py(*columns, MINUTE)
        buckets = len({bucket for bucket, _ in rolled.nodes})
        print(
            f"  {shape:<15} {buckets:>7} {BATCH / python:>11,.0f} {BATCH / fast:>11,.0f}"
            f" {python / fast:>8.1f}x"
        )
    print("crossover: µs per call by batch size")
    print(f"  {'batch':<15} {'hits':>7} {'python':>11} {'numpy':>11} {'speed-up':>9}")
    for shape, step in SHAPES.items():
        for count in (32, 64, 128, 256, 512, 1024, 4096):
            columns = batch(count, step)
            python, fast = seconds(
                partial(roll_indexed_py, *columns, MINUTE),
                partial(roll_indexed_np, *columns, MINUTE),
                rounds=51,
            )
            print(
                f"  {shape:<15} {count:>7} {python * 1e6:>11,.0f} {fast * 1e6:>11,.0f}"
                f" {python / fast:>8.1f}x"
            )


def sketches(count: int, seed: int = 2) -> list[bytes]:
    """Day rows' sketches: ~110 adjacent buckets around a node's median, some below 1 µs."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        centre = rng.randrange(-250, -100)
        bins = {centre + j: rng.randrange(1, 10_000) for j in range(-55, 55) if rng.random() < 0.97}
        if rng.random() < 0.1:
            bins[ZERO] = rng.randrange(1, 100)
        out.append(encode(Sketch(bins)))
    return out


def merged_quantiles(blobs: list[bytes], groups: list[int], ngroups: int) -> list[Any]:
    """Decoding and merging into one Sketch per group, then its quantiles."""
    merged = [Sketch() for _ in range(ngroups)]
    for blob, group in zip(blobs, groups):
        merged[group].merge(decode(blob))
    return [sketch.quantiles(QS) for sketch in merged]


def quantiles() -> None:
    blobs = sketches(3_000)
    groups = [k % NODES for k in range(len(blobs))]
    pairs = sum(len(blob) // 12 for blob in blobs)
    print(f"quantiles of {len(blobs):,} sketches ({pairs:,} buckets) in {NODES} groups, ms")
    expected = merged_quantiles(blobs, groups, NODES)
    ways: dict[str, Callable[[], object]] = {
        "decode + Sketch.merge + quantiles": partial(merged_quantiles, blobs, groups, NODES),
        "grouped_quantiles_py": partial(grouped_quantiles_py, blobs, groups, NODES, QS),
        "grouped_quantiles_np (auto: dense)": partial(
            grouped_quantiles_np, blobs, groups, NODES, QS
        ),
        "grouped_quantiles_np (sort)": partial(
            grouped_quantiles_np, blobs, groups, NODES, QS, method="sort"
        ),
    }
    for name, call in ways.items():
        assert call() == expected, name
    for name, spent in zip(ways, seconds(*ways.values(), rounds=9)):
        print(f"  {name:<36} {spent * 1e3:>8.1f}")
    print("crossover: µs per call by number of sketches (one group per 30)")
    print(f"  {'sketches':>8} {'python':>9} {'numpy':>9}")
    for count in (1, 2, 4, 8, 16, 64):
        part = blobs[:count]
        part_groups = [k // 30 for k in range(count)]
        ngroups = part_groups[-1] + 1
        python, fast = seconds(
            partial(grouped_quantiles_py, part, part_groups, ngroups, QS),
            partial(grouped_quantiles_np, part, part_groups, ngroups, QS),
            rounds=51,
        )
        print(f"  {count:>8} {python * 1e6:>9,.0f} {fast * 1e6:>9,.0f}")


if __name__ == "__main__":
    rollups()
    quantiles()
