"""The ASGI middleware under a real uvicorn server on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from pymetrix import Metrics
from pymetrix.integrations import UNMATCHED
from pymetrix.integrations.asgi import PymetrixMiddleware
from pymetrix.testing import wait_until

from ._helpers import details, edges, hits


def make_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> object:
            for n in range(100):
                yield f"{n},".encode()

        return StreamingResponse(body(), media_type="text/plain")  # type: ignore[arg-type]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("view failed")

    @app.get("/health")
    async def health() -> str:
        return "ok"

    app.add_middleware(PymetrixMiddleware, metrics=metrics, exclude="/health")
    return app


@pytest.fixture
def server(metrics: Metrics) -> Iterator[str]:
    """A uvicorn server on a free loopback port, in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(make_app(metrics), log_level="critical", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: instance.started)
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


def total(metrics: Metrics) -> int:
    return sum(hits(metrics).values())


def test_requests_over_http_are_counted_exactly_per_route(server: str, metrics: Metrics) -> None:
    with httpx.Client(base_url=server) as client:
        for item_id in range(20):
            assert client.get(f"/items/{item_id}").json() == {"id": item_id}
        for n in range(5):
            assert client.get(f"/missing/{n}").status_code == 404
        assert client.get("/health").status_code == 200
    wait_until(lambda: total(metrics) == 25)
    assert hits(metrics) == {"/items/{item_id}": 20, UNMATCHED: 5}


def test_concurrent_clients_are_counted_exactly(server: str, metrics: Metrics) -> None:
    def fetch(n: int) -> int:
        with httpx.Client(base_url=server) as client:
            return sum(client.get(f"/items/{n * 100 + k}").status_code for k in range(25))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(fetch, range(8))) == 200 * 200
    wait_until(lambda: total(metrics) == 200)
    assert hits(metrics) == {"/items/{item_id}": 200}


def test_same_origin_referer_over_http_names_the_previous_route(
    server: str, metrics: Metrics
) -> None:
    with httpx.Client(base_url=server) as client:
        client.get("/stream", headers={"referer": f"{server}/items/5"})
        client.get("/stream", headers={"referer": "http://127.0.0.1:1/items/5"})
    wait_until(lambda: total(metrics) == 2)
    assert edges(metrics) == {("/items/{item_id}", "/stream"): 1, (None, "/stream"): 1}


def test_streamed_body_and_view_errors_get_their_status(server: str, metrics: Metrics) -> None:
    with httpx.Client(base_url=server) as client:
        response = client.get("/stream")
        assert response.text == "".join(f"{n}," for n in range(100))
        assert client.get("/boom").status_code == 500
    wait_until(lambda: total(metrics) == 2)
    assert [status for _, _, status in details(metrics, "/stream")] == [200]
    assert [status for _, _, status in details(metrics, "/boom")] == [500]
