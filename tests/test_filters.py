"""since / until / ids on time_series, aggregate and flow."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pymetrix import InvalidQuery, ManualClock, Metrics

T0 = datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture
def recorded() -> Metrics:
    """Hits one minute apart: Home 12:00, Blog 12:01 (from Home), Home 12:02, About 12:03."""
    clock = ManualClock(T0)
    metrics = Metrics("Test", clock=clock)
    for node, caller in [("Home", None), ("Blog", "Home"), ("Home", "Blog"), ("About", None)]:
        metrics.hit(node, caller=caller)
        clock.advance(60)
    return metrics


def test_since_is_inclusive_and_until_exclusive(recorded: Metrics) -> None:
    assert recorded.aggregate(since="2024-05-01 12:01:00", until="2024-05-01 12:03:00") == [
        {"id": "Blog", "hits": 1},
        {"id": "Home", "hits": 1},
    ]


def test_time_series_window_counts_and_first_times_within_it(recorded: Metrics) -> None:
    nodes = recorded.time_series(since=T0 + timedelta(minutes=1))["nodes"]
    assert [(n["id"], n["hits"], n["time"]) for n in nodes] == [
        ("Blog", 1, "2024-05-01 12:01:00.000000"),
        ("Home", 1, "2024-05-01 12:02:00.000000"),
        ("About", 1, "2024-05-01 12:03:00.000000"),
    ]
    for node in nodes:
        assert node["hits"] == len(node["callers"])


def test_ids_filter_keeps_only_those_nodes(recorded: Metrics) -> None:
    assert recorded.aggregate(ids=["Home", "Nope"]) == [{"id": "Home", "hits": 2}]
    assert [n["id"] for n in recorded.time_series(ids={"About", "Blog"})["nodes"]] == [
        "Blog",
        "About",
    ]
    assert recorded.flow(ids=["Home"]) == [
        {"caller": None, "id": "Home", "hits": 1},
        {"caller": "Blog", "id": "Home", "hits": 1},
    ]
    assert recorded.aggregate(ids="Home") == [{"id": "Home", "hits": 2}]


def test_flow_in_a_window(recorded: Metrics) -> None:
    assert recorded.flow(until="2024-05-01 12:02:00") == [
        {"caller": None, "id": "Home", "hits": 1},
        {"caller": "Home", "id": "Blog", "hits": 1},
    ]


def test_aware_datetimes_and_zoned_strings_are_converted(recorded: Metrics) -> None:
    since = datetime(2024, 5, 1, 14, 3, tzinfo=timezone(timedelta(hours=2)))
    assert recorded.aggregate(since=since) == [{"id": "About", "hits": 1}]
    assert recorded.aggregate(since="2024-05-01T08:03:00-04:00") == [{"id": "About", "hits": 1}]


def test_naive_filter_times_are_read_in_the_metrics_zone() -> None:
    clock = ManualClock(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
    metrics = Metrics("Test", clock=clock, tz="Europe/Paris")  # UTC+2 in May
    metrics.hit("Home")
    assert metrics.aggregate(since="2024-05-01 14:00:00") == [{"id": "Home", "hits": 1}]
    assert metrics.aggregate(since="2024-05-01 14:00:01") == []


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01", 12345, object()])
def test_an_unreadable_time_is_a_clear_error(recorded: Metrics, bad: object) -> None:
    with pytest.raises(InvalidQuery, match="since") as caught:
        recorded.aggregate(since=bad)  # type: ignore[call-overload]
    assert isinstance(caught.value, ValueError)


def test_ids_must_be_strings(recorded: Metrics) -> None:
    with pytest.raises(InvalidQuery, match="ids"):
        recorded.aggregate(ids=[1, 2])  # type: ignore[list-item]
    with pytest.raises(InvalidQuery, match="ids"):
        recorded.aggregate(ids=5)  # type: ignore[call-overload]


def test_export_passes_filters_on(recorded: Metrics) -> None:
    assert recorded.export("aggregate", ids=["Blog"]) == {
        "message": [{"id": "Blog", "hits": 1}],
        "response": 200,
    }
    with pytest.raises(ValueError, match="'time_series', 'aggregate', 'flow'"):
        recorded.export("hits")
