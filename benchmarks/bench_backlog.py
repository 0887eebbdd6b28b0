"""What a crash without ``flush()`` can lose: the writer's backlog under load, per store.

A process killed with ``kill -9`` loses the hits it had queued and not yet stored:
``metrics.backlog().queued`` at that moment. This script records at a steady rate, and
then as fast as one thread can, into SQLite and PostgreSQL, sampling the backlog every
10 ms, and prints the largest queue and the oldest queued hit's age seen, beside the
bound the docs state (rate x flush_interval plus one batch's write), and what a
``max_buffer`` turned away (``overflow=drop``) or made recording wait for
(``overflow=block``).

PostgreSQL: a throwaway cluster (fsync on) is started from the machine's binaries,
unless ``PYMETRIX_BENCH_POSTGRES_URL`` names a database to use.

    python benchmarks/bench_backlog.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pgcluster import benchmark_database as postgres  # noqa: E402

from pymetrix import Metrics  # noqa: E402

NODES = [f"/api/endpoint-{k}" for k in range(20)]


class Sampler:
    """Samples ``metrics.backlog()`` every 10 ms on a thread; keeps the largest."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.queued = 0
        self.age = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            backlog = self._metrics.backlog()
            self.queued = max(self.queued, backlog.queued)
            self.age = max(self.age, backlog.oldest_age)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run(url: str, seconds: float, rate: float | None) -> dict[str, float]:
    """Record for ``seconds`` at ``rate`` hits/s (None: flat out); the backlog seen."""
    with Metrics("bench", store=url) as metrics:
        sampler = Sampler(metrics)
        hit = metrics.hit
        start = time.perf_counter()
        recorded = 0
        if rate is None:
            while time.perf_counter() - start < seconds:
                for k in range(1000):
                    hit(NODES[k % 20])
                recorded += 1000
        else:
            # In steps of 10 ms, as requests arrive: steady, not in one burst.
            step = max(1, round(rate / 100))
            while (elapsed := time.perf_counter() - start) < seconds:
                due = int(elapsed * rate) - recorded
                for k in range(min(due, step * 4)):
                    hit(NODES[k % 20])
                recorded += min(due, step * 4) if due > 0 else 0
                time.sleep(0.002)
        elapsed = time.perf_counter() - start
        flushed = time.perf_counter()
        assert metrics.flush(600)
        drain = time.perf_counter() - flushed
        sampler.stop()
        return {
            "recorded/s": recorded / elapsed,
            "max queued": sampler.queued,
            "max age s": sampler.age,
            "dropped": metrics.dropped,
            "drain s": drain,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    # Past max_buffer the writer logs what it drops: the table says it already.
    logging.getLogger("pymetrix").setLevel(logging.CRITICAL)
    print(f"{'store / load':<56}{'hits/s':>10}{'max queued':>12}{'max age':>9}"
          f"{'dropped':>10}  bound")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as tmp, postgres() as pg:
        for name, base in (("sqlite", f"sqlite:///{tmp}/b.db"), ("postgresql", pg)):
            glue = "&" if "?" in base else "?"
            loads: list[tuple[str, str, float | None]] = [
                ("10,000 hits/s, defaults", base, 10_000.0),
                ("flat out, defaults", base, None),
                ("flat out, max_buffer=100000", f"{base}{glue}max_buffer=100000", None),
                (
                    "flat out, max_buffer=100000, overflow=block",
                    f"{base}{glue}max_buffer=100000&overflow=block",
                    None,
                ),
            ]
            for label, url, rate in loads:
                got = run(url, args.seconds, rate)
                # The docs' bound: a flush interval of hits, plus those recorded while a
                # batch is written, capped by max_buffer.
                bound = f"{rate * 0.5 * 2:,.0f}" if rate else "max_buffer"
                print(
                    f"{name + ': ' + label:<56}{got['recorded/s']:>10,.0f}"
                    f"{got['max queued']:>12,.0f}{got['max age s']:>8.2f}s"
                    f"{got['dropped']:>10,.0f}  {bound}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
