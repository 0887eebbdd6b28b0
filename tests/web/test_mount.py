"""The stats app mounted under a prefix, as users mount it in each framework, beside the
recording middleware of that framework."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urljoin

import pytest
from fastapi import FastAPI
from flask import Flask
from litestar import Litestar, Router, asgi, get
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from pymetrix import InvalidArgument, Metrics
from pymetrix.integrations.asgi import PymetrixMiddleware
from pymetrix.integrations.flask import PymetrixFlask
from pymetrix.integrations.litestar import PymetrixPlugin
from pymetrix.web import stats_app, wsgi_app
from pymetrix.web.litestar import stats_mount


def hits(metrics: Metrics, expected: dict[str, int] | None = None) -> dict[str, int]:
    """Hits per node, once they equal ``expected`` or after a second.

    A server records a request after its response has gone out, so the client may read
    the response before the hit is there.
    """
    deadline = time.monotonic() + 1.0
    while True:
        found = {row["id"]: row["hits"] for row in metrics.aggregate()}
        if found == expected:
            # A request recorded late must have its chance to show up too.
            time.sleep(0.1)
            return {row["id"]: row["hits"] for row in metrics.aggregate()}
        if time.monotonic() > deadline:
            return found
        time.sleep(0.01)


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


# -- the stats app beside the recording middleware of every framework ------------------

DASHBOARD_TRAFFIC = (
    "/pymetrix/",
    "/pymetrix/static/app.js",
    "/pymetrix/api/aggregate",
    "/pymetrix/api/flow",
    "/pymetrix/nowhere",
)


def visit_host_and_dashboard(server: Any) -> None:
    assert server.get("/").status == 200
    for path in DASHBOARD_TRAFFIC:
        server.get(path, {"Referer": f"http://127.0.0.1:{server.port}/pymetrix/"})


def test_starlette_middleware_leaves_the_mounted_stats_app_out(
    metrics: Metrics, serve: Any
) -> None:
    app = host_app(metrics)
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    server = serve(app)
    visit_host_and_dashboard(server)
    assert server.get("/pymetrix/api/aggregate").json()["message"] == [{"id": "/", "hits": 1}]
    assert hits(metrics, {"/": 1}) == {"/": 1}


def test_fastapi_middleware_leaves_the_mounted_stats_app_out_and_sets_it_no_cookie(
    metrics: Metrics, serve: Any
) -> None:
    app = FastAPI()

    @app.get("/")
    def home() -> str:
        return "home"

    app.mount("/pymetrix", stats_app(metrics))
    app.add_middleware(PymetrixMiddleware, metrics=metrics, visitor="cookie")
    server = serve(app)
    visit_host_and_dashboard(server)
    assert "set-cookie" not in server.get("/pymetrix/api/aggregate").headers
    assert hits(metrics, {"/": 1}) == {"/": 1}


def test_starlette_redirect_of_the_stats_mount_point_is_left_out(
    metrics: Metrics, serve: Any
) -> None:
    app = host_app(metrics)
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    server = serve(app)
    assert server.get("/pymetrix").status == 307
    assert server.get("/nowhere").status == 404
    assert server.get("/").status == 200
    assert hits(metrics, {"/": 1, "<unmatched>": 1}) == {"/": 1, "<unmatched>": 1}


def test_the_exclusion_of_a_mount_covers_the_mount_point_itself(
    metrics: Metrics, serve: Any
) -> None:
    app = host_app(metrics)
    app.add_middleware(PymetrixMiddleware, metrics=metrics, exclude=["/pymetrix/*"])
    server = serve(app)
    assert server.get("/pymetrix").status in (307, 308)
    assert server.get("/").status == 200
    assert hits(metrics, {"/": 1}) == {"/": 1}


def litestar_host(metrics: Metrics, **options: Any) -> Litestar:
    @get("/")
    async def home() -> str:
        return "home"

    return Litestar(
        route_handlers=[home, stats_mount("/pymetrix", stats_app(metrics))],
        plugins=[PymetrixPlugin(metrics=metrics, **options)],
    )


def test_litestar_mount_serves_the_dashboard_its_files_and_the_api(
    metrics: Metrics, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(litestar_host(metrics))
    assert server.get("/").body == b"home"
    page = server.get("/pymetrix/")
    assert page.status == 200
    assert b"<html" in page.body.lower()
    for relative in ("static/app.js", "static/style.css", "api/aggregate", "api/flow"):
        reply = server.get(urljoin("/pymetrix/", relative))
        assert reply.status == 200, relative
    reply = server.get("/pymetrix/api/aggregate")
    assert reply.json() == {"message": [{"id": "/", "hits": 1}], "response": 200}
    assert server.get("/pymetrix/api/aggregate/").status == 404
    assert server.get("/pymetrix/nowhere").status == 404
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_litestar_mount_point_without_slash_redirects_unrecorded(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(litestar_host(metrics))
    reply = server.get("/pymetrix?token=x")
    assert reply.status == 308
    assert reply.headers["location"] == "/pymetrix/?token=x"
    visit_host_and_dashboard(server)
    assert hits(metrics, {"/": 1}) == {"/": 1}


def test_litestar_mount_behind_a_proxy_keeps_the_proxy_prefix(metrics: Metrics, serve: Any) -> None:
    server = serve(litestar_host(metrics), root_path="/site")
    assert server.get("/pymetrix").headers["location"] == "/site/pymetrix/"
    assert server.get("/pymetrix/static/app.js").status == 200
    assert server.get("/pymetrix/api/aggregate").status == 200


def test_litestar_records_another_mounted_app_under_its_mount_point(
    metrics: Metrics, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @asgi("/files", is_mount=True, copy_scope=True)
    async def files(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a file"})

    app = Litestar(route_handlers=[files], plugins=[PymetrixPlugin(metrics=metrics)])
    server = serve(app)
    assert server.get("/files/a/b").body == b"a file"
    assert hits(metrics, {"/files": 1}) == {"/files": 1}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_stats_mount_refuses_what_is_no_mount_point_or_no_stats_app(metrics: Metrics) -> None:
    with pytest.raises(InvalidArgument):
        stats_mount("pymetrix", stats_app(metrics))
    with pytest.raises(InvalidArgument):
        stats_mount("/", stats_app(metrics))
    with pytest.raises(InvalidArgument):
        stats_mount("/pymetrix", object())  # type: ignore[arg-type]


def flask_host(metrics: Metrics, *, dispatch_first: bool, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        return "home"

    def mount() -> None:
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, {"/pymetrix": wsgi_app(metrics)}
        )

    if dispatch_first:
        mount()
        PymetrixFlask(app, metrics=metrics, **options)
    else:
        PymetrixFlask(app, metrics=metrics, **options)
        mount()
    return app


@pytest.mark.parametrize("dispatch_first", [True, False])
def test_flask_leaves_the_mounted_stats_app_out_whichever_wraps_the_other(
    metrics: Metrics, serve_wsgi: Any, dispatch_first: bool
) -> None:
    server = serve_wsgi(flask_host(metrics, dispatch_first=dispatch_first))
    visit_host_and_dashboard(server)
    assert server.get("/pymetrix").status == 308
    assert server.get("/pymetrix/api/aggregate").json()["message"] == [{"id": "/", "hits": 1}]
    assert hits(metrics, {"/": 1}) == {"/": 1}


def callers(metrics: Metrics) -> dict[tuple[str | None, str], int]:
    return {(row["caller"], row["id"]): row["hits"] for row in metrics.flow()}


@pytest.mark.parametrize("framework", ["starlette", "litestar"])
def test_a_referer_in_the_mounted_stats_app_names_no_caller(
    metrics: Metrics, serve: Any, framework: str
) -> None:
    if framework == "starlette":
        app: Any = host_app(metrics)
        app.add_middleware(PymetrixMiddleware, metrics=metrics)
    else:
        app = litestar_host(metrics)
    server = serve(app)
    server.get("/", {"Referer": f"http://127.0.0.1:{server.port}/pymetrix/"})
    assert hits(metrics, {"/": 1}) == {"/": 1}
    assert callers(metrics) == {(None, "/"): 1}


def test_litestar_mount_inside_a_router_serves_below_the_routers_prefix(
    metrics: Metrics, serve: Any
) -> None:
    admin = Router("/admin", route_handlers=[stats_mount("/pymetrix", stats_app(metrics))])
    server = serve(Litestar(route_handlers=[admin], plugins=[PymetrixPlugin(metrics=metrics)]))
    assert server.get("/admin/pymetrix").headers["location"] == "/admin/pymetrix/"
    assert b"<html" in server.get("/admin/pymetrix/").body.lower()
    assert server.get("/admin/pymetrix/static/app.js").status == 200
    assert server.get("/admin/pymetrix/api/aggregate").json()["message"] == []
    assert hits(metrics, {}) == {}


def test_litestar_mount_without_raw_path_uses_litestars_path(metrics: Metrics) -> None:
    # raw_path is optional in ASGI: Litestar's path below the mount is used then.
    app = litestar_host(metrics)
    sent: list[Any] = []

    async def run(path: str) -> None:
        messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> Any:
            return next(messages)

        async def send(message: Any) -> None:
            sent.append(message)

        scope: Any = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)

    asyncio.run(run("/pymetrix/api/aggregate"))
    assert sent[0]["status"] == 200
    sent.clear()
    asyncio.run(run("/pymetrix"))
    assert (sent[0]["status"], dict(sent[0]["headers"])[b"location"]) == (308, b"/pymetrix/")
