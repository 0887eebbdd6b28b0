"""The stats app mounted under a prefix, as users mount it in Starlette or FastAPI."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from pymetrix import Metrics
from pymetrix.web import stats_app


def host_app(metrics: Metrics, **options: Any) -> Starlette:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("the host app")

    return Starlette(
        routes=[Route("/", home), Mount("/pymetrix", app=stats_app(metrics, **options))]
    )


def test_mounted_under_a_prefix_the_dashboard_and_api_answer_below_it(
    metrics: Metrics, serve: Any
) -> None:
    metrics.hit("Home")
    server = serve(host_app(metrics))
    assert server.get("/").body == b"the host app"
    page = server.get("/pymetrix/")
    assert page.status == 200
    assert b"<html" in page.body.lower()
    reply = server.get("/pymetrix/api/aggregate")
    assert reply.json() == {"message": [{"id": "Home", "hits": 1}], "response": 200}
    assert server.get("/pymetrix/nowhere").status == 404


def test_the_dashboards_relative_urls_resolve_inside_the_mount(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(host_app(metrics))
    page_url = "/pymetrix/"
    for relative in ("static/app.js", "static/style.css", "api/aggregate", "api/flow"):
        reply = server.get(urljoin(page_url, relative))
        assert reply.status == 200, relative


def test_the_mount_point_without_slash_redirects_to_the_dashboard(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(host_app(metrics))
    reply = server.get("/pymetrix")
    assert reply.status in (307, 308)
    assert reply.headers["location"].endswith("/pymetrix/")


def test_behind_a_proxy_that_strips_the_prefix_root_path_places_the_cookie(
    metrics: Metrics, serve: Any
) -> None:
    # uvicorn --root-path /stats: a proxy forwards /stats/... as /...
    server = serve(stats_app(metrics, token="t"), root_path="/stats")
    page = server.get("/?token=t")
    assert page.status == 200
    assert "Path=/stats/" in page.headers["set-cookie"]
    assert server.get("/api/flow", {"Authorization": "Bearer t"}).status == 200


def test_streams_work_under_a_prefix(metrics: Metrics, serve: Any) -> None:
    server = serve(host_app(metrics))
    reader = server.stream("/pymetrix/api/stream?data=aggregate&interval=0.05")
    try:
        assert reader.status == 200
        metrics.hit("Home")
        event = reader.next_data()
        while event.json()["message"] != [{"id": "Home", "hits": 1}]:
            event = reader.next_data()
    finally:
        reader.close()
