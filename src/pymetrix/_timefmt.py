"""Turning nanosecond timestamps into the exports' time strings, fast."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo

from .errors import InvalidQuery

__all__ = ["MAX_NS", "MIN_NS", "TimeFormatter", "parse_time"]

MIN_NS = -(1 << 63)
"""The earliest hit time (int64 nanoseconds): 1677-09-21 00:12:43.145224192 UTC."""
MAX_NS = (1 << 63) - 1
"""The latest hit time (int64 nanoseconds): 2262-04-11 23:47:16.854775807 UTC."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class TimeFormatter:
    """Formats ``YYYY-MM-DD HH:MM:SS.ffffff`` in one zone, caching the part per second.

    Exports format up to millions of times; ``datetime`` per hit would dominate, so the
    date-and-seconds prefix is computed once per distinct second.
    """

    __slots__ = ("_cache", "tz")

    def __init__(self, tz: tzinfo = timezone.utc) -> None:
        self.tz = tz
        self._cache: dict[int, str] = {}

    def __call__(self, time_ns: int) -> str:
        seconds, rest = divmod(time_ns, 1_000_000_000)
        prefix = self._cache.get(seconds)
        if prefix is None:
            prefix = self.prefix(seconds)
        return f"{prefix}{rest // 1000:06d}"

    def many(self, times: Sequence[int]) -> list[str]:
        """The strings of ``times`` (nanoseconds, in time order), formatted in bulk.

        Hits of one second share their prefix: each run of them is formatted by one
        ``%`` of a repeated pattern and split, so the per-hit work runs in C. A time out
        of order falls back to formatting its run one time at a time.
        """
        out: list[str] = []
        start, end = 0, len(times)
        while start < end:
            seconds = times[start] // 1_000_000_000
            base = seconds * 1_000_000_000
            stop = bisect_left(times, base + 1_000_000_000, start + 1)
            run = times[start:stop]
            micros = tuple(map((1000).__rfloordiv__, map(base.__rsub__, run)))
            if min(micros) < 0 or max(micros) >= 1_000_000:  # not in time order
                out.extend(map(self, run))
            else:
                pattern = self.prefix(seconds).replace("%", "%%") + "%06d\0"
                part = (pattern * len(micros) % micros).split("\0")
                part.pop()
                out.extend(part)
            start = stop
        return out

    def prefix(self, seconds: int) -> str:
        """``"YYYY-MM-DD HH:MM:SS."`` for a whole second since the epoch (cached)."""
        prefix = self._cache.get(seconds)
        if prefix is None:
            if len(self._cache) >= 100_000:
                self._cache.clear()
            moment = datetime.fromtimestamp(seconds, self.tz)
            prefix = self._cache[seconds] = moment.strftime("%Y-%m-%d %H:%M:%S.")
        return prefix


def parse_time(value: object, name: str, tz: tzinfo) -> int:
    """Nanoseconds since the epoch for a ``datetime`` or time string (naive: in ``tz``).

    Times before :data:`MIN_NS` or after :data:`MAX_NS` (``9999-12-31``, a common way to
    say "no end") are clamped to them: no hit lies beyond, and every store then reads the
    same window.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidQuery(
                name, value, "expected a time like '2022-01-09 18:26:51.410001'"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidQuery(name, value, "expected a datetime or a time string")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    delta = value - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return min(max(ns, MIN_NS), MAX_NS)
