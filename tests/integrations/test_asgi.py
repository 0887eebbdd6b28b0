"""The ASGI middleware on real FastAPI and Starlette apps, through their TestClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from pymetrix import ManualClock, Metrics
from pymetrix.integrations import UNMATCHED, RouteInfo
from pymetrix.integrations.asgi import PymetrixMiddleware

from ._helpers import details, edges, hits


class ViewError(Exception):
    pass


def fastapi_app(metrics: Metrics, **options: Any) -> FastAPI:
    app = FastAPI()
    shop = APIRouter(prefix="/shop")
    orders = APIRouter(prefix="/orders")
    sub = FastAPI()

    @metrics.track("load_item")
    def load_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return load_item(item_id)

    @app.post("/items")
    def create() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/boom")
    def boom() -> None:
        raise ViewError("view failed")

    @shop.get("/carts/{cart_id}")
    def cart(cart_id: str) -> dict[str, str]:
        return {"cart": cart_id}

    @sub.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    @orders.get("/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        return {"order": order_id}

    shop.include_router(orders)
    app.include_router(shop)
    app.mount("/sub", sub)
    app.add_middleware(PymetrixMiddleware, metrics=metrics, **options)
    return app


@pytest.fixture
def client(metrics: Metrics) -> Iterator[TestClient]:
    with TestClient(fastapi_app(metrics)) as test_client:
        yield test_client


def test_each_request_is_one_hit_on_its_route_template(
    client: TestClient, metrics: Metrics
) -> None:
    for item_id in (1, 2, 3):
        assert client.get(f"/items/{item_id}").json() == {"id": item_id}
    assert hits(metrics)["/items/{item_id}"] == 3
    assert not any(node.startswith("/items/1") for node in hits(metrics))
    ((caller, duration, status), *_) = details(metrics, "/items/{item_id}")
    assert caller is None
    assert status == 200
    assert duration is not None
    assert duration > 0


def test_routes_in_included_routers_and_mounted_apps_keep_their_templates(
    client: TestClient, metrics: Metrics
) -> None:
    assert client.get("/shop/carts/abc").status_code == 200
    assert client.get("/shop/orders/12").status_code == 200
    assert client.get("/sub/things/5").status_code == 200
    assert client.get("/sub/nothing/here").status_code == 404
    assert hits(metrics) == {
        "/shop/carts/{cart_id}": 1,
        "/shop/orders/{order_id}": 1,
        "/sub/things/{thing_id}": 1,
        UNMATCHED: 1,
    }


def test_unmatched_requests_count_under_one_node(client: TestClient, metrics: Metrics) -> None:
    for n in range(50):
        assert client.get(f"/random/{n}").status_code == 404
    assert hits(metrics) == {UNMATCHED: 50}
    assert {status for _, _, status in details(metrics, UNMATCHED)} == {404}


def test_method_option_prefixes_node_ids_and_405_keeps_the_route(metrics: Metrics) -> None:
    with TestClient(fastapi_app(metrics, method=True)) as client:
        client.get("/items/1")
        client.post("/items")
        assert client.delete("/items/1").status_code == 405
        assert client.request("BREW", "/items/1").status_code == 405
    assert hits(metrics) == {
        "GET /items/{item_id}": 1,
        "load_item": 1,
        "POST /items": 1,
        "DELETE /items/{item_id}": 1,
        "OTHER /items/{item_id}": 1,
    }
    assert [s for _, _, s in details(metrics, "DELETE /items/{item_id}")] == [405]


def test_name_function_overrides_node_ids(metrics: Metrics) -> None:
    def name(info: RouteInfo) -> str | None:
        return f"api.{info.view}" if info.view else None

    with TestClient(fastapi_app(metrics, name=name)) as client:
        client.get("/items/1")
        client.get("/nowhere")
    assert hits(metrics) == {"api.item": 1, "load_item": 1, UNMATCHED: 1}


def test_excluded_paths_are_not_recorded(metrics: Metrics) -> None:
    with TestClient(fastapi_app(metrics, exclude=["/health", "/sub/*"])) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/sub/things/1").status_code == 200
        client.get("/items/1")
    assert hits(metrics) == {"/items/{item_id}": 1, "load_item": 1}


def test_tracked_functions_in_a_view_get_the_route_as_caller(
    client: TestClient, metrics: Metrics
) -> None:
    client.get("/items/9")
    assert edges(metrics)[("/items/{item_id}", "load_item")] == 1


def test_same_origin_referer_becomes_the_caller_route(client: TestClient, metrics: Metrics) -> None:
    client.get("/shop/carts/a", headers={"referer": "http://testserver/items/42?x=1"})
    client.get("/items/1", headers={"referer": "http://testserver/sub/things/3"})
    flow = edges(metrics)
    assert flow[("/items/{item_id}", "/shop/carts/{cart_id}")] == 1
    assert flow[("/sub/things/{thing_id}", "/items/{item_id}")] == 1


@pytest.mark.parametrize(
    "referer",
    [
        "http://evil.example/items/42",
        "http://testserver:8080/items/42",
        "http://testserver/not/a/route",
        "http://testserver/<script>alert(1)</script>",
        "not a url at all",
        "http://[oops/items/1",
    ],
)
def test_cross_origin_forged_or_unresolvable_referer_gives_no_caller(
    client: TestClient, metrics: Metrics, referer: str
) -> None:
    client.get("/shop/carts/a", headers={"referer": referer})
    assert edges(metrics) == {(None, "/shop/carts/{cart_id}"): 1}
    shown = repr(metrics.time_series()) + repr(metrics.flow())
    assert "evil" not in shown
    assert "script" not in shown


def test_referer_is_ignored_when_turned_off(metrics: Metrics) -> None:
    with TestClient(fastapi_app(metrics, referer=False)) as client:
        client.get("/shop/carts/a", headers={"referer": "http://testserver/items/42"})
    assert edges(metrics)[(None, "/shop/carts/{cart_id}")] == 1


def test_visitor_cookie_links_a_visitors_requests_within_thirty_minutes() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0))
    with Metrics("web", clock=clock) as metrics:
        with TestClient(fastapi_app(metrics, visitor="cookie")) as alice:
            first = alice.get("/items/1")
            set_cookie = first.headers["set-cookie"]
            assert set_cookie.startswith("pymetrix_vid=")
            assert "HttpOnly" in set_cookie
            assert "Max-Age=1800" in set_cookie
            alice.get("/shop/carts/x")
            with TestClient(fastapi_app(metrics, visitor="cookie")) as bob:
                bob.get("/sub/things/1")
            clock.advance(29 * 60)
            alice.get("/sub/things/2")
            clock.advance(31 * 60)
            alice.get("/items/2")
        flow = edges(metrics)
    assert flow[("/items/{item_id}", "/shop/carts/{cart_id}")] == 1
    assert flow[("/shop/carts/{cart_id}", "/sub/things/{thing_id}")] == 1
    assert flow[(None, "/sub/things/{thing_id}")] == 1
    assert flow[(None, "/items/{item_id}")] == 2


def test_visitor_hash_links_requests_by_ip_and_user_agent(metrics: Metrics) -> None:
    with TestClient(fastapi_app(metrics, visitor="hash")) as client:
        response = client.get("/items/1", headers={"user-agent": "Firefox"})
        assert "set-cookie" not in response.headers
        client.get("/shop/carts/z", headers={"user-agent": "Firefox"})
        client.get("/sub/things/3", headers={"user-agent": "Chrome"})
    flow = edges(metrics)
    assert flow[("/items/{item_id}", "/shop/carts/{cart_id}")] == 1
    assert flow[(None, "/sub/things/{thing_id}")] == 1


def test_exception_in_view_is_recorded_as_500_and_reraised_unchanged(
    client: TestClient, metrics: Metrics
) -> None:
    with pytest.raises(ViewError, match="view failed"):
        client.get("/boom")
    assert details(metrics, "/boom")[0][2] == 500
    assert metrics.aggregate(stats=True)[0]["errors"] == 1


def test_exception_in_view_gives_the_client_a_500(metrics: Metrics) -> None:
    with TestClient(fastapi_app(metrics), raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    assert [s for _, _, s in details(metrics, "/boom")] == [500]


def stream_app(metrics: Metrics, observed: dict[str, Any]) -> Starlette:
    def body() -> Iterator[bytes]:
        start = time.perf_counter()
        yield b"first,"
        yield b"second,"
        observed["hits_before_last_chunk"] = hits(metrics).get("/stream", 0)
        observed["span"] = time.perf_counter() - start
        yield b"last"

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(body(), media_type="text/plain")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"echo {text}")
        await websocket.close()

    app = Starlette(routes=[Route("/stream", stream), WebSocketRoute("/ws", echo)])
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    return app


def test_streaming_response_is_timed_to_its_last_byte(metrics: Metrics) -> None:
    observed: dict[str, Any] = {}
    with TestClient(stream_app(metrics, observed)) as client:
        assert client.get("/stream").text == "first,second,last"
    assert observed["hits_before_last_chunk"] == 0
    ((_, duration, status),) = details(metrics, "/stream")
    assert status == 200
    assert duration is not None
    assert duration >= observed["span"]


def test_websocket_and_lifespan_pass_through_unrecorded(metrics: Metrics) -> None:
    with (
        TestClient(stream_app(metrics, {})) as client,
        client.websocket_connect("/ws") as websocket,
    ):
        websocket.send_text("hi")
        assert websocket.receive_text() == "echo hi"
    assert hits(metrics) == {}


def starlette_app(metrics: Metrics) -> Starlette:
    async def user(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.path_params["user_id"]})

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    admin = Mount("/admin", routes=[Route("/users/{user_id:int}", user)])
    app = Starlette(routes=[Route("/", home), admin, Mount("/v1", app=starlette_inner())])
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    return app


def starlette_inner() -> Starlette:
    async def report(request: Request) -> PlainTextResponse:
        return PlainTextResponse("report")

    return Starlette(routes=[Route("/reports/{name}", report)])


def test_starlette_mounts_nest_their_templates(metrics: Metrics) -> None:
    with TestClient(starlette_app(metrics)) as client:
        assert client.get("/admin/users/7").json() == {"user": 7}
        assert client.get("/v1/reports/q3").text == "report"
        client.get("/", headers={"referer": "http://testserver/v1/reports/q2"})
        client.get("/admin/users/not-a-number")
    assert hits(metrics) == {
        "/admin/users/{user_id:int}": 1,
        "/v1/reports/{name}": 1,
        "/": 1,
        UNMATCHED: 1,
    }
    assert edges(metrics)[("/v1/reports/{name}", "/")] == 1


def test_failure_inside_pymetrix_is_logged_and_the_request_proceeds(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_route(scope: Any) -> tuple[str | None, str | None]:
        raise RuntimeError("router exploded")

    app = FastAPI()

    @app.get("/ok")
    def ok() -> str:
        return "fine"

    app.add_middleware(PymetrixMiddleware, metrics=metrics, route=broken_route)
    with TestClient(app) as client:
        assert client.get("/ok").json() == "fine"
    assert hits(metrics) == {}
    assert "router exploded" in caplog.text


def test_invalid_node_from_name_function_is_logged_and_the_request_proceeds(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(fastapi_app(metrics, name=lambda info: "bad\nid")) as client:
        assert client.get("/items/1").status_code == 200
    assert "name= function failed" in caplog.text
    assert hits(metrics) == {"/items/{item_id}": 1, "load_item": 1}


def test_forged_referer_on_a_route_is_shown_only_as_the_route_template(
    client: TestClient, metrics: Metrics
) -> None:
    client.get("/shop/carts/a", headers={"referer": "http://testserver/items/<script>x"})
    assert edges(metrics) == {("/items/{item_id}", "/shop/carts/{cart_id}"): 1}
    assert "script" not in repr(metrics.time_series())


def test_custom_route_function_serves_plain_asgi_apps(metrics: Metrics) -> None:
    async def plain(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def route(scope: Any) -> tuple[str | None, str | None]:
        return ("/api/{rest}", None) if scope["path"].startswith("/api/") else (None, None)

    app = PymetrixMiddleware(plain, metrics=metrics, route=route)
    with TestClient(app) as client:
        client.get("/api/x")
        client.get("/elsewhere", headers={"referer": "http://testserver/api/y"})
    assert edges(metrics) == {(None, "/api/{rest}"): 1, ("/api/{rest}", UNMATCHED): 1}


def test_visitor_previous_node_wins_and_referer_is_the_fallback(metrics: Metrics) -> None:
    with TestClient(fastapi_app(metrics, visitor="cookie")) as client:
        client.get("/items/1", headers={"referer": "http://testserver/sub/things/1"})
        client.get("/shop/carts/a", headers={"referer": "http://testserver/sub/things/1"})
    flow = edges(metrics)
    assert flow[("/sub/things/{thing_id}", "/items/{item_id}")] == 1
    assert flow[("/items/{item_id}", "/shop/carts/{cart_id}")] == 1


def test_visitor_cookie_is_secure_over_https(metrics: Metrics) -> None:
    app = fastapi_app(metrics, visitor="cookie", cookie_name="vid")
    with TestClient(app, base_url="https://testserver") as client:
        set_cookie = client.get("/items/1").headers["set-cookie"]
    assert set_cookie.startswith("vid=")
    assert "Secure" in set_cookie
    assert "SameSite=Lax" in set_cookie
