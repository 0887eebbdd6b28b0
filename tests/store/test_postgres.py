"""The PostgreSQL store: restarts it rides out, servers it cannot reach, schemas it refuses."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

import psycopg
import pytest

from pymetrix import Metrics, MissingDependency, StoreError
from pymetrix.store import mask_url
from pymetrix.store.postgres import PostgresStore

from ..conftest import database_url
from ..pgcluster import running_cluster
from .conftest import MakeMetrics


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_postgresql_and_postgres_schemes_open_the_same_store(
    postgres_url: str, make_metrics: MakeMetrics
) -> None:
    first = make_metrics(store=postgres_url)
    alias = postgres_url.replace("postgresql://", "postgres://", 1)
    second = make_metrics(store=alias)
    assert isinstance(second.store, PostgresStore)
    first.hit("Home")
    assert second.aggregate() == []  # not flushed by second: read sees flushed hits only
    assert first.flush(timeout=10)
    assert second.aggregate() == [{"id": "Home", "hits": 1}]


def test_unreachable_at_start_is_logged_and_read_as_a_store_error_with_the_password_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://pymetrix:s3cret-pw@127.0.0.1:{closed_port()}/db?connect_timeout=1"
    with (
        Metrics("Test", store=url) as metrics,
        pytest.raises(StoreError, match="cannot read from the postgresql store") as caught,
    ):
        metrics.aggregate()
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "pymetrix:***@127.0.0.1" in message
    assert caught.value.url is not None
    assert "s3cret-pw" not in caught.value.url
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("cannot connect at start" in m and "pymetrix:***@" in m for m in logged)
    assert not any("s3cret-pw" in m for m in logged)


def test_unreachable_at_start_boots_buffers_and_creates_the_schema_once_the_server_is_there(
    make_metrics: MakeMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    with running_cluster() as cluster:
        url = cluster.create_database("late")
        cluster.stop()
        metrics = make_metrics(store=url + "?flush_interval=0.02&max_buffer=1000")
        for _ in range(1200):
            metrics.hit("early")  # the app serves while the database is down
        assert metrics.flush(timeout=0.3) is False
        backlog = metrics.backlog()
        assert (backlog.queued, backlog.dropped, backlog.failing) == (1000, 200, True)
        with pytest.raises(StoreError, match="cannot read"):
            metrics.aggregate()
        cluster.start()
        assert metrics.flush(timeout=60)
        assert metrics.aggregate() == [{"id": "early", "hits": 1000}]
        assert metrics.dropped == 200
        metrics.close()
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT name FROM pymetrix_apps").fetchall() == [("Test",)]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("cannot connect at start" in m for m in messages)
    assert any("connected; writing the hits kept meanwhile" in m for m in messages)


def test_unreachable_at_start_then_a_newer_schema_keeps_hits_buffered_and_says_why(
    make_metrics: MakeMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    with running_cluster() as cluster:
        url = cluster.create_database("newer")
        with Metrics("Other", store=url):
            pass
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE pymetrix_meta SET value = '99' WHERE key = 'schema_version'")
        cluster.stop()
        metrics = make_metrics(store=url + "?flush_interval=0.02")
        metrics.hit("Home")
        cluster.start()
        assert metrics.flush(timeout=2) is False
        assert metrics.backlog().queued == 1
        with pytest.raises(StoreError, match=r"newer Pymetrix \(schema version 99"):
            metrics.aggregate()
        messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("schema version 99" in m for m in messages)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT name FROM pymetrix_apps").fetchall() == [("Other",)]


def test_unreachable_at_start_then_no_right_to_create_the_tables_keeps_hits_for_a_retry(
    make_metrics: MakeMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    with running_cluster() as cluster:
        owner_url = cluster.create_database("locked")
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute("CREATE ROLE visitor LOGIN")
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        url = owner_url.replace("://postgres@", "://visitor@", 1)
        cluster.stop()
        metrics = make_metrics(store=url + "?flush_interval=0.02")
        metrics.hit("Home")
        cluster.start()
        with pytest.raises(StoreError, match="permission denied"):
            metrics.aggregate()
        assert metrics.flush(timeout=1) is False
        # Not the batch's fault: kept for a retry, not set aside.
        assert metrics.quarantine == []
        assert metrics.backlog().queued == 1
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute("GRANT CREATE ON SCHEMA public TO visitor")
        assert metrics.flush(timeout=30)
        assert metrics.aggregate() == [{"id": "Home", "hits": 1}]
        metrics.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("permission denied" in m for m in messages)


def test_a_server_that_answers_but_refuses_the_login_fails_at_start(
    postgres_server: str,
) -> None:
    url = postgres_server.replace("://postgres@", "://no_such_role@", 1)
    assert url != postgres_server
    with pytest.raises(StoreError, match="no_such_role"):
        Metrics("Test", store=url)


def test_read_only_an_unreachable_server_fails_at_start() -> None:
    url = f"postgresql://u@127.0.0.1:{closed_port()}/db?connect_timeout=1"
    with pytest.raises(StoreError, match="cannot open the postgresql store"):
        Metrics("Test", store=url, read_only=True)


def test_database_of_a_newer_schema_is_refused_unchanged(postgres_url: str) -> None:
    with Metrics("Test", store=postgres_url) as metrics:
        metrics.hit("Home")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE pymetrix_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match=r"newer Pymetrix \(schema version 99"):
        Metrics("Other", store=postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT name FROM pymetrix_apps").fetchall() == [("Test",)]
        assert conn.execute("SELECT value FROM pymetrix_meta").fetchall() == [("99",)]


def test_read_only_a_database_without_pymetrix_data_is_refused_and_left_empty(
    postgres_url: str,
) -> None:
    with pytest.raises(StoreError, match="no Pymetrix data"):
        Metrics("Test", store=postgres_url, read_only=True)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('pymetrix_meta')").fetchone() == (None,)


def test_read_only_reads_and_registers_no_app(postgres_url: str) -> None:
    with Metrics("shop", store=postgres_url) as writer:
        writer.hit("Home")
    with Metrics("blog", store=postgres_url, read_only=True) as reader:
        assert reader.aggregate() == []
        assert [app.app for app in reader.store.apps()] == ["shop"]
        with pytest.raises(StoreError, match="read-only"):
            reader.hit("Post")
    with Metrics("shop", store=postgres_url, read_only=True) as shop:
        assert shop.aggregate() == [{"id": "Home", "hits": 1}]


def test_schema_lives_beside_other_tables_of_the_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hits (id int)")
    with Metrics("Test", store=postgres_url) as metrics:
        metrics.hit("Home")
        assert metrics.aggregate() == [{"id": "Home", "hits": 1}]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM hits").fetchone() == (0,)


def test_restart_mid_run_loses_nothing_within_the_buffer(
    make_metrics: MakeMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    with running_cluster() as cluster:
        url = cluster.create_database("restart") + "?flush_interval=0.02"
        metrics = make_metrics(store=url)
        for _ in range(1000):
            metrics.hit("before")
        assert metrics.flush(timeout=10)
        cluster.stop()
        for _ in range(1000):
            metrics.hit("during", caller="before")  # the app keeps serving
        assert metrics.flush(timeout=0.3) is False
        with pytest.raises(StoreError, match="cannot read"):
            metrics.aggregate()
        cluster.start()
        assert metrics.flush(timeout=60)
        assert metrics.aggregate() == [
            {"id": "before", "hits": 1000},
            {"id": "during", "hits": 1000},
        ]
        assert metrics.dropped == 0
        metrics.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("cannot write hits" in m for m in messages)
    assert any("writing again" in m for m in messages)


def test_missing_psycopg_raises_missing_dependency_naming_the_extra() -> None:
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from pymetrix import Metrics, MissingDependency\n"
        "try:\n"
        "    Metrics('Test', store='postgresql://u@127.0.0.1/db')\n"
        "except MissingDependency as exc:\n"
        "    print(type(exc).__name__, exc.extra, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("MissingDependency postgres ")
    assert "pip install 'pymetrix[postgres]'" in result.stdout
    assert issubclass(MissingDependency, ImportError)


def test_missing_database_is_a_store_error_naming_the_url(postgres_server: str) -> None:
    url = database_url(postgres_server, "no_such_database")
    with pytest.raises(StoreError, match="no_such_database") as caught:
        Metrics("Test", store=url)
    assert caught.value.url == mask_url(url)


def test_bad_option_is_a_store_error_with_the_password_masked() -> None:
    url = "postgresql://pymetrix:s3cret-pw@127.0.0.1:5432/db?batch_size=lots"
    with pytest.raises(StoreError, match="batch_size='lots': expected an int >= 1") as caught:
        Metrics("Test", store=url)
    assert "s3cret-pw" not in str(caught.value)
    assert caught.value.url == "postgresql://pymetrix:***@127.0.0.1:5432/db?batch_size=lots"


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("connect_timeout=0", "connect_timeout='0': expected seconds >= 1"),
        ("max_buffer=0", "max_buffer='0': expected an int >= 1"),
        ("flush_interval=-1", "flush_interval='-1': expected seconds > 0"),
    ],
)
def test_invalid_option_values_are_store_errors_before_connecting(query: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        Metrics("Test", store=f"postgresql://u@127.0.0.1:{closed_port()}/db?{query}")


def test_an_option_neither_pymetrix_nor_libpq_knows_is_a_store_error(postgres_url: str) -> None:
    with pytest.raises(StoreError, match="flush_every"):
        Metrics("Test", store=f"{postgres_url}?flush_every=1")
