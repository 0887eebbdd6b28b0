"""StatsConfig: the stats app's options, declared once and taken alike by every entry point."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from pymetrix import InvalidArgument, Metrics
from pymetrix.web import StatsConfig, stats_app, wsgi_app
from pymetrix.web.django import stats_urls


def test_every_entry_point_takes_the_arguments_of_stats_config() -> None:
    expected = inspect.signature(StatsConfig).parameters
    for entry in (stats_app, wsgi_app, stats_urls):
        assert inspect.signature(entry).parameters == expected


@pytest.mark.parametrize("heartbeat", [0, -1, float("nan"), float("inf"), "15", True])
def test_a_heartbeat_that_is_not_a_positive_number_of_seconds_is_refused(
    metrics: Metrics, heartbeat: Any
) -> None:
    for entry in (stats_app, wsgi_app, stats_urls):
        with pytest.raises(InvalidArgument, match="invalid heartbeat"):
            entry(metrics, heartbeat=heartbeat)


def test_the_config_is_frozen(metrics: Metrics) -> None:
    config = StatsConfig(metrics, "t", heartbeat=5)
    assert (config.token, config.allow_public, config.heartbeat, config.retry) == (
        "t",
        False,
        5,
        2000,
    )
    with pytest.raises(AttributeError):
        config.token = None  # type: ignore[misc]
