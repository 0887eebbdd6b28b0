"""The export shapes, field by field against the original documentation's examples."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pymetrix import ManualClock, Metrics

# The examples of the original export documentation, verbatim.
SEED_TIME_SERIES = json.loads("""
{
   "message" : {
      "id" : "Test",
      "nodes" : [
         {
            "callers" : [{"caller" : null, "time" : "2022-01-09 18:26:51.410001"}],
            "hits" : 1,
            "id" : "Home",
            "time" : "2022-01-09 18:26:51.409901"
         },
         {
            "callers" : [{"caller" : null, "time" : "2022-01-09 18:27:02.361461"}],
            "hits" : 1,
            "id" : "Blog",
            "time" : "2022-01-09 18:27:02.361310"
         }
      ]
   },
   "response" : 200
}
""")
SEED_AGGREGATE = json.loads("""
{"message" : [{"hits" : 1, "id" : "Home"}, {"hits" : 1, "id" : "Blog"}], "response" : 200}
""")


def _seed_like() -> Metrics:
    clock = ManualClock(datetime(2022, 1, 9, 18, 26, 51, 410001))
    metrics = Metrics("Test", clock=clock)
    metrics.hit("Home")
    clock.set(datetime(2022, 1, 9, 18, 27, 2, 361461))
    metrics.hit("Blog")
    return metrics


def _shape(value: object) -> object:
    """The structure of a JSON value: key sets and value types, not the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def test_time_series_has_the_seed_shape_and_values() -> None:
    exported = _seed_like().export("time_series")
    assert _shape(exported) == _shape(SEED_TIME_SERIES)
    message = exported["message"]
    assert message["id"] == "Test"
    home, blog = message["nodes"]
    assert home == {
        "id": "Home",
        "hits": 1,
        "time": "2022-01-09 18:26:51.410001",
        "callers": [{"caller": None, "time": "2022-01-09 18:26:51.410001"}],
    }
    assert blog["id"] == "Blog"
    assert blog["callers"] == SEED_TIME_SERIES["message"]["nodes"][1]["callers"]
    assert exported["response"] == 200


def test_time_series_keys_come_in_documented_order() -> None:
    node = _seed_like().time_series()["nodes"][0]
    assert list(node) == ["id", "hits", "time", "callers"]
    assert list(node["callers"][0]) == ["caller", "time"]


def test_aggregate_matches_the_seed_example() -> None:
    exported = _seed_like().export("aggregate")
    assert exported == SEED_AGGREGATE
    assert list(exported["message"][0]) == ["id", "hits"]


def test_flow_lists_caller_node_and_hits() -> None:
    metrics = Metrics("Test", clock=ManualClock(step=0.001))
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home")
    metrics.hit("Blog", caller="Home")
    metrics.hit("Home", caller="Blog")
    assert metrics.flow() == [
        {"caller": None, "id": "Home", "hits": 1},
        {"caller": "Home", "id": "Blog", "hits": 2},
        {"caller": "Blog", "id": "Home", "hits": 1},
    ]
    assert list(metrics.flow()[0]) == ["caller", "id", "hits"]


def test_times_keep_six_fractional_digits_when_microseconds_are_zero() -> None:
    metrics = Metrics("Test", clock=ManualClock(datetime(2022, 1, 9, 18, 0, 0)))
    metrics.hit("Home")
    assert metrics.time_series()["nodes"][0]["time"] == "2022-01-09 18:00:00.000000"


def test_times_are_shown_in_the_chosen_zone() -> None:
    start = datetime(2022, 1, 9, 18, 0, 0, 5, tzinfo=timezone.utc)
    utc = Metrics("Test", clock=ManualClock(start))
    kolkata = Metrics("Test", clock=ManualClock(start), tz="Asia/Kolkata")
    fixed = Metrics("Test", clock=ManualClock(start), tz=timezone(timedelta(hours=-5)))
    for m in (utc, kolkata, fixed):
        m.hit("Home")
    assert utc.time_series()["nodes"][0]["time"] == "2022-01-09 18:00:00.000005"
    assert kolkata.time_series()["nodes"][0]["time"] == "2022-01-09 23:30:00.000005"
    assert fixed.time_series()["nodes"][0]["time"] == "2022-01-09 13:00:00.000005"


def test_nodes_come_in_first_hit_order_and_callers_in_time_order() -> None:
    metrics = Metrics("Test", clock=ManualClock(step=0.000001))
    metrics.hit("Zeta")
    metrics.hit("Alpha", caller="Zeta")
    metrics.hit("Zeta", caller="Alpha")
    nodes = metrics.time_series()["nodes"]
    assert [n["id"] for n in nodes] == ["Zeta", "Alpha"]
    assert [n["id"] for n in metrics.aggregate()] == ["Zeta", "Alpha"]
    zeta = nodes[0]
    assert [c["time"] for c in zeta["callers"]] == [
        "1970-01-01 00:00:00.000000",
        "1970-01-01 00:00:00.000002",
    ]
    assert [c["caller"] for c in zeta["callers"]] == [None, "Alpha"]
    assert zeta["time"] == zeta["callers"][0]["time"]


def test_a_node_known_only_as_a_caller_is_not_listed() -> None:
    metrics = Metrics("Test")
    metrics.hit("Blog", caller="Search")
    assert [n["id"] for n in metrics.time_series()["nodes"]] == ["Blog"]
    assert metrics.aggregate() == [{"id": "Blog", "hits": 1}]


def test_every_export_serializes_with_the_standard_json_module() -> None:
    metrics = _seed_like()
    metrics.hit("Api", duration=0.25, status=503)
    for data in ("time_series", "aggregate", "flow"):
        text = json.dumps(metrics.export(data))
        assert json.loads(text) == metrics.export(data)
    json.dumps(metrics.time_series(detail=True))
    json.dumps(metrics.aggregate(stats=True))


def test_detail_adds_duration_and_status_to_each_hit() -> None:
    metrics = Metrics("Test", clock=ManualClock(step=0.001))
    metrics.hit("Api", duration=0.5, status=201)
    metrics.hit("Api")
    callers = metrics.time_series(detail=True)["nodes"][0]["callers"]
    assert callers == [
        {"caller": None, "time": "1970-01-01 00:00:00.000000", "duration": 0.5, "status": 201},
        {"caller": None, "time": "1970-01-01 00:00:00.001000", "duration": None, "status": None},
    ]
    # Off by default: the seed's shape stays as it is.
    assert list(metrics.time_series()["nodes"][0]["callers"][0]) == ["caller", "time"]


def test_stats_give_nearest_rank_percentiles_and_error_counts() -> None:
    metrics = Metrics("Test")
    for ms in range(1, 101):
        metrics.hit("Api", duration=ms / 1000, status=500 if ms % 10 == 0 else 200)
    metrics.hit("Quiet")
    api, quiet = metrics.aggregate(stats=True)
    # From the latency sketch: within 1 % of the exact nearest-rank values.
    assert api == {
        "id": "Api",
        "hits": 100,
        "p50": pytest.approx(0.05, rel=0.01),
        "p95": pytest.approx(0.095, rel=0.01),
        "p99": pytest.approx(0.099, rel=0.01),
        "errors": 10,
    }
    assert quiet == {"id": "Quiet", "hits": 1, "p50": None, "p95": None, "p99": None, "errors": 0}
