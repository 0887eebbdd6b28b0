"""A database written before rollups (schema version 3) is upgraded on open: its rollups
are back-filled from the hits it holds, and every read answers as from the hits."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pymetrix import ManualClock, Metrics

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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_version_3_database_gets_rollups_of_its_hits_on_open(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        path = tmp_path / "pymetrix.db"
        url = f"sqlite:///{path}"

        def connect() -> Any:
            return sqlite3.connect(path)
    else:
        url = request.getfixturevalue("postgres_url")

        def connect() -> Any:
            return psycopg.connect(url)

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
    assert version == "4"
    assert rows > 0
