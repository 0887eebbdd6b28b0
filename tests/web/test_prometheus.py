"""GET /metrics: the Prometheus exposition, parsed back with prometheus_client's parser."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from pymetrix import InvalidArgument, Metrics
from pymetrix.web import stats_app
from pymetrix.web.prometheus import PymetrixCollector


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def openmetrics_families(text: str) -> list[Metric]:
    """``text`` parsed as OpenMetrics, which the text format parser does not check."""
    parse = openmetrics_parser.text_string_to_metric_families
    return list(parse(text))  # type: ignore[no-untyped-call]


def hits(node: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("pymetrix_hits_total", (("app", "shop"), ("node", node)))


def bucket(node: str, le: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("pymetrix_hit_duration_seconds_bucket", (("app", "shop"), ("le", le), ("node", node)))


def test_metrics_route_exposes_hit_counters_and_duration_histograms(
    metrics: Metrics, serve: Any
) -> None:
    metrics.hit("Home", duration=0.003)
    metrics.hit("Home", duration=0.2)
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home", duration=3.0)
    server = serve(stats_app(metrics))
    reply = server.get("/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=")
    got = samples(reply.body.decode())
    assert got[hits("Home")] == 3
    assert got[hits("Blog")] == 1
    assert got[bucket("Home", "0.005")] == 1
    assert got[bucket("Home", "0.25")] == 2
    assert got[bucket("Home", "+Inf")] == 2
    assert got[("pymetrix_hit_duration_seconds_count", (("app", "shop"), ("node", "Home")))] == 2
    assert got[
        ("pymetrix_hit_duration_seconds_sum", (("app", "shop"), ("node", "Home")))
    ] == pytest.approx(0.203)
    assert got[bucket("Blog", "2.5")] == 0
    assert got[bucket("Blog", "5.0")] == 1
    assert got[("pymetrix_dropped_hits_total", (("app", "shop"),))] == 0


def test_metrics_route_answers_openmetrics_to_a_scraper_that_asks_for_it(
    metrics: Metrics, serve: Any
) -> None:
    metrics.hit("Home", duration=0.003)
    metrics.hit("Home")
    server = serve(stats_app(metrics))
    # What Prometheus sends: OpenMetrics first, the text format as a fallback.
    accept = (
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    )
    reply = server.get("/metrics", headers={"Accept": accept})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert "accept" in reply.headers["vary"].lower()
    text = reply.body.decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["pymetrix_hits"].type == "counter"
    got = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert got[hits("Home")] == 2
    assert got[bucket("Home", "0.005")] == 1
    assert got[("pymetrix_hit_duration_seconds_count", (("app", "shop"), ("node", "Home")))] == 1


def test_metrics_route_answers_the_text_format_without_an_accept_header(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(stats_app(metrics))
    reply = server.get("/metrics")
    # As prometheus_client's own exposition answers a client that states no preference.
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in reply.body.decode()


def test_each_scrape_adds_the_hits_recorded_since_the_last(metrics: Metrics, serve: Any) -> None:
    metrics.hit("Home", duration=0.01)
    server = serve(stats_app(metrics))
    first = samples(server.get("/metrics").body.decode())
    metrics.hit("Home", duration=0.01)
    metrics.hit("Home", duration=20.0)
    second = samples(server.get("/metrics").body.decode())
    third = samples(server.get("/metrics").body.decode())
    assert first[bucket("Home", "+Inf")] == 1
    assert second[bucket("Home", "0.01")] == 2
    assert second[bucket("Home", "10.0")] == 2
    assert second[bucket("Home", "+Inf")] == 3
    assert third == second


def test_the_collector_registers_in_an_applications_own_registry(metrics: Metrics) -> None:
    registry = CollectorRegistry()
    registry.register(PymetrixCollector(metrics, buckets=(0.1, 1.0)))
    metrics.hit("Home", duration=0.5)
    got = samples(generate_latest(registry).decode())
    assert got[bucket("Home", "0.1")] == 0
    assert got[bucket("Home", "1.0")] == 1
    assert got[hits("Home")] == 1


def test_node_ids_are_escaped_as_label_values(metrics: Metrics) -> None:
    registry = CollectorRegistry()
    registry.register(PymetrixCollector(metrics))
    hostile = 'a"b\\c} x{'
    metrics.hit(hostile)
    got = samples(generate_latest(registry).decode())
    assert got[hits(hostile)] == 1


def test_buckets_must_ascend(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="ascending"):
        PymetrixCollector(metrics, buckets=(1.0, 0.5))


def test_histograms_of_a_sqlite_store_count_each_hit_once_across_scrapes(
    serve: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/pymetrix.db"
    with Metrics("shop", store=url) as writer:
        writer.hit("Home", duration=0.01)
        writer.hit("Home")
    with Metrics("shop", store=url) as metrics:
        server = serve(stats_app(metrics))
        first = samples(server.get("/metrics").body.decode())
        metrics.hit("Home", duration=20.0)
        second = samples(server.get("/metrics").body.decode())
        third = samples(server.get("/metrics").body.decode())
    assert first[hits("Home")] == 2
    assert first[bucket("Home", "+Inf")] == 1
    assert second[hits("Home")] == 3
    assert second[bucket("Home", "0.01")] == 1
    assert second[bucket("Home", "+Inf")] == 2
    # Only the writer's lag differs: the second scrape found the last hit queued.
    lag = ("pymetrix_queued_hits", (("app", "shop"),))
    assert (second[lag], third[lag]) == (1, 0)
    assert {k: v for k, v in third.items() if "queued" not in k[0]} == {
        k: v for k, v in second.items() if "queued" not in k[0]
    }


def test_the_writers_lag_is_exposed_before_a_scrape_writes_it(serve: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pymetrix.db?flush_interval=60"
    with Metrics("shop", store=url) as metrics:
        server = serve(stats_app(metrics))
        server.get("/metrics")
        for _ in range(5):
            metrics.hit("Home")
        time.sleep(0.05)
        first = samples(server.get("/metrics").body.decode())
        second = samples(server.get("/metrics").body.decode())
    app = (("app", "shop"),)
    assert first[("pymetrix_queued_hits", app)] == 5
    assert first[("pymetrix_queued_oldest_age_seconds", app)] >= 0.05
    assert first[("pymetrix_store_failing", app)] == 0
    assert first[hits("Home")] == 5
    # The first scrape's read wrote the queue out.
    assert second[("pymetrix_queued_hits", app)] == 0
    assert second[("pymetrix_queued_oldest_age_seconds", app)] == 0
    assert second[("pymetrix_quarantined_hits_total", app)] == 0
    assert second[("pymetrix_dropped_hits_total", app)] == 0


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile: linear within the bucket holding rank q."""
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    raise AssertionError("unreachable")


def test_default_buckets_resolve_sub_millisecond_latencies(metrics: Metrics, serve: Any) -> None:
    # Most requests take about 0.11 ms, a few 0.75 ms: what Prometheus computes from
    # the buckets must be of that order, not milliseconds.
    for k in range(100):
        metrics.hit("Fast", duration=0.00075 if k % 10 == 0 else 0.00011)
    got = samples(serve(stats_app(metrics)).get("/metrics").body.decode())
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in got.items()
        if name == "pymetrix_hit_duration_seconds_bucket" and dict(labels)["node"] == "Fast"
    )
    p50 = histogram_quantile(0.50, buckets)
    p95 = histogram_quantile(0.95, buckets)
    assert 0.0001 <= p50 <= 0.00025
    assert 0.0005 <= p95 <= 0.001


def test_the_stats_app_takes_buckets_of_its_own(metrics: Metrics, serve: Any) -> None:
    metrics.hit("Home", duration=0.3)
    metrics.hit("Home", duration=3.0)
    got = samples(serve(stats_app(metrics, buckets=(0.5, 2.0))).get("/metrics").body.decode())
    assert got[bucket("Home", "0.5")] == 1
    assert got[bucket("Home", "2.0")] == 1
    assert got[bucket("Home", "+Inf")] == 2
    assert not any(
        name == "pymetrix_hit_duration_seconds_bucket" and dict(labels)["le"] == "0.005"
        for name, labels in got
    )


@pytest.mark.parametrize("buckets", [(), (2.0, 1.0), (1.0, 1.0), (-1.0, 1.0)])
def test_buckets_that_do_not_ascend_are_refused(metrics: Metrics, buckets: Any) -> None:
    with pytest.raises(InvalidArgument, match="buckets"):
        stats_app(metrics, buckets=buckets)
