"""Persistent stores across processes: one truth, nothing lost, nothing counted twice."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pymetrix import Metrics
from pymetrix._timefmt import MIN_NS
from pymetrix.store import Query
from pymetrix.store._rollup import TIERS

from .conftest import MakeMetrics

ROOT = Path(__file__).resolve().parents[2]


Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Starts worker processes; any still running after the test is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store._worker", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def test_four_processes_write_one_exact_truth(
    persistent_url: str, make_metrics: MakeMetrics, spawn: Spawn
) -> None:
    procs = [spawn(persistent_url, "Test", "50000", "10") for _ in range(4)]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    assert [out.strip() for out in outputs] == ["dropped=0"] * 4

    metrics = make_metrics(store=persistent_url)
    rows = metrics.aggregate()
    assert sum(row["hits"] for row in rows) == 200_000
    assert {row["id"]: row["hits"] for row in rows} == {f"node-{k}": 20_000 for k in range(10)}
    edges = {(edge["caller"], edge["id"]): edge["hits"] for edge in metrics.flow()}
    assert edges[(None, "node-0")] == 20_000
    assert edges[("node-3", "node-4")] == 20_000
    hits = metrics.store.snapshot(Query()).hits
    assert len(hits) == 200_000
    assert list(hits.times) == sorted(hits.times)
    # The rollups the four writers upserted add up exactly too: every tier, every read.
    assert metrics.aggregate(since="1970-01-02") == rows
    windowed_edges = {(e["caller"], e["id"]): e["hits"] for e in metrics.flow(since="1970-01-02")}
    assert windowed_edges == edges
    stats = metrics.aggregate(stats=True, since="1970-01-02")
    assert {row["id"]: row["hits"] for row in stats} == {f"node-{k}": 20_000 for k in range(10)}
    first = datetime.fromtimestamp(hits.times[0] / 1e9, timezone.utc)
    last = datetime.fromtimestamp(hits.times[-1] / 1e9, timezone.utc)
    for step in ("1s", "1m", "1h", "1d"):
        series = metrics.series(step=step, since=first, until=last + timedelta(seconds=1))
        assert {node["id"]: node["total"] for node in series["nodes"]} == {
            f"node-{k}": 20_000 for k in range(10)
        }
    assert_tiers_hold(metrics, hits.times)


def assert_tiers_hold(metrics: Metrics, times: Sequence[int]) -> None:
    """Each tier holds exactly the hits of the buckets it has made."""
    horizons = metrics.store.horizons()
    for size in TIERS:
        until = horizons.until_of(size)
        rollups = metrics.store.rollups(size, MIN_NS, until, None)
        made = bisect_left(times, until)
        assert sum(row.hits for row in rollups.nodes.values()) == made, size
        assert sum(edge.hits for edge in rollups.edges.values()) == made, size


def test_four_processes_over_days_keep_every_tier_exact(
    persistent_url: str, make_metrics: MakeMetrics, spawn: Spawn
) -> None:
    # Four writers cover the same three days at once, in batches of 500: each makes the
    # coarser tiers' buckets as they close while the others still write into them.
    procs = [spawn(persistent_url, "Test", "20000", "10", "spread") for _ in range(4)]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    metrics = make_metrics(store=persistent_url)
    hits = metrics.store.snapshot(Query()).hits
    assert len(hits) == 80_000
    horizons = metrics.store.horizons()
    # Every tier made most of the three days by itself.
    assert all(horizons.until_of(size) >= hits.times[-1] - 86_400 * 10**9 for size in TIERS)
    assert_tiers_hold(metrics, hits.times)
    with Metrics("Test") as expected:  # the same hits in memory: the answers to give
        names = hits.names
        for k, at in enumerate(hits.times):
            caller = hits.callers[k]
            expected.store.append(
                at,
                names[hits.nodes[k]],
                None if caller < 0 else names[caller],
                hits.durations[k],
                None,
            )
        for step in ("5m", "1h", "6h", "1d"):
            assert metrics.series(
                step=step, since="2024-01-01", until="2024-01-05"
            ) == expected.series(step=step, since="2024-01-01", until="2024-01-05"), step
        assert metrics.aggregate(stats=True, since="2024-01-01") == expected.aggregate(
            stats=True, since="2024-01-01"
        )
        assert metrics.flow(since="2024-01-01 05:17") == expected.flow(since="2024-01-01 05:17")


def test_kill_9_after_flush_loses_nothing(
    persistent_url: str, make_metrics: MakeMetrics, spawn: Spawn
) -> None:
    proc = spawn(persistent_url, "Test", "5000", "3", "flush-and-hang")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "flushed"
    proc.kill()
    proc.communicate(timeout=30)

    metrics = make_metrics(store=persistent_url)
    assert sum(row["hits"] for row in metrics.aggregate()) == 5000


def test_live_stream_sees_hits_of_another_process_each_once(
    persistent_url: str, make_metrics: MakeMetrics, spawn: Spawn
) -> None:
    metrics = make_metrics(store=persistent_url)
    metrics.hit("node-0")
    with metrics.stream("time_series", duration=60) as stream:
        proc = spawn(persistent_url, "Test", "300", "3")
        got = [next(stream) for _ in range(300)]
        finish(proc)
    totals: dict[str, list[int]] = defaultdict(list)
    for node in got:
        totals[node["id"]].append(node["hits"])
    # node-0 had one hit before the stream opened: its totals continue from 1.
    assert totals == {
        "node-0": list(range(2, 102)),
        "node-1": list(range(1, 101)),
        "node-2": list(range(1, 101)),
    }
    assert all(node["callers"][0]["caller"] == "node-0" for node in got if node["id"] == "node-1")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads, 3.12+
def test_forked_child_writes_its_own_hits_and_none_twice(
    persistent_url: str, make_metrics: MakeMetrics
) -> None:
    metrics = make_metrics(store=persistent_url)
    for _ in range(100):
        metrics.hit("parent")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child leaves through os._exit
        code = 1
        try:
            for _ in range(50):
                metrics.hit("child")
            code = 0 if metrics.flush(timeout=30) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for _ in range(10):
        metrics.hit("parent")
    assert {row["id"]: row["hits"] for row in metrics.aggregate()} == {
        "parent": 110,
        "child": 50,
    }


def test_two_handles_on_one_app_read_each_others_hits(
    persistent_url: str, make_metrics: MakeMetrics
) -> None:
    first = make_metrics(store=persistent_url)
    second = make_metrics(store=persistent_url)
    first.hit("Home")
    second.hit("Home")
    second.hit("Blog", caller="Home")
    assert first.flush(timeout=10)
    assert second.flush(timeout=10)
    for metrics in (first, second):
        assert metrics.aggregate() == [{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 1}]


def test_hits_survive_reopening(persistent_url: str) -> None:
    with Metrics("Test", store=persistent_url) as metrics:
        metrics.hit("Home")
        metrics.hit("Home")
    with Metrics("Test", store=persistent_url) as metrics:
        metrics.hit("Home")
        assert metrics.aggregate() == [{"id": "Home", "hits": 3}]
        assert len(metrics.time_series()["nodes"][0]["callers"]) == 3


def _record_without_flush(url: str) -> None:
    metrics = Metrics("Test", store=url)
    for _ in range(300):
        metrics.hit("child")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads, 3.12+
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_multiprocessing_child_writes_its_hits_when_it_ends(
    tmp_path: Path, start_method: str
) -> None:
    url = f"sqlite:///{tmp_path}/pymetrix.db?flush_interval=60"
    context: Any = multiprocessing.get_context(start_method)
    child = context.Process(target=_record_without_flush, args=(url,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    with Metrics("Test", store=url) as metrics:
        assert metrics.aggregate() == [{"id": "child", "hits": 300}]
