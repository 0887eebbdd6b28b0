"""What the fault tests share: a recording child process and the audit of a store.

Each hit a child records carries a unique tag (see ``_child.py``), so reading the store
back tells exactly which recorded hits are there, which are there twice, and whether
anything is there that no child recorded.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pymetrix import Metrics
from pymetrix.store import Query

from ._child import tag_of

ROOT = Path(__file__).resolve().parents[2]
APP = "Faults"


@dataclass(frozen=True)
class Report:
    """A child's account of itself: ``recorded N pending P dropped D [flushed B]``."""

    recorded: int
    pending: int
    dropped: int
    flushed: bool | None = None

    @classmethod
    def parse(cls, line: str) -> Report:
        words = line.split()
        assert words[0:5:2] == ["recorded", "pending", "dropped"], line
        flushed = None
        if len(words) == 8:
            assert words[6] == "flushed", line
            flushed = words[7] == "True"
        return cls(int(words[1]), int(words[3]), int(words[5]), flushed)


class Child:
    """A running ``_child`` process: send it commands, read its lines with a timeout."""

    def __init__(self, args: Sequence[str], stderr: Path, prefix: Sequence[str] = ()) -> None:
        self.stderr_path = stderr
        self._stderr = stderr.open("w")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "tests.faults._child", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, name="child-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def line(self, timeout: float = 60) -> str:
        """The child's next line of output; fails if it ends or is silent too long."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the child said nothing for {timeout} s; stderr: {self.stderr()}")
        if line is None:
            pytest.fail(f"the child ended (status {self.proc.wait()}); stderr: {self.stderr()}")
        return line

    def expect(self, *words: str, timeout: float = 60) -> list[str]:
        """The next line, which must start with ``words``; its remaining words."""
        line = self.line(timeout).split()
        assert line[: len(words)] == list(words), line
        return line[len(words) :]

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def report(self) -> Report:
        """What the child has recorded so far, and what its writer holds."""
        self.send("report")
        return Report.parse(self.line())

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        """Wait until the child has logged ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(f"the child did not log {text!r}; stderr: {self.stderr()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 90) -> Report:
        """Ask the child to flush and close; its final report."""
        self.send("stop")
        report = Report.parse(self.line(timeout))
        assert self.proc.wait(timeout) == 0, self.stderr()
        return report

    def killed(self, timeout: float = 60) -> Report:
        """The report a child printed before it sent itself SIGKILL."""
        report = Report.parse(self.line(timeout))
        assert self.proc.wait(timeout) == -9, self.stderr()
        return report

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


class Spawn:
    """Starts children recording into one store; kills any left running afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self.children: list[Child] = []

    def __call__(self, url: str, first: int, *options: str, prefix: Sequence[str] = ()) -> Child:
        stderr = self._tmp_path / f"child-{len(self.children)}.stderr"
        child = Child([url, APP, str(first), *options], stderr, prefix)
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            child.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    started = Spawn(tmp_path)
    yield started
    started.close()


@dataclass(frozen=True)
class Audit:
    """The tagged hits a store holds, and its per-node counts."""

    tags: Counter[int]
    counted: int

    @property
    def stored(self) -> int:
        return sum(self.tags.values())

    @property
    def duplicated(self) -> int:
        """Stored hits beyond the first of each tag: hits written twice."""
        return sum(n - 1 for n in self.tags.values() if n > 1)

    def within(self, recorded: range) -> int:
        """Distinct tags stored out of ``recorded``."""
        return sum(1 for tag in self.tags if tag in recorded)

    def foreign(self, recorded: Iterable[range]) -> list[int]:
        """Stored tags that no child recorded."""
        ranges = list(recorded)
        return sorted(tag for tag in self.tags if not any(tag in r for r in ranges))

    def missing(self, recorded: range) -> list[int]:
        return [tag for tag in recorded if tag not in self.tags]

    def __repr__(self) -> str:
        return f"Audit(stored={self.stored}, duplicated={self.duplicated}, counted={self.counted})"


def assert_sqlite_intact(url: str) -> None:
    """The SQLite file of ``url`` passes SQLite's own integrity check."""
    path = url.removeprefix("sqlite:///").split("?")[0]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def audit(url: str) -> Audit:
    """Read every hit of the children's app back from the store at ``url``."""
    with Metrics(APP, store=url) as metrics:
        snapshot = metrics.store.snapshot(Query())
    durations = snapshot.hits.durations
    assert not any(d != d for d in durations), "a stored hit lost its tag"
    return Audit(Counter(map(tag_of, durations)), sum(node.hits for node in snapshot.nodes))
