"""PostgreSQL going away under a writing process: every hit written once, none twice.

A child records tagged hits at a steady rate while the server is restarted, or the
writer's session terminated, again and again; then it flushes and closes, and the store
must hold exactly what it recorded less what it reported dropped, each hit once.

The server of this module syncs its WAL to disk at each commit, as a production server
does (the session's shared server does not, for speed). A session terminated while it
commits has committed, yet its client sees the connection drop; to make that window wide
enough to be hit every run, the test of terminated sessions has its database wait 2 ms
before each commit's flush (``commit_delay``, a setting of real servers, which they apply
only with fsync on).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from ..pgcluster import Cluster, running_cluster
from .conftest import Spawn, audit

RESTARTS = 5
# Within the default max_buffer (a million hits) for any outage below ten seconds.
RESTART_RATE = 20_000
TERMINATE_FOR = 10.0
TERMINATE_RATE = 20_000

_TERMINATE = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster(fsync=True) as cluster:
        yield cluster


@pytest.fixture
def database(cluster: Cluster) -> str:
    return cluster.create_database(f"faults_{uuid.uuid4().hex[:12]}")


def test_server_restarted_in_a_loop_stores_each_recorded_hit_once(
    cluster: Cluster, database: str, spawn: Spawn
) -> None:
    rng = random.Random(2)
    url = f"{database}?flush_interval=0.05"
    child = spawn(url, 0, "--rate", str(RESTART_RATE))
    child.send("flush")
    assert child.expect("flushed")[1] == "True"
    for _ in range(RESTARTS):
        time.sleep(rng.uniform(0.3, 0.8))
        cluster.stop()
        time.sleep(rng.uniform(0.3, 0.8))
        cluster.start()
    time.sleep(0.5)
    report = child.stop()
    found = audit(url)
    print(
        f"restarts={RESTARTS} recorded={report.recorded} stored={found.stored} "
        f"dropped={report.dropped} duplicated={found.duplicated}"
    )
    assert report.flushed
    assert found.foreign([range(report.recorded)]) == []
    assert found.duplicated == 0
    assert found.stored == found.counted == report.recorded - report.dropped
    assert report.dropped == 0
    log = child.stderr()
    assert "cannot write hits, keeping them buffered and retrying" in log
    assert "writing again" in log


def test_writer_session_terminated_in_a_loop_stores_each_recorded_hit_once(
    database: str, spawn: Spawn
) -> None:
    rng = random.Random(3)
    with psycopg.connect(database, autocommit=True) as conn:
        # Every session of this database waits 2 ms before flushing a commit to disk.
        for setting, value in (("commit_delay", 2000), ("commit_siblings", 0)):
            conn.execute(f"ALTER DATABASE {conn.info.dbname} SET {setting} = {value}")
    url = f"{database}?batch_size=500&flush_interval=0.05"
    child = spawn(url, 0, "--rate", str(TERMINATE_RATE))
    child.send("flush")
    assert child.expect("flushed")[1] == "True"
    kills = 0
    with psycopg.connect(database, autocommit=True) as conn:
        deadline = time.monotonic() + TERMINATE_FOR
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.05, 0.2))
            row = conn.execute(_TERMINATE).fetchone()
            assert row is not None
            kills += row[0]
    report = child.stop()
    found = audit(url)
    print(
        f"kills={kills} recorded={report.recorded} stored={found.stored} "
        f"dropped={report.dropped} duplicated={found.duplicated}"
    )
    assert report.flushed
    assert found.foreign([range(report.recorded)]) == []
    assert found.duplicated == 0
    assert found.stored == found.counted == report.recorded - report.dropped
    assert "cannot write hits, keeping them buffered and retrying" in child.stderr()
