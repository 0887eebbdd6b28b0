"""Time strings formatted in bulk agree with formatting one time at a time."""

from __future__ import annotations

from array import array
from datetime import timedelta, timezone

from pymetrix._timefmt import TimeFormatter

_S = 1_000_000_000


def test_many_formats_runs_of_one_second_like_one_at_a_time() -> None:
    fmt = TimeFormatter()
    start = 1_700_000_000 * _S
    times = array("q", [start + i * 333_337 for i in range(20_000)])
    assert fmt.many(times) == [fmt(t) for t in times]
    assert fmt.many(times)[1] == "2023-11-14 22:13:20.000333"


def test_many_keeps_times_out_of_order_before_1970_and_in_other_zones_right() -> None:
    fmt = TimeFormatter(timezone(timedelta(hours=-5, minutes=-30)))
    times = [
        5 * _S + 1000,
        3 * _S,
        -1,
        -_S - 999_999_999,
        0,
        1_700_000_000 * _S + 999_999_999,
        1_700_000_000 * _S,
        1_700_000_001 * _S + 7000,
        1_700_000_000 * _S + 5000,
    ]
    assert fmt.many(times) == [fmt(t) for t in times]
    assert fmt.many(times)[2] == "1969-12-31 18:29:59.999999"
    assert fmt.many([]) == []
