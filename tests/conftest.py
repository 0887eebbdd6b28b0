"""Fixtures shared by every test.

PostgreSQL: by default a throwaway cluster is started from the machine's PostgreSQL
binaries for the test session and removed after it. Set ``PYMETRIX_TEST_POSTGRES_URL``
(e.g. ``postgresql://user:password@host:5432/postgres``) to use an existing server
instead; its user needs the right to create databases, as each test gets a new one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create databases on."""
    existing = os.environ.get("PYMETRIX_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    from .pgcluster import Cluster  # imports psycopg: only where PostgreSQL is tested

    cluster = Cluster()
    try:
        yield cluster.url
    finally:
        cluster.destroy()


def database_url(server: str, name: str) -> str:
    """``server`` with its database replaced by ``name``."""
    parts = urlsplit(server)
    return parts._replace(path=f"/{name}").geturl()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    import psycopg  # only where PostgreSQL is tested

    name = f"pymetrix_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(postgres_server, name)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The chDB data directory of this test session, as a clickhouse-connect DSN: chDB
    (ClickHouse in this process) allows one per process, for any number of clients."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture(scope="session")
def chdb_client(chdb_dsn: str) -> object:
    """A clickhouse-connect client over the session's chDB."""
    import clickhouse_connect  # only where ClickHouse is tested

    return clickhouse_connect.get_client(dsn=chdb_dsn)


@pytest.fixture
def clickhouse_database(chdb_client: object) -> Iterator[str]:
    """The name of a new database for one test on the session's chDB; dropped afterwards."""
    name = f"pymetrix_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        chdb_client.command(f"DROP DATABASE IF EXISTS `{name}`")  # type: ignore[attr-defined]
