"""hit(): what is recorded, and what is refused at the boundary."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pymetrix import (
    OVERFLOW,
    InvalidArgument,
    InvalidDuration,
    InvalidNodeId,
    InvalidNodeType,
    InvalidStatus,
    Metrics,
    PymetrixError,
)


def test_hit_counts_per_node(metrics: Metrics) -> None:
    for _ in range(3):
        metrics.hit("Home")
    metrics.hit("Blog")
    assert metrics.aggregate() == [{"id": "Home", "hits": 3}, {"id": "Blog", "hits": 1}]


def test_explicit_caller_is_recorded_and_none_means_no_caller(metrics: Metrics) -> None:
    metrics.hit("Blog", caller="Home")
    with metrics.as_caller("Home"):
        metrics.hit("Blog", caller=None)
        metrics.hit("Blog")
    callers = [c["caller"] for c in metrics.time_series()["nodes"][0]["callers"]]
    assert callers == ["Home", None, "Home"]


def test_unicode_ids_are_accepted(metrics: Metrics) -> None:
    metrics.hit("Домой ✓ 首页", caller="ブログ")
    assert metrics.flow() == [{"caller": "ブログ", "id": "Домой ✓ 首页", "hits": 1}]


@pytest.mark.parametrize("bad", [None, 1, 1.5, b"Home", ["Home"], {"id": 1}])
def test_an_id_that_is_not_a_str_is_a_type_error(metrics: Metrics, bad: Any) -> None:
    with pytest.raises(InvalidNodeType) as caught:
        metrics.hit(bad)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, PymetrixError)
    assert caught.value.value is bad
    assert metrics.aggregate() == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("x" * 257, "longer than 256"),
        ("Home\n", "control character"),
        ("Ho\x00me", "control character"),
        ("\x1b[31mred", "control character"),
        ("a\x85b", "control character"),
    ],
)
def test_an_invalid_id_is_a_value_error_naming_why(metrics: Metrics, bad: str, reason: str) -> None:
    with pytest.raises(InvalidNodeId, match=reason) as caught:
        metrics.hit(bad)
    assert isinstance(caught.value, ValueError)
    assert caught.value.value == bad
    assert metrics.aggregate() == []


def test_a_bad_caller_is_refused_and_nothing_is_recorded(metrics: Metrics) -> None:
    with pytest.raises(InvalidNodeType, match="caller"):
        metrics.hit("Home", caller=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidNodeId, match="caller"):
        metrics.hit("Home", caller="")
    assert metrics.aggregate() == []
    assert metrics.flow() == []


def test_max_id_length_is_configurable() -> None:
    metrics = Metrics("Test", max_id_length=4)
    metrics.hit("abcd")
    with pytest.raises(InvalidNodeId, match="longer than 4"):
        metrics.hit("abcde")
    assert metrics.aggregate() == [{"id": "abcd", "hits": 1}]


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf"), "1.0", True])
def test_a_bad_duration_is_refused(metrics: Metrics, bad: Any) -> None:
    with pytest.raises(InvalidDuration) as caught:
        metrics.hit("Home", duration=bad)
    assert isinstance(caught.value, ValueError)
    assert metrics.aggregate() == []


@pytest.mark.parametrize("bad", [99, 600, 0, -200, 200.0, "200", True])
def test_a_status_outside_100_to_599_is_refused(metrics: Metrics, bad: Any) -> None:
    with pytest.raises(InvalidStatus) as caught:
        metrics.hit("Home", status=bad)
    assert isinstance(caught.value, ValueError)
    assert metrics.aggregate() == []


def test_valid_duration_and_status_edges_are_accepted(metrics: Metrics) -> None:
    metrics.hit("Home", duration=0, status=100)
    metrics.hit("Home", duration=12, status=599)
    callers = metrics.time_series(detail=True)["nodes"][0]["callers"]
    assert [(c["duration"], c["status"]) for c in callers] == [(0.0, 100), (12.0, 599)]


def test_new_ids_beyond_max_nodes_count_under_overflow_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics("Test", max_nodes=3)
    with caplog.at_level(logging.WARNING, logger="pymetrix"):
        for i in range(10):
            metrics.hit(f"/page/{i}")
        metrics.hit("/page/0")
    assert metrics.aggregate() == [
        {"id": "/page/0", "hits": 2},
        {"id": "/page/1", "hits": 1},
        {"id": "/page/2", "hits": 1},
        {"id": OVERFLOW, "hits": 7},
    ]
    warnings = [r for r in caplog.records if "distinct ids" in r.getMessage()]
    assert len(warnings) == 1


def test_overflowed_ids_are_not_remembered() -> None:
    metrics = Metrics("Test", max_nodes=1)
    metrics.hit("a")
    for i in range(1000):
        metrics.hit(f"random-{i}")
    assert len(metrics._known) == 1
    assert metrics.aggregate() == [{"id": "a", "hits": 1}, {"id": OVERFLOW, "hits": 1000}]


def test_metrics_needs_an_app_id_and_accepts_the_original_loc_keyword() -> None:
    assert Metrics(loc="Test").id == "Test"
    assert Metrics("Test").id == "Test"
    with pytest.raises(TypeError):
        Metrics()
    with pytest.raises(TypeError):
        Metrics("a", loc="b")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_nodes", 0),
        ("max_id_length", 0),
        ("max_events", 0),
        ("tz", "Mars/Olympus_Mons"),
        ("store", "redis://localhost"),
    ],
)
def test_bad_options_are_refused_with_a_clear_error(option: str, value: Any) -> None:
    with pytest.raises(InvalidArgument, match=option.replace("_", ".") + "|store URL"):
        Metrics("Test", **{option: value})


def test_an_unknown_store_scheme_lists_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"memory://"):
        Metrics("Test", store="redis://localhost:6379")


def test_close_is_idempotent(metrics: Metrics) -> None:
    metrics.hit("Home")
    metrics.close()
    metrics.close()
    assert metrics.aggregate() == [{"id": "Home", "hits": 1}]
