"""Hit numbers in the ClickHouse store with several writers of one app at once: every hit
numbered once, densely, and live streams that wait for ranges still being written."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import timezone
from typing import Any

import clickhouse_connect
import pytest

from pymetrix.errors import InvalidArgument, StoreError
from pymetrix.store.base import LiveHit
from pymetrix.store.clickhouse import ClickHouseStore

from .conftest import START

T0 = int(START.replace(tzinfo=timezone.utc).timestamp()) * 1_000_000_000

WRITERS = 4
HITS_EACH = 1500


def read_all(live: Any, count: int, timeout: float) -> list[LiveHit]:
    """Hits read from ``live`` until ``count`` came or ``timeout`` seconds passed."""
    out: list[LiveHit] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        out.extend(live.read(10_000))
        if len(out) < count:
            live.wait(0.05)
    return out


def opened(dsn: str, database: str, client: Any = None, **options: Any) -> ClickHouseStore:
    """A store of app "shop" in ``database``, on a client of its own unless given one."""
    if client is None:
        client = clickhouse_connect.get_client(dsn=dsn)
    return ClickHouseStore(client=client, database=database, app="shop", **options)


def test_writers_of_one_app_at_once_number_each_hit_once_and_streams_miss_none(
    chdb_dsn: str, clickhouse_database: str
) -> None:
    reader = opened(chdb_dsn, clickhouse_database)
    live = reader.subscribe(after=0)
    writers = [
        opened(chdb_dsn, clickhouse_database, flush_interval=0.002, batch_size=40)
        for _ in range(WRITERS)
    ]
    total = WRITERS * HITS_EACH

    def write(k: int, store: ClickHouseStore) -> None:
        for i in range(HITS_EACH):
            # The duration tells each hit apart; nodes are shared between writers.
            store.append(T0 + i, f"page{i % 7}", None, k * HITS_EACH + i + 1.0, None)
            if i % 25 == 24:
                time.sleep(0.001)
        assert store.flush(60)

    threads = [threading.Thread(target=write, args=(k, s)) for k, s in enumerate(writers)]
    for thread in threads:
        thread.start()
    delivered = read_all(live, total, 120)
    for thread in threads:
        thread.join()
    more = live.read(10_000)
    live.close()
    for store in (*writers, reader):
        store.close()

    assert more == []
    assert live.dropped == 0
    assert [hit.seq for hit in delivered] == list(range(1, total + 1))
    assert sorted(hit.duration or 0.0 for hit in delivered) == [
        float(n) for n in range(1, total + 1)
    ]
    # Each node's running total counts its hits once each, in the stream's order.
    running: dict[str, list[int]] = defaultdict(list)
    for hit in delivered:
        running[hit.node].append(hit.node_hits)
    for node, totals in running.items():
        assert totals == list(range(1, len(totals) + 1)), node


class HeldInserts:
    """The real client, whose inserts of hits wait until ``release`` is set: a writer
    that claimed its numbers and is still writing them."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.release = threading.Event()
        self.held = threading.Event()

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        if "pymetrix_hits" in table:
            self.held.set()
            assert self.release.wait(30)
        return self._client.insert(table, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def batch(nodes: list[str], start: int) -> Any:
    count = len(nodes)
    return (
        [T0 + start + i for i in range(count)],
        nodes,
        [None] * count,
        [float(start + i) for i in range(count)],
        [None] * count,
    )


def test_a_stream_waits_for_a_range_claimed_before_and_written_after(
    chdb_dsn: str, clickhouse_database: str
) -> None:
    held = HeldInserts(clickhouse_connect.get_client(dsn=chdb_dsn))
    slow = opened(chdb_dsn, clickhouse_database, held)
    fast, reader = opened(chdb_dsn, clickhouse_database), opened(chdb_dsn, clickhouse_database)
    live = reader.subscribe(after=0)
    first = threading.Thread(target=slow._write, args=(1, batch(["a"] * 5, 0)))
    first.start()
    assert held.held.wait(30)  # numbers 1-5 claimed, not written
    fast._write(2, batch(["a", "b", "a"], 5))  # numbers 6-8 written
    assert not live.wait(0.5)
    assert live.read(100) == []
    held.release.set()
    first.join()
    delivered = read_all(live, 8, 30)
    assert [hit.seq for hit in delivered] == list(range(1, 9))
    assert [hit.duration for hit in delivered] == [float(n) for n in range(8)]
    assert [(hit.node, hit.node_hits) for hit in delivered][4:] == [
        ("a", 5),
        ("a", 6),
        ("b", 1),
        ("a", 7),
    ]
    assert live.dropped == 0
    live.close()
    for store in (slow, fast, reader):
        store.close()


def test_a_range_claimed_and_never_written_is_given_up_after_the_settle_time(
    chdb_dsn: str, clickhouse_database: str
) -> None:
    dead, alive, reader = (opened(chdb_dsn, clickhouse_database, live_settle=1.0) for _ in range(3))
    live = reader.subscribe(after=0)
    # A writer claims numbers 1-4 and dies before writing them.
    with dead._sessions["writer"].use() as client:
        dead._numbering.claim(client, 7, ["a"] * 4)
    alive._write(8, batch(["a", "a"], 0))  # numbers 5-6
    assert live.read(100) == []
    started = time.monotonic()
    delivered = read_all(live, 2, 30)
    assert time.monotonic() - started >= 0.5
    assert [hit.seq for hit in delivered] == [5, 6]
    assert live.dropped == 4
    # The next batch follows at once: nothing more to wait for.
    alive._write(9, batch(["b"], 2))
    assert [hit.seq for hit in read_all(live, 1, 10)] == [7]
    live.close()
    for store in (dead, alive, reader):
        store.close()


@pytest.mark.parametrize("lost", ["claim", "hits"])
def test_a_batch_retried_after_a_lost_reply_keeps_its_numbers(
    chdb_dsn: str, clickhouse_database: str, lost: str
) -> None:
    class LoseOne:
        def __init__(self, client: Any) -> None:
            self._client = client
            self.armed = True

        def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
            result = self._client.insert(table, *args, **kwargs)
            if self.armed and f"pymetrix_{lost}" in table:
                self.armed = False
                raise OSError("connection reset before the reply")
            return result

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

    client = LoseOne(clickhouse_connect.get_client(dsn=chdb_dsn))
    other = opened(chdb_dsn, clickhouse_database)
    store = opened(chdb_dsn, clickhouse_database, client)
    with pytest.raises(OSError, match="before the reply"):
        store._write(11, batch(["a", "b"], 0))
    other._write(12, batch(["a"], 2))  # claims after the lost reply: numbers 3
    store._write(11, batch(["a", "b"], 0))  # the retry: numbers 1-2 again
    live = other.subscribe(after=0)
    delivered = read_all(live, 3, 10)
    assert [(hit.seq, hit.node, hit.node_hits, hit.duration) for hit in delivered] == [
        (1, "a", 1, 0.0),
        (2, "b", 1, 1.0),
        (3, "a", 2, 2.0),
    ]
    live.close()
    store.close()
    other.close()


def test_claims_and_ranges_no_longer_read_are_deleted_and_numbers_go_on(
    chdb_dsn: str, clickhouse_database: str
) -> None:
    client = clickhouse_connect.get_client(dsn=chdb_dsn)

    def count(table: str) -> int:
        rows = client.query(f"SELECT count() FROM `{clickhouse_database}`.`{table}`")
        return int(rows.result_rows[0][0])

    first = opened(chdb_dsn, clickhouse_database)
    first._write(1, batch(["a", "b", "a"], 0))  # numbers 1-3
    first._write(2, batch(["a", "a"], 20))  # numbers 4-5
    for n, nodes in ((3, ["b"]), (4, ["a"])):  # number 6, then 7
        # As if an hour passed: a mark, and the prune of what the last one made old.
        first._numbering._marked_at = first._numbering._pruned_at = -1e9
        first._write(n, batch(nodes, 10 * n))
    assert count("pymetrix_claims") == 2  # claims 1-2 were below the mark of prune one
    assert count("pymetrix_written") == 3  # range 1-3 was below what prune one settled
    second = opened(
        chdb_dsn, clickhouse_database
    )  # starts from the newest mark and the claims after it
    second._write(5, batch(["a", "c"], 100))
    reader = opened(chdb_dsn, clickhouse_database, client, live_settle=0.2)
    live = reader.subscribe(after=0)
    delivered = read_all(live, 9, 30)
    assert [(hit.seq, hit.node, hit.node_hits) for hit in delivered] == [
        (1, "a", 1),
        (2, "b", 1),
        (3, "a", 2),
        (4, "a", 3),
        (5, "a", 4),
        (6, "b", 2),
        (7, "a", 5),
        (8, "a", 6),
        (9, "c", 1),
    ]
    assert live.dropped == 0
    live.close()
    for store in (first, second, reader):
        store.close()


@pytest.mark.parametrize("settle", [0, -1, 3601, "10", True, float("nan")])
def test_live_settle_must_be_seconds_up_to_an_hour(chdb_client: Any, settle: Any) -> None:
    with pytest.raises(InvalidArgument, match="live_settle"):
        ClickHouseStore(client=chdb_client, live_settle=settle)


def test_live_settle_is_a_url_option() -> None:
    from pymetrix.store._options import split_options
    from pymetrix.store.clickhouse import _CLICKHOUSE_OPTIONS

    bare, options = split_options(
        "clickhouse://h/db?live_settle=2.5", "shown", _CLICKHOUSE_OPTIONS, keep_unknown=False
    )
    assert (bare, options) == ("clickhouse://h/db", {"live_settle": 2.5})
    with pytest.raises(StoreError, match="live_settle"):
        split_options(
            "clickhouse://h/db?live_settle=0", "shown", _CLICKHOUSE_OPTIONS, keep_unknown=False
        )
