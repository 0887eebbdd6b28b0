"""Fixtures for the stats app: a fresh Metrics, real uvicorn servers on free ports, and
headless Chromium for the dashboard."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from pymetrix import ManualClock, Metrics

# The dashboard's browser tests drive Debian's Chromium, with the flags it needs here.
from ._browser import CHROMIUM, CHROMIUM_ARGS

START = datetime(2024, 1, 9, 18, 26, 51)


class ASGIApp(Protocol):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Event:
    """One SSE event as a client sees it."""

    id: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class EventReader:
    """A real streaming HTTP client reading Server-Sent Events line by line."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self.connection = connection
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status

    def next(self, timeout: float = 5.0) -> Event:
        """The next event or comment block; raises TimeoutError after ``timeout``."""
        # A server that closes the connection after the response (HTTP/1.0) leaves the
        # socket to the response alone; it keeps the connection's timeout.
        if self.connection.sock is not None:
            self.connection.sock.settimeout(timeout)
        event = Event()
        while True:
            raw = self.response.readline()
            if not raw:
                raise EOFError("stream ended")
            line = raw.decode().rstrip("\n").rstrip("\r")
            if line == "":
                if event.data is not None or event.comments or event.fields:
                    return event
                continue
            if line.startswith(":"):
                event.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                event.data = value if event.data is None else event.data + "\n" + value
            elif name == "id":
                event.id = value
            else:
                event.fields[name] = value

    def next_data(self, timeout: float = 5.0) -> Event:
        """The next event that carries data (skipping heartbeats and ``retry:``)."""
        while True:
            event = self.next(timeout)
            if event.data is not None:
                return event

    def close(self) -> None:
        self.response.close()
        self.connection.close()


class Client:
    """Plain HTTP requests to a test server on 127.0.0.1:``port``."""

    port: int

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def stream(self, path: str, headers: dict[str, str] | None = None) -> EventReader:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path, headers=headers or {})
        return EventReader(connection, connection.getresponse())


class Server(Client):
    """uvicorn serving an ASGI app on 127.0.0.1, in a thread of this process."""

    def __init__(self, app: ASGIApp, **config: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, **config)
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="test-uvicorn"
        )
        self.thread.start()
        pause = threading.Event()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            pause.wait(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class WSGIServerThread(Client):
    """wsgiref serving a WSGI app on 127.0.0.1, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        self.server = make_server(
            "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-wsgi"
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def serve_wsgi() -> Iterator[Any]:
    """``serve_wsgi(app) -> WSGIServerThread``; every server is stopped afterwards."""
    servers: list[WSGIServerThread] = []

    def start(app: Any) -> WSGIServerThread:
        server = WSGIServerThread(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def clock() -> ManualClock:
    """A clock 1 ms apart per reading, starting at a known time."""
    return ManualClock(START, step=0.001)


@pytest.fixture
def metrics(clock: ManualClock) -> Iterator[Metrics]:
    m = Metrics("shop", clock=clock)
    yield m
    m.close()


class InProcess:
    """The same requests as :class:`Client`, answered in this process through
    ``httpx.ASGITransport``: for tests that need no real server (no streaming, no
    sockets), from a loopback client address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                return await client.request(method, path, headers=headers or {})

        response = asyncio.run(send())
        message = http.client.HTTPMessage()
        for name, value in response.headers.multi_items():
            message[name] = value
        return Reply(response.status_code, message, response.content)


@pytest.fixture
def in_process() -> Callable[[ASGIApp], InProcess]:
    """``in_process(app) -> InProcess``: the stats API without a server."""
    return InProcess


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(app, **uvicorn_config) -> Server``; every server is stopped afterwards."""
    servers: list[Server] = []

    def start(app: ASGIApp, **config: Any) -> Server:
        server = Server(app, **config)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, for the dashboard's browser tests of one module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
