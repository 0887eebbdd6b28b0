"""The stats app for WSGI servers and frameworks (Flask, gunicorn ...).

Mount it under a prefix with werkzeug's dispatcher, for a Flask app::

    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/pymetrix": wsgi_app(metrics, token=...)})

A live stream holds a worker (or thread) for as long as its client stays connected: give
the server enough of them, or serve streams from the ASGI app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..integrations.types import STATS_REQUEST
from ._config import StatsConfig, entry_point
from ._service import Request, StatsService
from .sse import EventStream

__all__ = ["WSGIStatsApp", "wsgi_app"]

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

_REASONS = {
    200: "OK",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class _StreamBody:
    """The WSGI iterable of a live stream: closing it (the server does) ends the stream."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._iterator = iter(stream)

    def __iter__(self) -> Iterator[bytes]:
        return self._iterator

    def close(self) -> None:
        self._stream.close()
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()


class WSGIStatsApp:
    """A WSGI application serving what :func:`pymetrix.web.stats_app` serves."""

    def __init__(self, service: StatsService) -> None:
        self.service = service

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # The recording middleware of the host app leaves this request out.
        environ[STATS_REQUEST] = True
        request = _request(environ)
        response = self.service.handle(request)
        status = f"{response.status} {_REASONS.get(response.status, 'Unknown')}"
        if response.stream is not None:
            start_response(status, response.headers)
            if request.method == "HEAD":
                response.stream.close()
                return [b""]
            return _StreamBody(response.stream)
        body = response.body
        start_response(status, [*response.headers, ("Content-Length", str(len(body)))])
        return [b"" if request.method == "HEAD" else body]


@entry_point(StatsConfig)
def wsgi_app(config: StatsConfig) -> WSGIStatsApp:
    """The stats app as a WSGI application; arguments as for :func:`~pymetrix.web.stats_app`."""
    return WSGIStatsApp(StatsService(config))


def _request(environ: Environ) -> Request:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if "CONTENT_TYPE" in environ:
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    # PEP 3333 hands the path over as latin-1 decoded bytes.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    root = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8", "replace")
    return Request.build(
        environ.get("REQUEST_METHOD", "GET"),
        path,
        environ.get("QUERY_STRING", ""),
        headers,
        environ.get("REMOTE_ADDR"),
        root,
        str(environ.get("wsgi.url_scheme") or "http"),
    )
