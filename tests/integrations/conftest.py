"""Fixtures shared by the framework tests: a fresh Metrics for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pymetrix import Metrics


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    with Metrics("web") as fresh:
        yield fresh
