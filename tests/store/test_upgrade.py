"""Databases of older schemas are upgraded on open. One written before rollups (version
3) gets rollups back-filled from the hits it holds; one written before the five-minute
and six-hour tiers and kept quantiles (version 4) gets those from its minute and hour
rows. Every read answers as before, and as from the hits."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pymetrix import ManualClock, Metrics
from pymetrix.store import _sql_rollups
from pymetrix.store._rollup import Indexed, percentiles
from pymetrix.store._schema import SCHEMA_VERSION
from pymetrix.store._sketch import decode

START = datetime(2022, 1, 9, 18, 26, 51)


def as_version_3(connect: Callable[[], Any]) -> None:
    """Make a database of this version into one as version 3 left it: no rollups."""
    conn = connect()
    try:
        conn.execute("DROP TABLE pymetrix_rollups")
        conn.execute("DROP TABLE pymetrix_rollup_edges")
        conn.execute("UPDATE pymetrix_meta SET value = '3' WHERE key = 'schema_version'")
        conn.commit()
    finally:
        conn.close()


def record(url: str) -> dict[str, Any]:
    """Hits over three days on two apps; what the reads said before the upgrade."""
    answers = {}
    for app in ("shop", "blog"):
        clock = ManualClock(START)
        with Metrics(app, store=url, clock=clock) as metrics:
            for k in range(500):
                clock.set(START + timedelta(seconds=k * 517))
                metrics.hit(
                    f"/{app}/{k % 3}",
                    caller=None if k % 4 == 0 else f"/{app}/{(k + 1) % 3}",
                    duration=(k % 11) / 1000 or None,
                    status=503 if k % 13 == 0 else 200,
                )
            answers[app] = {
                "aggregate": metrics.aggregate(),
                "window": metrics.aggregate(since=START + timedelta(hours=7)),
                "flow": metrics.flow(since=START + timedelta(hours=7)),
                "stats": metrics.aggregate(stats=True),
            }
    return answers


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Callable[[], Any]]:
    """A store URL of each kind, and how to connect to its database with its driver."""
    if request.param == "sqlite":
        path = tmp_path / "pymetrix.db"
        return f"sqlite:///{path}", lambda: sqlite3.connect(path)
    url = request.getfixturevalue("postgres_url")
    return url, lambda: psycopg.connect(url)


def test_a_version_3_database_gets_rollups_of_its_hits_on_open(
    database: tuple[str, Callable[[], Any]],
) -> None:
    url, connect = database

    before = record(url)
    as_version_3(connect)
    for app in ("shop", "blog"):
        with Metrics(app, store=url, clock=ManualClock(START)) as metrics:
            assert metrics.aggregate() == before[app]["aggregate"]
            assert metrics.aggregate(since=START + timedelta(hours=7)) == before[app]["window"]
            assert metrics.flow(since=START + timedelta(hours=7)) == before[app]["flow"]
            assert metrics.aggregate(stats=True) == before[app]["stats"]
            day = metrics.series(step="1d", since=START, until=START + timedelta(days=3))
            assert sum(node["total"] for node in day["nodes"]) == 500
    conn = connect()
    try:
        (version,) = conn.execute(
            "SELECT value FROM pymetrix_meta WHERE key = 'schema_version'"
        ).fetchone()
        (rows,) = conn.execute("SELECT COUNT(*) FROM pymetrix_rollups").fetchone()
    finally:
        conn.close()
    assert version == str(SCHEMA_VERSION)
    assert rows > 0


def as_version_4(connect: Callable[[], Any]) -> tuple[int, int]:
    """Make a database of this version into one as version 4 left it: no quantiles kept,
    no five-minute or six-hour rows, and minute rows only for the 14 days before the
    newest (the minute tier's expiry); the oldest minute and hour buckets left (s)."""
    conn = connect()
    try:
        for column in ("p50", "p95", "p99"):
            conn.execute(f"ALTER TABLE pymetrix_rollups DROP COLUMN {column}")
        (newest,) = conn.execute(
            "SELECT MAX(bucket) FROM pymetrix_rollups WHERE tier = 60"
        ).fetchone()
        kept = newest + 60 - 14 * 86400
        conn.execute("DROP TABLE pymetrix_rollup_tiers")
        for table in ("pymetrix_rollups", "pymetrix_rollup_edges"):
            conn.execute(f"DELETE FROM {table} WHERE tier IN (300, 21600)")
            conn.execute(f"DELETE FROM {table} WHERE tier = 60 AND bucket + 60 <= {kept}")
        conn.execute("UPDATE pymetrix_meta SET value = '4' WHERE key = 'schema_version'")
        conn.commit()
        oldest = "SELECT MIN(bucket) FROM pymetrix_rollups WHERE tier = %d"
        (minute,) = conn.execute(oldest % 60).fetchone()
        (hour,) = conn.execute(oldest % 3600).fetchone()
    finally:
        conn.close()
    return int(minute), int(hour)


def eager_upsert(conn: Any, dialect: Any, app: int, minutes: Indexed) -> None:
    """How version 4 wrote rollups: every tier's rows with each batch."""
    for size, rows in _sql_rollups.tiers(minutes):
        _sql_rollups._add(conn, dialect, app, size, rows)


def test_a_version_4_database_gets_the_new_tiers_and_kept_quantiles_on_open(
    database: tuple[str, Callable[[], Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, connect = database

    days = {f"day {n}": (START + timedelta(days=n), START + timedelta(days=n + 1)) for n in (0, 16)}

    def series(step: str, since: datetime, until: datetime) -> Callable[[Metrics], Any]:
        return lambda m: m.series(step=step, since=since, until=until)

    reads: dict[str, Callable[[Metrics], Any]] = {
        "stats": lambda m: m.aggregate(stats=True),
        "early window": lambda m: m.aggregate(
            stats=True, since=START + timedelta(hours=7), until=START + timedelta(days=2)
        ),
        "flow": lambda m: m.flow(since=START + timedelta(hours=7)),
        "6h": series("6h", START, START + timedelta(days=17)),
        "1d": series("1d", START, START + timedelta(days=17)),
        **{
            f"{step} {name}": series(step, *span)
            for step in ("5m", "1h")
            for name, span in days.items()
        },
    }
    clock = ManualClock(START)
    monkeypatch.setattr(_sql_rollups, "upsert", eager_upsert)
    with Metrics("shop", store=url, clock=clock) as metrics:
        for k in range(700):  # 17 days
            clock.set(START + timedelta(seconds=k * 2100))
            metrics.hit(
                f"/{k % 3}",
                caller=None if k % 4 == 0 else f"/{(k + 1) % 3}",
                duration=(k % 11) / 1000 or None,
                status=503 if k % 13 == 0 else 200,
            )
        before = {name: read(metrics) for name, read in reads.items()}
    monkeypatch.undo()
    minute, hour = as_version_4(connect)
    with Metrics("shop", store=url, clock=clock) as metrics:
        for name, read in reads.items():
            assert read(metrics) == before[name], name
    conn = connect()
    try:
        (version,) = conn.execute(
            "SELECT value FROM pymetrix_meta WHERE key = 'schema_version'"
        ).fetchone()
        rows = conn.execute(
            "SELECT sketch, p50, p95, p99 FROM pymetrix_rollups "
            "WHERE sketch IS NOT NULL AND tier > 60"
        ).fetchall()
        tiers = dict(
            conn.execute("SELECT tier, COUNT(*) FROM pymetrix_rollups GROUP BY tier").fetchall()
        )
        starts = dict(
            conn.execute(
                "SELECT tier, complete_from FROM pymetrix_rollup_tiers WHERE tier IN (300, 21600)"
            ).fetchall()
        )
    finally:
        conn.close()
    assert version == str(SCHEMA_VERSION)
    assert len(rows) > 100
    assert all(tuple(row[1:]) == percentiles(decode(row[0])) for row in rows)
    assert tiers[300] > 0
    assert tiers[21600] > 0
    # The new tiers hold every bucket from the first whole one of their source on.
    assert starts == {300: -(-minute // 300) * 300, 21600: -(-hour // 21600) * 21600}
