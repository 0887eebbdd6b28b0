"""The Litestar plugin on a real Litestar app, through its TestClient."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
from litestar import Litestar, Router, get, websocket_listener
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath
from litestar.response import Stream
from litestar.testing import TestClient

from pymetrix import ManualClock, Metrics
from pymetrix.integrations import UNMATCHED
from pymetrix.integrations.litestar import PymetrixPlugin

from ._helpers import details, edges, hits


class ViewError(Exception):
    pass


def make_app(metrics: Metrics, observed: dict[str, Any] | None = None, **options: Any) -> Litestar:
    seen = {} if observed is None else observed

    @metrics.track("lookup")
    def lookup(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @get("/items/{item_id:int}")
    async def item(item_id: FromPath[int]) -> dict[str, int]:
        return lookup(item_id)

    @get("/health")
    async def health() -> str:
        return "ok"

    @get("/boom")
    async def boom() -> None:
        raise ViewError("view failed")

    @get("/private")
    async def private() -> None:
        raise NotAuthorizedException()

    @get("/stream")
    async def stream() -> Stream:
        async def body() -> AsyncIterator[bytes]:
            start = time.perf_counter()
            yield b"a,"
            yield b"b,"
            seen["hits_before_last_chunk"] = hits(metrics).get("/stream", 0)
            seen["span"] = time.perf_counter() - start
            yield b"c"

        return Stream(body())

    @get("/users/{user_id:str}")
    async def user(user_id: FromPath[str]) -> dict[str, str]:
        return {"user": user_id}

    @websocket_listener("/ws")
    async def echo(data: str) -> str:
        return f"echo {data}"

    api = Router(path="/api", route_handlers=[user])
    return Litestar(
        route_handlers=[item, health, boom, private, stream, echo, api],
        plugins=[PymetrixPlugin(metrics=metrics, **options)],
    )


@pytest.fixture
def client(metrics: Metrics) -> Iterator[TestClient[Litestar]]:
    with TestClient(make_app(metrics)) as test_client:
        yield test_client


def test_each_request_is_one_hit_on_its_path_template(
    client: TestClient[Litestar], metrics: Metrics
) -> None:
    for item_id in (1, 2):
        assert client.get(f"/items/{item_id}").json() == {"id": item_id}
    assert client.get("/api/users/ann").json() == {"user": "ann"}
    assert hits(metrics) == {"lookup": 2, "/items/{item_id}": 2, "/api/users/{user_id}": 1}
    assert edges(metrics)[("/items/{item_id}", "lookup")] == 2
    ((caller, duration, status), *_) = details(metrics, "/items/{item_id}")
    assert (caller, status) == (None, 200)
    assert duration is not None


def test_unmatched_requests_count_under_one_node(
    client: TestClient[Litestar], metrics: Metrics
) -> None:
    for n in range(20):
        assert client.get(f"/nowhere/{n}").status_code == 404
    assert hits(metrics) == {UNMATCHED: 20}
    assert {status for _, _, status in details(metrics, UNMATCHED)} == {404}


def test_excluded_paths_are_not_recorded(metrics: Metrics) -> None:
    with TestClient(make_app(metrics, exclude=["/health", "/nowhere/*"])) as client:
        client.get("/health")
        client.get("/nowhere/1")
        client.get("/items/1")
    assert hits(metrics) == {"lookup": 1, "/items/{item_id}": 1}


def test_same_origin_referer_becomes_the_caller_route(
    client: TestClient[Litestar], metrics: Metrics
) -> None:
    base = str(client.base_url)
    client.get("/health", headers={"referer": f"{base}/api/users/bo"})
    client.get("/health", headers={"referer": "http://evil.test/api/users/bo"})
    client.get("/health", headers={"referer": f"{base}/no/such/page"})
    assert edges(metrics) == {("/api/users/{user_id}", "/health"): 1, (None, "/health"): 2}


def test_visitor_cookie_links_a_visitors_requests() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0))
    with Metrics("web", clock=clock) as metrics:
        with TestClient(make_app(metrics, visitor="cookie", referer=False)) as client:
            assert client.get("/health").headers["set-cookie"].startswith("pymetrix_vid=")
            client.get("/api/users/x")
            clock.advance(31 * 60)
            client.get("/api/users/y")
        flow = edges(metrics)
    assert flow[("/health", "/api/users/{user_id}")] == 1
    assert flow[(None, "/api/users/{user_id}")] == 1


def test_exception_in_view_is_recorded_as_500(
    client: TestClient[Litestar], metrics: Metrics
) -> None:
    assert client.get("/boom").status_code == 500
    assert client.get("/private").status_code == 401
    assert [status for _, _, status in details(metrics, "/boom")] == [500]
    assert [status for _, _, status in details(metrics, "/private")] == [401]


def test_streaming_response_is_timed_to_its_last_byte(metrics: Metrics) -> None:
    observed: dict[str, Any] = {}
    with TestClient(make_app(metrics, observed)) as client:
        assert client.get("/stream").content == b"a,b,c"
    assert observed["hits_before_last_chunk"] == 0
    ((_, duration, status),) = details(metrics, "/stream")
    assert status == 200
    assert duration is not None
    assert duration >= observed["span"]


def test_websocket_passes_through_unrecorded(
    client: TestClient[Litestar], metrics: Metrics
) -> None:
    with client.websocket_connect("/ws") as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "echo hi"
    assert hits(metrics) == {}
