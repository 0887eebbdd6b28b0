"""The private framework internals in ``_compat``, pinned against the installed versions.

Each test names the framework version it ran against; an upgrade that changes an
internal fails here by name. Each probe is also checked against what the framework
itself decided for a real request (the route it dispatched to), so that a probe that
still runs but answers differently is caught too.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import fastapi
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from litestar import Litestar, Request, Router, get, post
from litestar.params import FromPath
from litestar.testing import TestClient as LitestarClient
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount, Route

from pymetrix.integrations import Route as FoundRoute
from pymetrix.integrations._compat import fastapi_included_route, litestar_get_route
from pymetrix.integrations.asgi import starlette_route

FASTAPI = f"fastapi-{version('fastapi')}"
STARLETTE = f"starlette-{version('starlette')}"
LITESTAR = f"litestar-{version('litestar')}"


def http_scope(app: Any, path: str, method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "path": path, "method": method, "root_path": "", "app": app}


# -- FastAPI --------------------------------------------------------------------------


def fastapi_app() -> FastAPI:
    """Plain routes, an included router, nested includes (two deep) and a mounted app."""
    app = FastAPI()
    shop = APIRouter(prefix="/shop")
    orders = APIRouter(prefix="/orders")
    lines = APIRouter(prefix="/lines")
    sub = FastAPI()

    def dispatched(request: fastapi.Request) -> str:
        # The route FastAPI itself dispatched to, as public scope data.
        return str(request.scope["route"].name)

    @app.get("/items/{item_id}")
    def item(item_id: int, request: fastapi.Request) -> str:
        return dispatched(request)

    @shop.get("/carts/{cart_id}")
    def cart(cart_id: str, request: fastapi.Request) -> str:
        return dispatched(request)

    @orders.get("/{order_id}")
    def order(order_id: int, request: fastapi.Request) -> str:
        return dispatched(request)

    @lines.get("/{line_id}")
    def line(line_id: int, request: fastapi.Request) -> str:
        return dispatched(request)

    @sub.get("/things/{thing_id}")
    def thing(thing_id: int, request: fastapi.Request) -> str:
        return dispatched(request)

    orders.include_router(lines)
    shop.include_router(orders)
    app.include_router(shop)
    app.mount("/sub", sub)
    return app


FASTAPI_CASES = [
    ("/items/1", ("/items/{item_id}", "item")),
    ("/shop/carts/a", ("/shop/carts/{cart_id}", "cart")),
    ("/shop/orders/2", ("/shop/orders/{order_id}", "order")),
    ("/shop/orders/lines/3", ("/shop/orders/lines/{line_id}", "line")),
    ("/sub/things/4", ("/sub/things/{thing_id}", "thing")),
]


@pytest.mark.parametrize(
    ("path", "expected"), FASTAPI_CASES, ids=[f"{FASTAPI}:{path}" for path, _ in FASTAPI_CASES]
)
def test_fastapi_routes_resolve_to_their_full_template(path: str, expected: FoundRoute) -> None:
    app = fastapi_app()
    assert starlette_route(http_scope(app, path)) == expected
    with TestClient(app) as client:
        assert client.get(path).json() == expected[1], f"{FASTAPI} dispatched elsewhere"


def test_fastapi_probe_names_routes_inside_included_routers_and_nested_includes() -> None:
    app = fastapi_app()
    included = [route for route in app.routes if getattr(route, "path", None) is None]
    assert included, f"{FASTAPI} copies included routes: the probe is no longer needed"
    (router,) = included
    for path, (template, view) in FASTAPI_CASES[1:4]:
        assert fastapi_included_route(router, http_scope(app, path)) == (Match.FULL, template, view)
    assert fastapi_included_route(router, http_scope(app, "/items/1"))[0] == Match.NONE  # type: ignore[index]


def test_fastapi_probe_gives_the_route_of_another_method_as_a_partial_match() -> None:
    app = fastapi_app()
    (router,) = [route for route in app.routes if getattr(route, "path", None) is None]
    found = fastapi_included_route(router, http_scope(app, "/shop/carts/a", "DELETE"))
    assert found == (Match.PARTIAL, "/shop/carts/{cart_id}", "cart"), FASTAPI


def test_fastapi_probe_leaves_plain_routes_and_mounts_to_public_matching() -> None:
    app = fastapi_app()
    plain = [route for route in app.routes if getattr(route, "path", None) is not None]
    assert plain
    for route in plain:
        assert fastapi_included_route(route, http_scope(app, "/items/1")) is None, FASTAPI


# -- Starlette (public API only, pinned all the same) ---------------------------------


def test_starlette_mounts_and_nested_mounts_join_their_templates() -> None:
    async def view(request: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse(request.scope["route"].path)

    inner = Starlette(routes=[Route("/reports/{name}", view, name="report")])
    app = Starlette(
        routes=[
            Route("/", view, name="home"),
            Mount("/admin", routes=[Mount("/users", routes=[Route("/{id:int}", view, name="u")])]),
            Mount("/v1", app=inner),
        ]
    )
    cases = {
        "/": ("/", "home"),
        "/admin/users/7": ("/admin/users/{id:int}", "u"),
        "/v1/reports/q3": ("/v1/reports/{name}", "report"),
        "/admin/users/x": (None, None),
    }
    for path, expected in cases.items():
        assert starlette_route(http_scope(app, path)) == expected, STARLETTE
    with TestClient(app) as client:
        # Starlette names the innermost route it dispatched to: the end of our template.
        assert client.get("/admin/users/7").text == "/{id:int}"
        assert client.get("/v1/reports/q3").text == "/reports/{name}"


# -- Litestar -------------------------------------------------------------------------


def litestar_app() -> Litestar:
    def dispatched(request: Request[Any, Any, Any]) -> str:
        return str(request.scope["path_template"])

    @get("/items/{item_id:int}", name="item", sync_to_thread=False)
    def item(item_id: FromPath[int], request: Request[Any, Any, Any]) -> str:
        return dispatched(request)

    @post("/only-post", sync_to_thread=False)
    def only_post() -> None:
        return None

    @get("/users/{user_id:str}", name="user", sync_to_thread=False)
    def user(user_id: FromPath[str], request: Request[Any, Any, Any]) -> str:
        return dispatched(request)

    @get("/reports/{n:int}", name="report", sync_to_thread=False)
    def report(n: FromPath[int], request: Request[Any, Any, Any]) -> str:
        return dispatched(request)

    v2 = Router(path="/v2", route_handlers=[report])
    api = Router(path="/api", route_handlers=[user, v2])
    return Litestar(route_handlers=[item, only_post, api])


LITESTAR_CASES = [
    ("/items/1", ("/items/{item_id}", "item")),
    ("/api/users/ann", ("/api/users/{user_id}", "user")),
    ("/api/v2/reports/3", ("/api/v2/reports/{n}", "report")),
]


@pytest.mark.parametrize(
    ("path", "expected"), LITESTAR_CASES, ids=[f"{LITESTAR}:{path}" for path, _ in LITESTAR_CASES]
)
def test_litestar_probe_gives_the_template_routing_puts_in_the_scope(
    path: str, expected: FoundRoute
) -> None:
    app = litestar_app()
    assert litestar_get_route(app, path) == expected, LITESTAR
    with LitestarClient(app) as client:
        assert client.get(path).text == expected[0], f"{LITESTAR} routed elsewhere"


@pytest.mark.parametrize("path", ["/nowhere", "/only-post", "/api/users"])
def test_litestar_probe_gives_nothing_where_no_get_route_is(path: str) -> None:
    assert litestar_get_route(litestar_app(), path) == (None, None), LITESTAR
