"""A process that records tagged hits for the fault tests, and says what it recorded.

Usage: ``python -m tests.faults._child URL APP FIRST [options]``. Hit ``i`` (from 0) is
tagged ``FIRST + i``: its duration is that many microseconds, so every stored hit names
the one recorded call it came from. Between bursts of hits the process reads commands,
one a line, from stdin: ``go`` (start recording, with ``--wait``), ``flush`` (flush and
print ``flushed N True|False``), ``report`` (print a report), ``stop`` (flush, close,
print the final report and exit).

Options:
    --rate R         hits per second at most (default: as fast as it can).
    --wait           print ``opened`` once the store is open; record after ``go``.
    --flush-after N  after N hits, flush and print ``flushed N True|False``.
    --kill-after N   after N hits, print a report and send itself SIGKILL.

A report is one line: ``recorded N pending P dropped D``, ``pending`` being the hits the
writer still held (``store.pending``) at the time.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading
import time

from pymetrix import Metrics
from pymetrix.store._sql import SqlStore

NODES = 4
BURST = 100


def tag_of(duration: float) -> int:
    """The tag of a hit from its stored duration."""
    return round(duration * 1e6)


def node_of(tag: int) -> str:
    return f"node-{tag % NODES}"


def _commands() -> queue.SimpleQueue[str]:
    """Lines read from stdin on a daemon thread; ``stop`` when stdin closes."""
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line.strip())
        lines.put("stop")

    threading.Thread(target=read, name="commands", daemon=True).start()
    return lines


def _say(*words: object) -> None:
    print(*words, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests.faults._child")
    parser.add_argument("url")
    parser.add_argument("app")
    parser.add_argument("first", type=int)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--wait", action="store_true")
    parser.add_argument("--flush-after", type=int)
    parser.add_argument("--kill-after", type=int)
    args = parser.parse_args(argv)

    metrics = Metrics(args.app, store=args.url)
    store = metrics.store
    assert isinstance(store, SqlStore), store
    commands = _commands()
    if args.wait:
        _say("opened")
        while (command := commands.get()) != "go":
            if command == "stop":
                return 0
    names = [node_of(k) for k in range(NODES)]
    callers = [None, *names[:-1]]
    hit = metrics.hit
    first = args.first
    recorded = 0
    started = time.monotonic()
    while True:
        burst = BURST
        for limit in (args.flush_after, args.kill_after):
            if limit is not None and recorded < limit:
                burst = min(burst, limit - recorded)
        for tag in range(first + recorded, first + recorded + burst):
            k = tag % NODES
            hit(names[k], callers[k], tag * 1e-6)
        recorded += burst
        if recorded == args.flush_after:
            _say("flushed", recorded, metrics.flush(timeout=60))
        if recorded == args.kill_after:
            _say("recorded", recorded, "pending", store.pending, "dropped", metrics.dropped)
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = ""
        if command == "flush":
            _say("flushed", recorded, metrics.flush(timeout=60))
        elif command == "report":
            _say("recorded", recorded, "pending", store.pending, "dropped", metrics.dropped)
        elif command == "stop":
            break
        if args.rate:
            ahead = recorded / args.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    pending = store.pending
    flushed = metrics.flush(timeout=60)
    metrics.close()
    _say("recorded", recorded, "pending", pending, "dropped", metrics.dropped, "flushed", flushed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
