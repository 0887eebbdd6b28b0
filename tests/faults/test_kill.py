"""kill -9 of a process while its writer writes: what was flushed stays, nothing twice.

A child records tagged hits fast into a store written in small batches (the writer is
busy nearly all the time), reports how many it recorded and how many its writer
still held (``store.pending``), then sends itself SIGKILL: the figures are exact, and the
kill lands wherever the writer thread happens to be. Several trials follow each other on
one database; each trial's child opens what the last one left behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Audit, Spawn, assert_sqlite_intact, audit

TRIALS = 5
# A new range of tags for each trial, and one for the process that writes on after them.
SPAN = 10_000_000
OPTIONS = "batch_size=2000&flush_interval=0.01"
# Fast, yet leaving the writer thread its turns even on a busy machine.
RATE = 100_000


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/faults.db?{OPTIONS}"
    postgres_url: str = request.getfixturevalue("postgres_url")
    return f"{postgres_url}?{OPTIONS}"


@dataclass(frozen=True)
class Trial:
    recorded: range
    flushed: range
    pending: int


Plan = Callable[[random.Random], tuple[int | None, int]]


def run_trials(url: str, spawn: Spawn, plan: Plan) -> tuple[list[Trial], Audit, range]:
    """Kill ``TRIALS`` children, each flushing after and killed after ``plan``'s counts.

    A last child then writes on normally: returns the trials, the store's audit and the
    tags of that last child's hits.
    """
    rng = random.Random(9)
    trials = []
    for trial in range(TRIALS):
        flush_after, kill_after = plan(rng)
        first = trial * SPAN
        options = ["--rate", str(RATE), "--kill-after", str(kill_after)]
        if flush_after is not None:
            options += ["--flush-after", str(flush_after)]
        child = spawn(url, first, *options)
        if flush_after is not None:
            assert child.expect("flushed") == [str(flush_after), "True"]
        report = child.killed()
        assert (report.recorded, report.dropped) == (kill_after, 0)
        trials.append(
            Trial(
                range(first, first + kill_after),
                range(first, first + (flush_after or 0)),
                report.pending,
            )
        )
    # The database still opens, and a new process writes on and is read back exactly.
    first = TRIALS * SPAN
    child = spawn(url, first)
    child.send("flush")
    assert child.expect("flushed")[1] == "True"
    after = child.stop()
    assert (after.dropped, after.flushed) == (0, True)
    last = range(first, first + after.recorded)
    return trials, audit(url), last


def check(url: str, trials: list[Trial], found: Audit, last: range) -> None:
    figures = [
        (len(t.recorded), len(t.flushed), t.pending, found.within(t.recorded)) for t in trials
    ]
    kind = url.split(":")[0]
    print(f"{kind}: (recorded, flushed, pending at the kill, stored) per trial: {figures}")
    assert found.duplicated == 0
    assert found.foreign([t.recorded for t in trials] + [last]) == []
    assert found.counted == found.stored
    for trial in trials:
        assert found.missing(trial.flushed) == []
        lost = len(trial.recorded) - found.within(trial.recorded)
        assert 0 <= lost <= trial.pending
    assert found.missing(last) == []
    if url.startswith("sqlite:"):
        assert_sqlite_intact(url)


def test_kill_9_after_flush_keeps_every_flushed_hit_once(url: str, spawn: Spawn) -> None:
    def plan(rng: random.Random) -> tuple[int | None, int]:
        flush_after = rng.randrange(20_000, 60_000)
        return flush_after, flush_after + rng.randrange(10_000, 60_000)

    check(url, *run_trials(url, spawn, plan))


def test_kill_9_without_flush_loses_at_most_the_queue_and_nothing_twice(
    url: str, spawn: Spawn
) -> None:
    def plan(rng: random.Random) -> tuple[int | None, int]:
        return None, rng.randrange(20_000, 120_000)

    check(url, *run_trials(url, spawn, plan))
