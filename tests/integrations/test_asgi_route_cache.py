"""Routes remembered per method and path give the same nodes as matching every time."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Mount, Route
from starlette.testclient import TestClient

from pymetrix import Metrics
from pymetrix.integrations import UNMATCHED
from pymetrix.integrations.asgi import PymetrixMiddleware, StarletteRoutes
from pymetrix.integrations.types import STATS_REQUEST
from pymetrix.web import stats_app

from ._helpers import hits


def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_repeated_requests_keep_their_route_and_method_changes_the_answer() -> None:
    routes = StarletteRoutes()
    app = Starlette(routes=[Route("/a/{x}", ok, name="a"), Route("/b", ok, methods=["POST"])])
    scope = {"type": "http", "method": "GET", "path": "/a/1", "root_path": "", "app": app}
    assert [routes({**scope}) for _ in range(3)] == [("/a/{x}", "a")] * 3
    assert routes({**scope, "path": "/b", "method": "POST"}) == ("/b", "ok")
    # Only with another method: the route is the partial match, as without remembering.
    assert routes({**scope, "path": "/b"}) == ("/b", "ok")
    assert routes({**scope, "path": "/nowhere"}) == (None, None)
    assert routes._found.keys() == {
        ("GET", "", "/a/1"),
        ("POST", "", "/b"),
        ("GET", "", "/b"),
    }


def test_a_route_added_after_requests_is_found() -> None:
    metrics = Metrics("cache")
    app = Starlette(routes=[Route("/a", ok)])
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    with TestClient(app) as client:
        client.get("/late")
        client.get("/a")
        app.router.routes.append(Route("/late", ok))
        client.get("/late")
        client.get("/a")
    assert hits(metrics) == {UNMATCHED: 1, "/a": 2, "/late": 1}


def test_host_routes_are_matched_on_every_request() -> None:
    metrics = Metrics("hosts")
    api = Starlette(routes=[Route("/x", ok)])
    www = Starlette(routes=[Route("/x", ok), Route("/y", ok)])
    app = Starlette(routes=[Host("api.example.com", api), Host("{any}.example.com", www)])
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    with TestClient(app) as client:
        for host in ("api.example.com", "www.example.com", "api.example.com"):
            client.get("/x", headers={"host": host})
    # The same path reached under two hosts, each time through the host's routes.
    assert sum(hits(metrics).values()) == 3
    routes = StarletteRoutes()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/y",
        "root_path": "",
        "app": app,
        "headers": [(b"host", b"api.example.com")],
    }
    assert routes(scope) == (None, None)
    assert routes({**scope, "headers": [(b"host", b"www.example.com")]})[0] == "/y"
    assert routes._found == {}


def test_requests_to_a_mounted_stats_app_stay_unrecorded_when_remembered() -> None:
    metrics = Metrics("stats")
    app = Starlette(routes=[Route("/a", ok), Mount("/stats", stats_app(metrics))])
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    with TestClient(app) as client:
        for _ in range(3):
            client.get("/stats/api/aggregate")
            client.get("/a")
    assert hits(metrics) == {"/a": 3}
    routes = StarletteRoutes()
    for _ in range(2):
        scope = {"type": "http", "method": "GET", "path": "/stats/", "root_path": "", "app": app}
        assert routes(scope) == (None, None)
        assert scope[STATS_REQUEST] is True


def test_at_most_size_paths_are_remembered() -> None:
    routes = StarletteRoutes(size=4)
    app = Starlette(routes=[Route("/items/{n}", ok, name="item")])
    for n in range(10):
        scope = {"type": "http", "method": "GET", "path": f"/items/{n}", "app": app}
        assert routes(scope) == ("/items/{n}", "item")
        assert len(routes._found) <= 4
