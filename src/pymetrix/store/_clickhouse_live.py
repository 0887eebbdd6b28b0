"""Following the ClickHouse store's hits as they are written: each delivered once, in order."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ._waiting import WaitingSubscription
from .base import LiveHit

if TYPE_CHECKING:
    from .clickhouse import ClickHouseStore

__all__ = ["LIVE_PAGE", "ClickHouseSubscription"]

LIVE_PAGE = 10_000
"""Hits a live subscriber reads per query at most."""


class ClickHouseSubscription(WaitingSubscription):
    """A cursor over the app's hit numbers (``seq``), read in order.

    Every hit row carries its ``seq`` and its node's running total, so a subscriber
    needs nothing but its cursor; a gap in the numbers read is hits that retention
    deleted first, counted as dropped.
    """

    def __init__(self, store: ClickHouseStore, cursor: int) -> None:
        self._store = store
        self._cursor = cursor
        self._first: dict[str, int] = {}
        self._ready: deque[LiveHit] = deque()
        super().__init__(store._waiters)

    def read(self, limit: int) -> list[LiveHit]:
        if self.closed:
            return []
        ready = self._ready
        store = self._store
        while not ready:
            upto = store._latest
            if upto <= self._cursor:
                return []
            rows = store._live_rows(self._cursor, upto, LIVE_PAGE)
            unknown = {node for _, node, *_ in rows if node not in self._first}
            if unknown:
                self._first.update(store._first_times(sorted(unknown)))
            expected = self._cursor + 1
            for time_ns, node, caller, duration, status, seq, node_hits in rows:
                if seq > expected:
                    self._dropped += seq - expected
                expected = seq + 1
                ready.append(
                    LiveHit(
                        time_ns=time_ns,
                        node=node,
                        caller=caller or None,
                        duration=None if duration != duration else duration,
                        status=status or None,
                        node_hits=node_hits,
                        node_first_ns=self._first.get(node, time_ns),
                        seq=seq,
                    )
                )
            if len(rows) < LIVE_PAGE:
                # Every hit up to ``upto`` still held was read: the rest are gone.
                if upto >= expected:
                    self._dropped += upto - expected + 1
                self._cursor = upto
            else:
                self._cursor = expected - 1
        out: list[LiveHit] = []
        while ready and len(out) < limit:
            out.append(ready.popleft())
        return out

    def _pending(self) -> bool:
        return self.closed or bool(self._ready) or self._cursor < self._store._latest
