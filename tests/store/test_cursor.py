"""HitCursor: reading a store's hits after a (time, ordinal) position."""

from __future__ import annotations

import pytest

from pymetrix import InvalidQuery
from pymetrix.store import MemoryStore
from pymetrix.store._cursor import HitCursor, format_position, parse_position


def store_with(*hits: tuple[int, str]) -> MemoryStore:
    store = MemoryStore()
    for time_ns, node in hits:
        store.append(time_ns, node, None, None, None)
    return store


def test_a_cursor_from_the_start_reads_every_hit_with_ordinals_per_time() -> None:
    store = store_with((10, "a"), (10, "b"), (20, "a"), (20, "a"), (30, "c"))
    got = [(h.node, h.position) for h in HitCursor(store).read()]
    assert got == [("a", (10, 0)), ("b", (10, 1)), ("a", (20, 0)), ("a", (20, 1)), ("c", (30, 0))]


def test_a_cursor_resumes_right_after_its_position_among_equal_times() -> None:
    store = store_with((10, "a"), (20, "b"), (20, "c"), (20, "d"))
    cursor = HitCursor(store, position=(20, 0))
    assert [h.node for h in cursor.read()] == ["c", "d"]
    assert cursor.position == (20, 2)
    assert list(cursor.read()) == []
    store.append(20, "e", None, None, None)
    assert [(h.node, h.position) for h in cursor.read()] == [("e", (20, 3))]


def test_a_cursor_at_the_end_skips_hits_already_at_that_time() -> None:
    store = store_with((10, "a"), (20, "b"))
    cursor = HitCursor.at_end(store, 20)
    assert list(cursor.read()) == []
    store.append(20, "c", None, None, None)
    assert [h.node for h in cursor.read()] == ["c"]


def test_until_bounds_what_a_read_returns() -> None:
    store = store_with((10, "a"), (20, "b"), (30, "c"))
    cursor = HitCursor(store)
    assert [h.node for h in cursor.read(until_ns=25)] == ["a", "b"]
    assert [h.node for h in cursor.read(until_ns=35)] == ["c"]


def test_ids_restrict_the_hits_and_their_ordinals() -> None:
    store = store_with((10, "a"), (10, "b"), (10, "a"))
    cursor = HitCursor(store, ids=frozenset({"a"}))
    assert [h.position for h in cursor.read()] == [(10, 0), (10, 1)]


def test_positions_round_trip_through_event_ids() -> None:
    position = (1_700_000_000_123_456_789, 3)
    assert parse_position(format_position(position), "after") == position
    for bad in ("", "12", "a-b", "-1-2", "1--2"):
        with pytest.raises(InvalidQuery, match=r"^invalid after "):
            parse_position(bad, "after")
