"""A separate process that records hits, for the multi-process tests.

Usage: ``python -m tests.store._worker URL APP COUNT NODES [flush-and-hang | spread]``.
Records ``COUNT`` hits cycling over ``NODES`` nodes (node ``k`` gets caller ``k-1``),
then closes the store and exits; with ``flush-and-hang`` it flushes, prints ``flushed``
and waits to be killed; with ``spread`` the hits' times are spread over three days from
2024-01-01, each with a duration, in small batches.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime

from pymetrix import ManualClock, Metrics


def main(argv: list[str]) -> int:
    url, app, count, nodes = argv[0], argv[1], int(argv[2]), int(argv[3])
    hang = argv[4:] == ["flush-and-hang"]
    spread = argv[4:] == ["spread"]
    clock = ManualClock(datetime(2024, 1, 1), step=3 * 86400 / count) if spread else None
    if spread:
        url += ("&" if "?" in url else "?") + "batch_size=500"
    metrics = Metrics(app, store=url, clock=clock)
    names = [f"node-{k}" for k in range(nodes)]
    callers = [None, *names[:-1]]
    hit = metrics.hit
    for i in range(count):
        k = i % nodes
        if spread:
            hit(names[k], callers[k], duration=(i % 97 + 1) / 1000)
        else:
            hit(names[k], callers[k])
    if hang:
        if not metrics.flush(timeout=60):
            print("flush timed out", flush=True)
            return 1
        print("flushed", flush=True)
        threading.Event().wait()
    metrics.close()
    print(f"dropped={metrics.dropped}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
