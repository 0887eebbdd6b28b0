"""Prometheus exposition of per-node hit counters and duration histograms.

Needs ``prometheus_client`` (``pip install 'pymetrix[prometheus]'``). ``GET /metrics`` of
the stats app serves it; :class:`PymetrixCollector` can also be registered in an
application's own registry::

    from prometheus_client import REGISTRY
    REGISTRY.register(PymetrixCollector(metrics))
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..errors import InvalidArgument, MissingDependency
from ..metrics import Metrics
from ..store._cursor import HitCursor
from ..store.base import Query

try:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("prometheus_client", "prometheus") from exc

__all__ = ["DEFAULT_BUCKETS", "Exposition", "PymetrixCollector"]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Latency buckets in seconds, from 100 µs to 10 s, 1-2.5-5 per decade: a web endpoint
answering in a fraction of a millisecond is resolved as well as one taking seconds
(prometheus_client's defaults start at 5 ms)."""


class _Durations:
    """Cumulative-ready bucket counts and the sum of one node's durations."""

    __slots__ = ("buckets", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.total = 0.0


class PymetrixCollector(Collector):
    """Collects ``pymetrix_hits_total`` and ``pymetrix_hit_duration_seconds`` per node.

    Hit counters are the store's exact counts. Histograms are accumulated from the hits
    with a duration: on the first collection every hit the store still holds, then only
    new ones, read by position, so a scrape costs what was recorded since the last.

    Args:
        metrics: the app whose hits are exposed (its id is the ``app`` label).
        buckets: histogram upper bounds in seconds, ascending (``+Inf`` is added).
    """

    def __init__(self, metrics: Metrics, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        bounds = [float(b) for b in buckets if b != float("inf")]
        if not bounds or bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise InvalidArgument("buckets", buckets, "ascending and distinct bounds in seconds")
        self._metrics = metrics
        self._bounds = bounds
        store = metrics.store
        # Read from the oldest hit held: through a resumable subscription where the store
        # has one (exact whatever order processes commit in), else by time position.
        self._subscription = store.subscribe(after=0) if store.resumable else None
        self._cursor = HitCursor(store)
        self._durations: dict[str, _Durations] = {}
        self._lock = threading.Lock()

    def _update(self) -> list[tuple[str, list[int], float]]:
        """Reads new hits into the histograms; a copy of them, taken under the lock."""
        bounds = self._bounds
        with self._lock:
            table = self._durations
            for node, duration in self._new_durations():
                entry = table.get(node)
                if entry is None:
                    entry = table[node] = _Durations(len(bounds) + 1)
                entry.buckets[bisect.bisect_left(bounds, duration)] += 1
                entry.total += duration
            return [(node, list(d.buckets), d.total) for node, d in table.items()]

    def _new_durations(self) -> Iterator[tuple[str, float]]:
        subscription = self._subscription
        if subscription is None:
            for hit in self._cursor.read():
                if hit.duration is not None:
                    yield hit.node, hit.duration
            return
        while True:
            batch = subscription.read(4096)
            if not batch:
                return
            for live in batch:
                if live.duration is not None:
                    yield live.node, live.duration

    def collect(self) -> Iterator[Any]:
        app = self._metrics.id
        # Taken first: reading the counts waits for this process's queued hits.
        backlog = self._metrics.backlog()
        hits = CounterMetricFamily(
            "pymetrix_hits", "Hits recorded per node.", labels=["app", "node"]
        )
        for count in self._metrics.store.counts(Query()):
            hits.add_metric([app, count.node], count.hits)
        yield hits

        durations = HistogramMetricFamily(
            "pymetrix_hit_duration_seconds",
            "Duration of the hits that recorded one, per node.",
            labels=["app", "node"],
        )
        for node, buckets, total in self._update():
            durations.add_metric([app, node], _cumulative(self._bounds, buckets), total)
        yield durations

        lag: list[tuple[type[Any], str, str, float]] = [
            (
                CounterMetricFamily,
                "pymetrix_dropped_hits",
                "Hits lost for good: past the buffer's bound, refused by the store, or "
                "left queued at close.",
                backlog.dropped,
            ),
            (
                CounterMetricFamily,
                "pymetrix_quarantined_hits",
                "Hits the store refused for a reason retrying cannot fix (part of dropped).",
                backlog.quarantined,
            ),
            # The writer's lag, in this process: what a crash would lose now.
            (
                GaugeMetricFamily,
                "pymetrix_queued_hits",
                "Hits recorded in this process and not yet stored.",
                backlog.queued,
            ),
            (
                GaugeMetricFamily,
                "pymetrix_queued_oldest_age_seconds",
                "How long the oldest hit not yet stored has waited (0 when none waits).",
                backlog.oldest_age,
            ),
            (
                GaugeMetricFamily,
                "pymetrix_store_failing",
                "1 while writes to the store fail and are retried, else 0.",
                int(backlog.failing),
            ),
        ]
        for family, name, documentation, value in lag:
            metric = family(name, documentation, labels=["app"])
            metric.add_metric([app], value)
            yield metric


def _cumulative(bounds: Sequence[float], buckets: Iterable[int]) -> list[tuple[str, float]]:
    out = []
    running = 0
    for bound, n in zip([*bounds, float("inf")], buckets):
        running += n
        out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
    return out


class Exposition:
    """A registry holding one :class:`PymetrixCollector`, rendered in the format a
    scraper asks for: OpenMetrics or Prometheus' text format."""

    def __init__(self, metrics: Metrics, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PymetrixCollector(metrics, buckets))

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type.

        Args:
            accept: the request's ``Accept`` header, negotiated as prometheus_client's
                own exposition does (OpenMetrics when asked for, else the text format).
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
