"""Reading a store's hits after a position, through ordinary snapshot queries.

A position is ``(time_ns, ordinal)``: the last hit delivered was the ``ordinal``-th
(0-based) of the hits at exactly ``time_ns``, in store order. Stores keep hits in time
order, so everything after a position is found with ``since_ns=time_ns``, skipping the
first ``ordinal + 1`` hits at that time. This needs nothing from a store beyond the
:class:`~pymetrix.store.Store` protocol and works for any number of readers: the CLI's
chunked export, the ``/metrics`` histograms, and the live time series of a store that is
not ``resumable``, whose event ids are positions.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple

from ..errors import InvalidQuery
from ._codec import KEY_MASK, KEY_SHIFT, STATUS_BITS, STATUS_MASK
from .base import Query, Store

__all__ = ["Hit", "HitCursor", "Position", "format_position", "parse_position", "parse_seq"]

Position = tuple[int, int]


class Hit(NamedTuple):
    """One hit read from a store, at position ``(time_ns, ordinal)``."""

    time_ns: int
    ordinal: int
    node: str
    caller: str | None
    duration: float | None
    status: int | None

    @property
    def position(self) -> Position:
        return (self.time_ns, self.ordinal)


def format_position(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


def parse_position(text: str, name: str) -> Position:
    """The position an event id names; :class:`InvalidQuery` about ``name`` if none."""
    time_text, sep, ordinal_text = text.strip().partition("-")
    time_ns, ordinal = _int64(time_text), _int64(ordinal_text)
    if sep and time_ns is not None and ordinal is not None:
        return (time_ns, ordinal)
    raise InvalidQuery(name, text, "expected an event id like '1700000000000000000-0'")


def parse_seq(text: str, name: str) -> int:
    """The hit ``seq`` an event id names; :class:`InvalidQuery` about ``name`` if none."""
    seq = _int64(text.strip())
    if seq is None:
        raise InvalidQuery(name, text, "expected an event id like '42'")
    return seq


def _int64(text: str) -> int | None:
    """The number ``text`` spells in ASCII digits if it fits 64 bits, else None."""
    # int() alone reads other scripts' digits and '_', and raises ValueError past 4,300
    # digits: an id from a client is checked before it is converted.
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value < 1 << 63 else None


class HitCursor:
    """Reads the hits after a position, advancing it.

    Args:
        store: the store to read.
        ids: only hits on these nodes (ordinals then count these hits only).
        position: where to start; None reads from the oldest hit the store holds.
        until_ns: never read hits at or after this time.
    """

    def __init__(
        self,
        store: Store,
        *,
        ids: frozenset[str] | None = None,
        position: Position | None = None,
        until_ns: int | None = None,
    ) -> None:
        self._store = store
        self._ids = ids
        self._position = position
        self._until_ns = until_ns

    @classmethod
    def at_end(cls, store: Store, now_ns: int, ids: frozenset[str] | None = None) -> HitCursor:
        """A cursor past every hit stored so far (hits at ``now_ns`` or later included)."""
        cursor = cls(store, ids=ids, position=(now_ns, -1))
        # Hits already stored at exactly ``now_ns`` (a clock standing still, clamped
        # times) are old: step past them.
        for _ in cursor.read():
            pass
        return cursor

    @property
    def position(self) -> Position | None:
        """The position of the last hit read (None if none yet and started from the oldest)."""
        return self._position

    def read(self, until_ns: int | None = None) -> Generator[Hit, None, None]:
        """The hits after the position, oldest first.

        The position moves to the last hit taken when the iterator ends or is closed.

        Args:
            until_ns: stop before this time (also bounded by the cursor's own ``until_ns``).
        """
        bound = self._until_ns
        if until_ns is not None:
            bound = until_ns if bound is None else min(bound, until_ns)
        since = None if self._position is None else self._position[0]
        if since is not None and bound is not None and since >= bound:
            return
        snapshot = self._store.snapshot(Query(since_ns=since, until_ns=bound, ids=self._ids))
        cols = snapshot.hits
        names = cols.names
        # Index -1 (no caller) lands on the trailing None.
        callers = [*names, None]
        last_time, last_ordinal = self._position if self._position is not None else (-1, -1)
        time_ns, ordinal = -1, -1
        # The packed columns: one int for node and caller, one for duration and status.
        rows = zip(cols.times, cols.keys, cols.extras)
        try:
            for t, key, extra in rows:
                if t == time_ns:
                    ordinal += 1
                else:
                    time_ns, ordinal = t, 0
                if t == last_time and ordinal <= last_ordinal:
                    continue
                micros = extra >> STATUS_BITS
                yield Hit(
                    t,
                    ordinal,
                    names[key & KEY_MASK],
                    callers[(key >> KEY_SHIFT) - 1],
                    (micros - 1) / 1e6 if micros else None,
                    extra & STATUS_MASK or None,
                )
        finally:
            # Where the consumer stopped: the last hit it was given.
            if time_ns > last_time or (time_ns == last_time and ordinal > last_ordinal):
                self._position = (time_ns, ordinal)
