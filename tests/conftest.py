from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from pymetrix import ManualClock, Metrics

# The first time of the seed's example: 2022-01-09 18:26:51.410001 (UTC).
SEED_START = datetime(2022, 1, 9, 18, 26, 51, 410001)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves one millisecond per reading, starting at the seed's time."""
    return ManualClock(SEED_START, step=0.001)


@pytest.fixture
def metrics(clock: ManualClock) -> Iterator[Metrics]:
    with Metrics("Test", clock=clock) as m:
        yield m
