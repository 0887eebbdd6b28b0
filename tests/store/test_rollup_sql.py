"""The rollup tables read with plain SQL: docs/storage.md's Grafana query on PostgreSQL,
and the documented sketch encoding decoded by hand."""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from pymetrix import ManualClock, Metrics

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2022, 1, 9, 18, 26, 51, tzinfo=timezone.utc)


def grafana_query() -> str:
    text = (ROOT / "docs" / "storage.md").read_text(encoding="utf-8")
    after = text.split("as a Grafana time series on PostgreSQL:", 1)[1]
    match = re.search(r"```sql\n(.*?)```", after, re.S)
    assert match is not None
    return match.group(1)


def test_the_documented_grafana_query_charts_what_series_gives(postgres_url: str) -> None:
    clock = ManualClock(START)
    with Metrics("shop", store=postgres_url, clock=clock) as metrics:
        for k in range(300):
            clock.set(START + timedelta(seconds=k * 97))
            metrics.hit(f"/page/{k % 3}", status=500 if k % 10 == 0 else 200)
        metrics.flush()
        # The hour tier holds the hours that closed a minute before the last hit.
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(
                "SELECT rolled_until FROM pymetrix_rollup_tiers WHERE tier = 3600"
            ).fetchone()
        assert row is not None
        (made,) = row
        until = datetime.fromtimestamp(made, timezone.utc)
        assert until == START.replace(minute=0, second=0) + timedelta(hours=8)
        series = metrics.series(step="1h", since=START, until=until)
    sql = (
        grafana_query()
        .replace("$__timeFrom()", "'2022-01-09T18:00:00Z'::timestamptz")
        .replace("$__timeTo()", f"'{until.isoformat()}'::timestamptz")
    )
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(sql).fetchall()
    charted: dict[str, list[int]] = {}
    errors: dict[str, int] = {}
    for time, metric, hits, errs in rows:
        charted.setdefault(metric, []).append(hits)
        errors[metric] = errors.get(metric, 0) + errs
        assert time.minute == time.second == 0
    for node in series["nodes"]:
        assert charted[node["id"]] == [h for h in node["hits"] if h]
        assert errors[node["id"]] == sum(node["errors"])
    assert sum(map(sum, charted.values())) == sum(node["total"] for node in series["nodes"])
    assert sum(map(sum, charted.values())) > 250


def test_a_stored_sketch_decodes_by_its_documented_encoding(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path}/p.db"
    clock = ManualClock(START)
    with Metrics("shop", store=url, clock=clock) as metrics:
        for duration in (0.0000001, 0.010, 0.010, 0.250):
            metrics.hit("Home", duration=duration)
    with sqlite3.connect(tmp_path / "p.db") as conn:
        (blob,) = conn.execute("SELECT sketch FROM pymetrix_rollups WHERE tier = 60").fetchone()
    pairs = [struct.unpack_from("<iq", blob, at) for at in range(0, len(blob), 12)]
    gamma = 1.01 / 0.99
    values = {
        index: 0.0 if index == -(2**31) else 2 * gamma**index / (gamma + 1) for index, _ in pairs
    }
    assert [count for _, count in pairs] == [1, 2, 1]
    # Each within the sketch's 1 % of the durations recorded.
    assert [values[index] for index, _ in pairs] == [
        0.0,
        pytest.approx(0.010, rel=0.01),
        pytest.approx(0.250, rel=0.01),
    ]


@pytest.mark.parametrize("start", [START, datetime(1969, 12, 31, 17, 26, 51)])
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_step_between_tiers_is_added_up_in_the_database(
    store: str, start: datetime, postgres_url: str, tmp_path: Path
) -> None:
    # 2 h buckets are made of the hour tier's rows, added up by the database; before
    # 1970 too, where integer division would round towards it.
    url = f"sqlite:///{tmp_path}/s.db" if store == "sqlite" else postgres_url
    clock = ManualClock(start)
    with Metrics("shop", store=url, clock=clock) as metrics:
        for k in range(300):
            clock.set(start + timedelta(seconds=k * 97))
            metrics.hit(f"/page/{k % 3}")
        metrics.flush()
        series = metrics.series(
            step="2h", since=start, until=start + timedelta(hours=9), latency=False
        )
        # A window's counts: every row of a node added up by the database into one.
        window = metrics.aggregate(
            since=start + timedelta(minutes=90), until=start + timedelta(hours=7)
        )
        inside = [k for k in range(300) if 90 * 60 <= k * 97 < 7 * 3600]
        assert window == [
            {"id": f"/page/{n}", "hits": sum(1 for k in inside if k % 3 == n)}
            for n in sorted(
                {k % 3 for k in inside}, key=lambda n: min(k for k in inside if k % 3 == n)
            )
        ]
    assert series["step"] == 7200
    per_bucket = [sum(hits) for hits in zip(*(node["hits"] for node in series["nodes"]))]
    expected = [0] * len(per_bucket)
    first = start.replace(minute=0, second=0) - timedelta(hours=start.hour % 2)
    for k in range(300):
        expected[int((start + timedelta(seconds=k * 97) - first).total_seconds()) // 7200] += 1
    assert per_bucket == expected
