"""The ClickHouse store: the contract over chDB (and a real server when
``PYMETRIX_CLICKHOUSE_URL`` names one), its schema, exactly-once writes and URLs."""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from pymetrix import Clock, ManualClock, Metrics
from pymetrix.errors import InvalidArgument, StoreError
from pymetrix.store import Query, Store
from pymetrix.store._clickhouse_schema import ddl
from pymetrix.store._rollup import DAY, HOUR, SECOND, percentiles, row_percentiles
from pymetrix.store._sketch import Sketch
from pymetrix.store.clickhouse import ClickHouseStore, client_settings
from pymetrix.testing import StoreContract

from .conftest import START

SERVER_URL = os.environ.get("PYMETRIX_CLICKHOUSE_URL")
START_NS = int(START.timestamp()) * SECOND


class TestClickHouseStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, chdb_client: Any, clickhouse_database: str) -> None:
        self.client = chdb_client
        self.database = clickhouse_database

    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        return ClickHouseStore(
            client=self.client,
            database=self.database,
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=0.02,
        )


class ServerStoreContract(StoreContract):
    """The contract against the server ``PYMETRIX_CLICKHOUSE_URL`` names, collected only
    when it names one (so that no run reports it skipped)."""

    @pytest.fixture(autouse=True)
    def _database(self) -> Iterator[None]:
        assert SERVER_URL is not None
        self.database = f"pymetrix_test_{uuid.uuid4().hex[:12]}"
        yield
        import clickhouse_connect

        from pymetrix.store.clickhouse import client_settings

        settings, _ = client_settings(SERVER_URL.split("?", 1)[0])
        clickhouse_connect.get_client(**settings).command(
            f"DROP DATABASE IF EXISTS `{self.database}`"
        )

    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        assert SERVER_URL is not None
        return ClickHouseStore(
            SERVER_URL,
            database=self.database,
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=0.02,
        )


if SERVER_URL is not None:
    TestClickHouseServerStore = ServerStoreContract


# -- exactly once ----------------------------------------------------------------------


class LosingReplies:
    """The real client, whose next ``lose`` inserts reach the database and then fail as
    if the connection dropped before the reply came back (chDB runs in this process:
    there is no socket to cut)."""

    def __init__(self, client: Any, lose: int) -> None:
        self._client = client
        self.lose = lose
        self.lost = 0

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        result = self._client.insert(*args, **kwargs)
        if self.lose > 0:
            self.lose -= 1
            self.lost += 1
            raise OperationalError("connection lost before the reply")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def stored_durations(metrics: Metrics) -> Counter[float | None]:
    """How many times each hit, told apart by its duration, is stored."""
    series = metrics.time_series(detail=True)
    return Counter(c["duration"] for node in series["nodes"] for c in node["callers"])


def test_replies_lost_after_the_insert_store_no_batch_twice(
    chdb_client: Any, clickhouse_database: str
) -> None:
    client = LosingReplies(chdb_client, lose=5)
    store = ClickHouseStore(
        client=client, database=clickhouse_database, flush_interval=0.01, batch_size=200
    )
    recorded = 3000
    with Metrics("default", store=store, clock=ManualClock(START, step=0.001)) as metrics:
        for i in range(recorded):
            metrics.hit(f"page{i % 5}", duration=(i + 1) / 1e6)
            if i % 100 == 99:
                time.sleep(0.01)
        assert metrics.flush(60)
        assert client.lost == 5
        stored = stored_durations(metrics)
        assert metrics.dropped == 0
        assert sum(row["hits"] for row in metrics.aggregate()) == recorded
        rollups = metrics.series(step="1d")["nodes"]
        assert sum(node["total"] for node in rollups) == recorded
        live = store.subscribe(after=0)
        seqs = [hit.seq for hit in live.read(recorded + 10)]
        live.close()
    store.close()
    assert sum(stored.values()) == recorded
    assert max(stored.values()) == 1
    assert set(stored) == {(i + 1) / 1e6 for i in range(recorded)}
    assert seqs == list(range(1, recorded + 1))


def test_a_batch_written_again_under_its_id_is_stored_once(
    chdb_client: Any, clickhouse_database: str
) -> None:
    with ClickHouseStore(client=chdb_client, database=clickhouse_database) as store:
        columns = (
            [1, 2, 3],
            ["Home", "Blog", "Home"],
            [None, "Home", None],
            [None] * 3,
            [None] * 3,
        )
        store._write(42, columns)
        store._write(42, columns)
        store._write(43, columns)
        metrics = Metrics("default", store=store)
        assert metrics.aggregate() == [{"id": "Home", "hits": 4}, {"id": "Blog", "hits": 2}]
        assert metrics.flow() == [
            {"caller": None, "id": "Home", "hits": 4},
            {"caller": "Home", "id": "Blog", "hits": 2},
        ]


# -- schema ----------------------------------------------------------------------------


def test_a_database_of_a_newer_schema_is_refused(
    chdb_client: Any, clickhouse_database: str
) -> None:
    ClickHouseStore(client=chdb_client, database=clickhouse_database).close()
    chdb_client.command(
        f"INSERT INTO `{clickhouse_database}`.pymetrix_meta VALUES ('schema_version', '99')"
    )
    with pytest.raises(StoreError, match="newer Pymetrix"):
        ClickHouseStore(client=chdb_client, database=clickhouse_database)


def test_a_foreign_pymetrix_hits_table_is_refused(
    chdb_client: Any, clickhouse_database: str
) -> None:
    chdb_client.command(f"CREATE DATABASE `{clickhouse_database}`")
    chdb_client.command(
        f"CREATE TABLE `{clickhouse_database}`.pymetrix_hits (x Int64) "
        "ENGINE = MergeTree ORDER BY x"
    )
    with pytest.raises(StoreError, match="not a Pymetrix database"):
        ClickHouseStore(client=chdb_client, database=clickhouse_database)


def test_read_only_refuses_a_database_without_pymetrix_data(
    chdb_client: Any, clickhouse_database: str
) -> None:
    with pytest.raises(StoreError, match="no Pymetrix data"):
        ClickHouseStore(client=chdb_client, database=clickhouse_database, read_only=True)


def test_the_schema_is_made_for_the_engine(chdb_client: Any, clickhouse_database: str) -> None:
    ClickHouseStore(client=chdb_client, database=clickhouse_database).close()
    engines = dict(
        chdb_client.query(
            "SELECT name, if(engine_full = '', engine, engine_full) FROM system.tables "
            "WHERE database = {db:String}",
            parameters={"db": clickhouse_database},
        ).result_rows
    )
    hits = engines["pymetrix_hits"]
    assert hits.startswith("MergeTree PARTITION BY toYYYYMMDD(")
    assert "ORDER BY (app, node, time)" in hits
    assert "TTL " in hits
    assert "non_replicated_deduplication_window = 10000" in hits
    for table in ("pymetrix_counts", "pymetrix_edges", "pymetrix_rollups"):
        assert engines[table].startswith("AggregatingMergeTree")
    assert "TTL expires" in engines["pymetrix_rollups"]
    assert engines["pymetrix_rollups_mv"] == "MaterializedView"


@pytest.mark.parametrize("database", ["x; DROP TABLE y", "1abc", "a-b", "", "é"])
def test_database_names_must_be_plain_identifiers(chdb_client: Any, database: str) -> None:
    with pytest.raises(StoreError, match="invalid ClickHouse database"):
        ClickHouseStore(client=chdb_client, database=database)


def test_on_a_cluster_tables_are_replicated_and_distributed_by_node() -> None:
    # No cluster runs here: this checks the statements the store sends.
    statements = ddl("analytics", "main")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `analytics` ON CLUSTER `main`"
    assert all(" ON CLUSTER `main`" in statement for statement in statements)
    hits_local = next(s for s in statements if ".`pymetrix_hits_local` ON" in s)
    assert "ENGINE = ReplicatedMergeTree ORDER BY (app, node, time)" in hits_local
    hits = next(s for s in statements if ".`pymetrix_hits` ON" in s)
    assert hits.endswith(
        "ENGINE = Distributed(`main`, `analytics`, `pymetrix_hits_local`, cityHash64(node))"
    )
    rollups = next(s for s in statements if ".`pymetrix_rollups_local` ON" in s)
    assert "ENGINE = ReplicatedAggregatingMergeTree" in rollups
    claims = next(s for s in statements if ".`pymetrix_claims_local` ON" in s)
    assert "ENGINE = ReplicatedMergeTree ORDER BY (app, at)" in claims
    assert "enable_block_number_column = 1" in claims
    marks = next(s for s in statements if ".`pymetrix_marks_local` ON" in s)
    assert "ENGINE = ReplicatedReplacingMergeTree(block) ORDER BY (app)" in marks
    quantiles = next(s for s in statements if ".`pymetrix_quantiles_local` ON" in s)
    assert "ENGINE = ReplicatedReplacingMergeTree(hits) ORDER BY (app, tier, node, bucket)" in (
        quantiles
    )
    assert next(s for s in statements if ".`pymetrix_quantiles` ON" in s).endswith(
        "`pymetrix_quantiles_local`, cityHash64(node))"
    )
    for table in ("pymetrix_claims", "pymetrix_marks", "pymetrix_written"):
        distributed = next(s for s in statements if f".`{table}` ON" in s)
        assert distributed.endswith(f"`{table}_local`, cityHash64(app))")
    views = [s for s in statements if "MATERIALIZED VIEW" in s]
    assert len(views) == 5
    assert all("FROM `analytics`.`pymetrix_hits_local`" in view for view in views)
    assert all("_local` AS SELECT" in view for view in views)
    single = ddl("analytics")
    assert not any("ON CLUSTER" in s or "Replicated" in s or "Distributed" in s for s in single)


# -- URLs ------------------------------------------------------------------------------


def test_urls_name_the_server_the_database_and_tls() -> None:
    assert client_settings("clickhouses://u:p%40ss@db.example:9440/analytics") == (
        {
            "host": "db.example",
            "port": 9440,
            "username": "u",
            "password": "p@ss",
            "secure": True,
            "connect_timeout": 5,
        },
        "analytics",
    )
    settings, database = client_settings("clickhouse://db")
    assert (settings["port"], settings["username"], settings["secure"], database) == (
        8123,
        "default",
        False,
        None,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("clickhouse://db/x?cluster=a-b", "invalid store URL option cluster"),
        ("clickhouse://db/x?batch_size=0", "invalid store URL option batch_size"),
        ("clickhouse://db/x?secure=1", "unknown store URL option 'secure'"),
        ("clickhouse:///x", "names no host"),
        ("clickhouse://db/x-y", "invalid ClickHouse database"),
    ],
)
def test_bad_urls_are_a_store_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        Metrics("Test", store=url)


def test_a_server_that_does_not_answer_keeps_hits_buffered() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ClickHouseStore(f"clickhouse://127.0.0.1:{port}/x", connect_timeout=1)
    try:
        store.append(1, "Home", None, None, None)
        backlog = store.backlog()
        assert backlog.failing
        assert backlog.queued == 1
        with pytest.raises(StoreError, match="cannot read from the clickhouse store"):
            store.counts(Query())
    finally:
        store.close(timeout=0.1)
    assert store.dropped == 1


def test_the_server_bins_durations_as_the_python_sketch_does(
    chdb_client: Any, clickhouse_database: str
) -> None:
    rng = random.Random(7)
    durations = [10 ** rng.uniform(-7, 3) for _ in range(2000)] + [0.0, 1e-6, 0.5, 1.0]
    with ClickHouseStore(client=chdb_client, database=clickhouse_database) as store:
        for k, duration in enumerate(durations):
            store.append(k, "Home", None, duration, 200)
        assert store.flush(30)
        rows = store.rollups(DAY, 0, DAY, None)
    expected = Sketch()
    for duration in durations:
        expected.add(duration)
    assert rows.nodes[0, "Home"].sketch == expected
    assert rows.nodes[0, "Home"].timed == len(durations)


@pytest.mark.parametrize("given", ["neither", "both"])
def test_a_store_takes_a_url_or_a_client(chdb_client: Any, given: str) -> None:
    url, client = (None, None) if given == "neither" else ("clickhouse://db/x", chdb_client)
    with pytest.raises(InvalidArgument, match="a clickhouse:// URL or a client, not both"):
        ClickHouseStore(url, client=client)


def test_quantiles_kept_by_row_add_up_rows_of_parts_not_merged(
    chdb_client: Any, clickhouse_database: str
) -> None:
    # Each flush is an insert, and with merges stopped each stays a part of its own:
    # a bucket and node then has several stored rows, whose sketches must be summed.
    rng = random.Random(3)
    batches: list[dict[str, list[float | None]]] = [
        {"Home": [10 ** rng.uniform(-4, 1) for _ in range(300)], "Cart": [0.2] * 5},
        {"Home": [10 ** rng.uniform(-2, 2) for _ in range(200)], "Cart": [None] * 3},
        {"Home": [None, 3.0, 0.0], "Quiet": [None]},
    ]
    with ClickHouseStore(client=chdb_client, database=clickhouse_database) as store:
        chdb_client.command(f"SYSTEM STOP MERGES `{clickhouse_database}`.`pymetrix_rollups`")
        expected: dict[str, Sketch] = {}
        k = 0
        for batch in batches:
            for node, durations in batch.items():
                sketch = expected.setdefault(node, Sketch())
                for duration in durations:
                    k += 1
                    store.append(START_NS + k, node, None, duration, 200)
                    if duration is not None:
                        sketch.add(duration)
            assert store.flush(30)
        parts = chdb_client.query(
            "SELECT count() FROM system.parts WHERE active AND database = {db:String} "
            "AND table = 'pymetrix_rollups'",
            parameters={"db": clickhouse_database},
        ).result_rows[0][0]
        assert parts == len(batches)
        lo = START_NS - START_NS % HOUR
        for ids in (None, frozenset({"Home", "Quiet"})):
            kept = store.rollups(HOUR, lo, lo + HOUR, ids, sketches=False, quantiles=True)
            summed = store.rollups(HOUR, lo, lo + HOUR, ids)
            assert kept.nodes.keys() == summed.nodes.keys()
            assert {node for _, node in kept.nodes} == (ids or set(expected))
            for (bucket, node), row in kept.nodes.items():
                assert row.quantiles == percentiles(expected[node])
                assert row.quantiles == row_percentiles([summed.nodes[bucket, node]])[0]
                assert row.hits == summed.nodes[bucket, node].hits
                assert row.timed == summed.nodes[bucket, node].timed
                assert row.errors == summed.nodes[bucket, node].errors
                assert row.first_ns == summed.nodes[bucket, node].first_ns
                assert row.duration_sum == pytest.approx(summed.nodes[bucket, node].duration_sum)


def test_a_closed_buckets_quantiles_are_kept_and_taken_again_after_a_late_hit(
    chdb_client: Any, clickhouse_database: str
) -> None:
    def kept_rows() -> list[tuple[Any, ...]]:
        return [
            tuple(row)
            for row in chdb_client.query(
                "SELECT tier, node, hits, p50, p95, p99 FROM "
                f"`{clickhouse_database}`.`pymetrix_quantiles` ORDER BY node, hits"
            ).result_rows
        ]

    lo = START_NS - START_NS % HOUR
    clock = ManualClock(START + timedelta(minutes=30))  # the hour is still open
    with ClickHouseStore(client=chdb_client, database=clickhouse_database, clock=clock) as store:
        for k in range(100):
            store.append(lo + k, "Home", None, 0.01, None)
            store.append(lo + k, "Cart", None, 0.2, None)
        assert store.flush(30)
        before = store.rollups(HOUR, lo, lo + HOUR, None, sketches=False, quantiles=True)
        assert kept_rows() == []  # an open bucket's quantiles are not kept
        clock.advance(3600)
        closed = store.rollups(HOUR, lo, lo + HOUR, None, sketches=False, quantiles=True)
        assert closed.nodes == before.nodes
        assert len(kept_rows()) == 2
        assert {row[:3] for row in kept_rows()} == {(3600, "Home", 100), (3600, "Cart", 100)}
        # 300 late hits of 1 s: Home's p50 is now theirs, not what was kept.
        for k in range(300):
            store.append(lo + 1000 + k, "Home", None, 1.0, None)
        assert store.flush(30)
        late = store.rollups(HOUR, lo, lo + HOUR, None, sketches=False, quantiles=True)
        home = late.nodes[lo, "Home"]
        assert home.hits == 400
        assert (
            home.quantiles
            == row_percentiles([store.rollups(HOUR, lo, lo + HOUR, None).nodes[lo, "Home"]])[0]
        )
        assert home.quantiles[0] == pytest.approx(1.0, rel=0.015)  # the sketch: 1 %, rounded
        assert late.nodes[lo, "Cart"] == closed.nodes[lo, "Cart"]
        assert [row[:3] for row in kept_rows()] == [
            (3600, "Cart", 100),
            (3600, "Home", 100),
            (3600, "Home", 400),
        ]
    with ClickHouseStore(
        client=chdb_client, database=clickhouse_database, clock=clock, read_only=True
    ) as reader:
        chdb_client.command(f"TRUNCATE TABLE `{clickhouse_database}`.`pymetrix_quantiles`")
        again = reader.rollups(HOUR, lo, lo + HOUR, None, sketches=False, quantiles=True)
        assert again.nodes == late.nodes
        assert kept_rows() == []  # a read-only store keeps nothing
