"""The stats app for ASGI servers and frameworks (uvicorn, Starlette, FastAPI ...)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..integrations.types import STATS_REQUEST
from ..metrics import Metrics
from ._config import StatsConfig, entry_point
from ._service import Request, Response, StatsService
from .sse import EventStream

__all__ = ["StatsApp", "stats_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class StatsApp:
    """An ASGI application serving the stats API, live streams, metrics and dashboard.

    Build it with :func:`stats_app`. ``active_streams`` counts the live streams open now.
    """

    pymetrix_stats = True
    """Declared for the recording middleware: a ``Referer`` into a mount of this app
    names no caller."""

    def __init__(self, service: StatsService) -> None:
        self.service = service
        self._streams: set[EventStream] = set()

    @property
    def metrics(self) -> Metrics:
        return self.service.metrics

    @property
    def active_streams(self) -> int:
        """Live streams currently open (each one a connected client)."""
        return len(self._streams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            # A websocket handshake is refused by closing before accepting.
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        # The recording middleware of the host app leaves this request out.
        scope[STATS_REQUEST] = True
        request = _request(scope)
        # Store reads may take a while; keep them off the event loop.
        answer = asyncio.ensure_future(asyncio.to_thread(self.service.handle, request))
        try:
            response = await asyncio.shield(answer)
        except asyncio.CancelledError:
            # Cancelled (client gone, server stopping) while the worker thread runs: a
            # stream it opens must still be closed.
            answer.add_done_callback(_close_stream)
            raise
        if response.stream is not None:
            await self._send_stream(response, request, receive, send)
        else:
            await _send(response, send, head=request.method == "HEAD")

    async def _send_stream(
        self, response: Response, request: Request, receive: Receive, send: Send
    ) -> None:
        stream = response.stream
        assert stream is not None
        self._streams.add(stream)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": _raw(response.headers),
                }
            )
            if request.method == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return

            async def pump() -> None:
                async for chunk in stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass

            tasks = {
                asyncio.create_task(pump(), name="pymetrix-sse-send"),
                asyncio.create_task(watch(), name="pymetrix-sse-watch"),
            }
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                # A client gone mid-write surfaces as an OSError from the server.
                if isinstance(result, Exception) and not isinstance(result, OSError):
                    raise result
        finally:
            stream.close()
            self._streams.discard(stream)


@entry_point(StatsConfig)
def stats_app(config: StatsConfig) -> StatsApp:
    """The stats API, live streams, Prometheus metrics and dashboard as an ASGI app.

    ``stats_app(metrics, token=None, allow_public=False, *, heartbeat=15.0, retry=2000,
    static=None)``: the arguments of :class:`~pymetrix.web.StatsConfig`. Mount it under a
    prefix, e.g. ``app.mount("/pymetrix", stats_app(metrics, token=...))``.
    """
    return StatsApp(StatsService(config))


def _request(scope: Scope) -> Request:
    root = (scope.get("root_path") or "").rstrip("/")
    path: str = scope.get("path", "/")
    # Servers and routers disagree on whether ``path`` includes ``root_path``: accept both.
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    client = scope.get("client")
    raw_query = scope.get("query_string") or b""
    return Request.build(
        scope.get("method", "GET"),
        path,
        raw_query.decode("latin-1"),
        headers,
        None if not client else str(client[0]),
        root,
        str(scope.get("scheme") or "http"),
    )


def _close_stream(answer: asyncio.Future[Response]) -> None:
    if not answer.cancelled() and answer.exception() is None:
        stream = answer.result().stream
        if stream is not None:
            stream.close()


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _send(response: Response, send: Send, head: bool = False) -> None:
    body = response.body
    headers = [*response.headers, ("content-length", str(len(body)))]
    await send({"type": "http.response.start", "status": response.status, "headers": _raw(headers)})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
