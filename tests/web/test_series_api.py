"""/api/series and the live series stream: the bucketed series over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from pymetrix import ManualClock, Metrics
from pymetrix.web import stats_app

from .test_sse import open_stream

START = datetime(2022, 1, 9, 18, 0, 0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def recorded(clock: ManualClock) -> Metrics:
    metrics = Metrics("shop", clock=clock)
    for minute in range(120):
        clock.set(START + timedelta(minutes=minute, seconds=7))
        metrics.hit("/", duration=0.010)
        if minute % 3 == 0:
            metrics.hit("/blog", caller="/", duration=0.200, status=500 if minute % 9 == 0 else 200)
    return metrics


def test_series_is_the_seed_envelope_with_one_value_per_bucket(
    recorded: Metrics, serve: Any
) -> None:
    server = serve(stats_app(recorded))
    reply = server.get(
        "/api/series?step=1h&since=2022-01-09T18:00:00&until=2022-01-09T20:00:00"
    ).json()
    assert reply["response"] == 200
    series = reply["message"]
    assert series == recorded.series(
        step="1h", since="2022-01-09T18:00:00", until="2022-01-09T20:00:00"
    )
    assert series["step"] == 3600
    assert series["buckets"] == ["2022-01-09 18:00:00.000000", "2022-01-09 19:00:00.000000"]
    home, blog = series["nodes"]
    assert (home["id"], home["hits"], home["total"]) == ("/", [60, 60], 120)
    assert (blog["id"], blog["hits"], blog["errors"]) == ("/blog", [20, 20], [7, 7])
    assert home["p95"] == [pytest.approx(0.010, rel=0.01)] * 2
    assert blog["p50"] == [pytest.approx(0.200, rel=0.01)] * 2


def test_series_top_and_latency_options_trim_the_message(recorded: Metrics, serve: Any) -> None:
    server = serve(stats_app(recorded))
    series = server.get("/api/series?step=3600&top=1&latency=0").json()["message"]
    assert [node["id"] for node in series["nodes"]] == ["/"]
    assert set(series["nodes"][0]) == {"id", "total", "hits", "errors"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("step=0", "invalid step '0'"),
        ("step=fortnight", "invalid step 'fortnight'"),
        ("step=1s&since=2022-01-01&until=2022-12-01", "at most 10,000 buckets"),
        ("top=-1", "invalid top '-1'"),
    ],
)
def test_bad_series_options_are_a_400(
    recorded: Metrics, serve: Any, query: str, message: str
) -> None:
    reply = serve(stats_app(recorded)).get(f"/api/series?{query}")
    assert reply.status == 400
    assert message in reply.json()["message"]


def test_live_series_fills_the_latest_bucket_as_hits_arrive(
    recorded: Metrics, clock: ManualClock, serve: Any
) -> None:
    server = serve(stats_app(recorded))
    reader = open_stream(
        server, "/api/stream?data=series&step=1h&since=2022-01-09T18:00:00&interval=0.05"
    )
    try:
        first = reader.next_data().json()["message"]
        assert [node["hits"] for node in first["nodes"]] == [[60, 60], [20, 20]]
        clock.set(START + timedelta(hours=1, minutes=59))
        recorded.hit("/")
        second = reader.next_data().json()["message"]
        assert second["nodes"][0]["hits"] == [60, 61]
    finally:
        reader.close()
