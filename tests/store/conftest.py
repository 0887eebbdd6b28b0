"""Store fixtures: the same tests run against every store, through ``Metrics``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pymetrix import ManualClock, Metrics

STORES = ["memory", "sqlite", "postgresql"]
PERSISTENT = ["sqlite", "postgresql"]
START = datetime(2022, 1, 9, 18, 26, 51)

MakeMetrics = Callable[..., Metrics]


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/pymetrix.db?flush_interval=0.02"
    url: str = request.getfixturevalue("postgres_url")
    return f"{url}?flush_interval=0.02"


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL of each kind, for a store of the test's own."""
    return _url(request.param, request, tmp_path)


@pytest.fixture(params=PERSISTENT)
def persistent_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite and a PostgreSQL store URL, for a store of the test's own."""
    return _url(request.param, request, tmp_path)


@pytest.fixture
def make_metrics() -> Iterator[MakeMetrics]:
    """Opens ``Metrics`` on a ticking manual clock; closes them after the test."""
    opened: list[Metrics] = []

    def make(app: str = "Test", *, store: Any, **options: Any) -> Metrics:
        options.setdefault("clock", ManualClock(START, step=0.001))
        metrics = Metrics(app, store=store, **options)
        opened.append(metrics)
        return metrics

    yield make
    for metrics in opened:
        metrics.close()


@pytest.fixture
def metrics(make_metrics: MakeMetrics, store_url: str) -> Metrics:
    return make_metrics(store=store_url)
