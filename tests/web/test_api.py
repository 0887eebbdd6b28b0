"""The stats API and the dashboard's files, answered in process (httpx's ASGI transport):
a real server adds nothing to what these tests check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pymetrix import ManualClock, Metrics
from pymetrix.web import stats_app


@pytest.fixture
def server(metrics: Metrics, in_process: Any) -> Any:
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home", duration=0.010, status=200)
    metrics.hit("Blog", caller="Home", duration=0.030, status=500)
    metrics.hit("Post", caller="Blog", duration=0.020)
    return in_process(stats_app(metrics))


def test_time_series_is_the_seed_envelope(server: Any, metrics: Metrics) -> None:
    reply = server.get("/api/time_series")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == metrics.export("time_series")
    nodes = reply.json()["message"]["nodes"]
    assert [(n["id"], n["hits"]) for n in nodes] == [("Home", 1), ("Blog", 2), ("Post", 1)]
    assert reply.json()["message"]["id"] == "shop"


def test_time_series_detail_adds_duration_and_status(server: Any) -> None:
    nodes = server.get("/api/time_series?detail=1&ids=Blog").json()["message"]["nodes"]
    assert [(c["duration"], c["status"]) for c in nodes[0]["callers"]] == [(0.01, 200), (0.03, 500)]


def test_aggregate_with_and_without_stats(server: Any) -> None:
    assert server.get("/api/aggregate").json() == {
        "message": [
            {"id": "Home", "hits": 1},
            {"id": "Blog", "hits": 2},
            {"id": "Post", "hits": 1},
        ],
        "response": 200,
    }
    blog = server.get("/api/aggregate?stats=true").json()["message"][1]
    assert blog == {
        "id": "Blog",
        "hits": 2,
        "p50": pytest.approx(0.01, rel=0.01),
        "p95": pytest.approx(0.03, rel=0.01),
        "p99": pytest.approx(0.03, rel=0.01),
        "errors": 1,
    }


def test_flow_counts_caller_to_node(server: Any) -> None:
    assert server.get("/api/flow").json()["message"] == [
        {"caller": None, "id": "Home", "hits": 1},
        {"caller": "Home", "id": "Blog", "hits": 2},
        {"caller": "Blog", "id": "Post", "hits": 1},
    ]


@pytest.mark.parametrize("query", ["ids=Home,Post", "ids=Home&ids=Post", "ids=Home,&ids=Post"])
def test_ids_filter_takes_commas_or_repeats(server: Any, query: str) -> None:
    got = server.get("/api/aggregate?" + query).json()["message"]
    assert [row["id"] for row in got] == ["Home", "Post"]


def test_since_and_until_filter_by_hit_time(server: Any) -> None:
    # The clock gives the hits 18:26:51.000, .001, .002 and .003.
    reply = server.get(
        "/api/aggregate?since=2024-01-09%2018:26:51.001&until=2024-01-09T18:26:51.003"
    )
    assert reply.json()["message"] == [{"id": "Blog", "hits": 2}]
    flow = server.get("/api/flow?since=2024-01-09%2018:26:51.003").json()["message"]
    assert flow == [{"caller": "Blog", "id": "Post", "hits": 1}]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("data", ["time_series", "aggregate", "flow"])
def test_times_beyond_nanosecond_range_are_the_start_and_end_of_time(
    serve: Any, clock: ManualClock, tmp_path: Path, store: str, data: str
) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/hits.db"
    with Metrics("shop", store=url, clock=clock) as metrics:
        metrics.hit("Home")
        metrics.hit("Blog", caller="Home")
        server = serve(stats_app(metrics))
        everything = server.get(f"/api/{data}").json()
        for window in ("until=9999-12-31", "since=0001-01-01", "since=1000-01-01&until=3000-01-01"):
            reply = server.get(f"/api/{data}?{window}")
            assert (reply.status, reply.json()) == (200, everything)
        nothing = metrics.export(data, since="2200-01-01")
        for window in ("since=9999-12-31", "until=0001-01-01T00:00:00"):
            reply = server.get(f"/api/{data}?{window}")
            assert (reply.status, reply.json()) == (200, nothing)


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/aggregate?since=last%20tuesday", 400, "invalid since 'last tuesday'"),
        ("/api/aggregate?stats=perhaps", 400, "invalid stats 'perhaps'"),
        ("/api/time_series?detail=2", 400, "invalid detail '2'"),
        ("/nowhere", 404, "not found: /nowhere"),
        ("/static/missing.js", 404, "not found: missing.js"),
    ],
)
def test_errors_come_in_the_envelope_with_their_status(
    server: Any, path: str, status: int, message: str
) -> None:
    reply = server.get(path)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["response"] == status
    assert reply.json()["message"].startswith(message)


@pytest.mark.parametrize(
    "path",
    ["/api/visitors", "/api/nope/x", "/api/", "/api/aggregate/", "/api/flow/x", "/api/stream/x"],
)
def test_an_unknown_path_under_api_is_a_404(server: Any, path: str) -> None:
    reply = server.get(path + "?since=2024-01-09")
    assert reply.status == 404
    assert reply.json() == {
        "message": (
            f"not found: {path}; the API serves time_series, aggregate, flow, series and stream"
        ),
        "response": 404,
    }


def test_other_methods_are_a_405(server: Any) -> None:
    reply = server.get("/api/aggregate", method="POST")
    assert reply.status == 405
    assert reply.json() == {"message": "method POST not allowed", "response": 405}


def test_head_answers_headers_without_body(server: Any) -> None:
    reply = server.get("/api/aggregate", method="HEAD")
    assert reply.status == 200
    assert reply.body == b""


def test_root_serves_the_dashboard_page_with_a_strict_policy(server: Any) -> None:
    reply = server.get("/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<html" in reply.body.lower()
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe" not in policy
    # One policy, in the header: none in the page to disagree with it.
    assert b"http-equiv" not in reply.body


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ],
)
def test_static_files_are_served_with_their_content_type(
    server: Any, name: str, content_type: str
) -> None:
    from importlib import resources

    reply = server.get("/static/" + name)
    assert reply.status == 200
    assert reply.headers["content-type"] == content_type
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.body == (resources.files("pymetrix.web") / "static" / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/../../pymetrix/cli.py",
        "/static//etc/passwd",
        "/static/./index.html",
        "/static/..\\app.py",
        "/static/",
    ],
)
def test_static_paths_cannot_leave_the_dashboard_directory(
    metrics: Metrics, serve: Any, path: str
) -> None:
    # A real server: an HTTP client library would tidy these paths before sending them.
    reply = serve(stats_app(metrics)).get(path)
    assert reply.status == 404
    assert b"import" not in reply.body
