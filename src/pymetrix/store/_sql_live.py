"""Following a SQL store's chunks as they are written: each hit delivered once, in order."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ._chunks import ALL_NODES, Chunk
from ._codec import KEY_MASK, KEY_SHIFT
from ._waiting import WaitingSubscription
from .base import LiveHit

if TYPE_CHECKING:
    from ._sql import SqlStore

__all__ = ["LIVE_CHUNKS", "SqlSubscription"]

# Chunks a live subscriber decodes per read at most.
LIVE_CHUNKS = 4


class SqlSubscription(WaitingSubscription):
    """A cursor over the store's chunk ids; each hit is delivered once, in id order.

    A hit's ``seq`` is its number among the app's hits, counted from 1 in the order
    they were written: the order of chunk ids, in which they are delivered.
    """

    def __init__(self, store: SqlStore, cursor: int, seen: dict[int, int], total: int) -> None:
        self._store = store
        self._cursor = cursor
        self._seen = seen
        # The app's hits up to the last one delivered or skipped; hits up to
        # ``_resume`` are old (the subscriber resumed after them) and not delivered.
        self._total = total
        self._resume = total
        self._first: dict[int, int] = {}
        self._names: list[str] = []
        self._ready: deque[LiveHit] = deque()
        super().__init__(store._waiters)

    def read(self, limit: int) -> list[LiveHit]:
        store = self._store
        if self.closed:
            return []
        ready = self._ready
        # Resuming may skip whole chunks of old hits: read on until some are new.
        while not ready:
            upto = store._latest
            if upto <= self._cursor:
                return []
            chunks = store._live_chunks(self._cursor, upto)
            # Fewer chunks than asked: nothing of this app is left up to ``upto``.
            self._cursor = chunks[-1][0] if len(chunks) >= LIVE_CHUNKS else upto
            for _, chunk, bases in chunks:
                self._unpack(chunk, bases)
        out: list[LiveHit] = []
        while ready and len(out) < limit:
            out.append(ready.popleft())
        return out

    def _unpack(self, chunk: Chunk, bases: dict[int, int]) -> None:
        store = self._store
        first = self._first
        seen = self._seen
        before = bases.pop(ALL_NODES, None)
        if before is None:
            # A chunk written before hit numbers were kept: count on from the last.
            before = self._total
            for node, base in bases.items():
                gap = base - seen.get(node, 0)
                if gap > 0:
                    self._dropped += gap
        elif before > self._total:
            # Retention deleted these hits before this subscriber read them.
            self._dropped += before - self._total
            self._total = before
        seen.update(bases)
        skip = max(0, self._resume - before)
        self._total = before + len(chunk)
        if skip >= len(chunk):
            return
        needed = max(max(key & KEY_MASK, (key >> KEY_SHIFT) - 1) for key in set(chunk.keys))
        unknown = sorted(node for node, base in bases.items() if base and node not in first)
        if unknown or len(self._names) <= needed:
            self._names, found = store._first_times(unknown or [-1])
            first.update(found)
        names = self._names
        add = self._ready.append
        seq = before
        for time_ns, key, duration, status in zip(
            chunk.times, chunk.keys, chunk.durations, chunk.statuses
        ):
            node = key & KEY_MASK
            caller = (key >> KEY_SHIFT) - 1
            total = seen[node] + 1
            seen[node] = total
            seq += 1
            if total == 1:
                first[node] = time_ns
            if seq <= self._resume:
                continue
            add(
                LiveHit(
                    time_ns=time_ns,
                    node=names[node],
                    caller=None if caller < 0 else names[caller],
                    duration=None if duration != duration else duration,
                    status=status or None,
                    node_hits=total,
                    node_first_ns=first[node],
                    seq=seq,
                )
            )

    def _pending(self) -> bool:
        return self.closed or bool(self._ready) or self._cursor < self._store._latest
