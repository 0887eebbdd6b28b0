"""A WSGI middleware: one hit per request, timed until the server closes the body.

    app.wsgi_app = PymetrixWSGIMiddleware(app.wsgi_app, metrics=metrics, route=my_router)

Flask users call :class:`pymetrix.integrations.flask.PymetrixFlask` instead, which passes
Flask's own router as ``route``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from ..metrics import Metrics
from ._core import Recorder, RequestHeaders, Visit, parse_cookie
from ._options import RecorderOptions
from .types import Environ, Route, StartResponse, WSGIApp

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["PymetrixWSGIMiddleware", "WSGIRouteFunction", "request_headers"]

logger = logging.getLogger("pymetrix")

WSGIRouteFunction = Callable[[Environ], Route]


def _no_route(environ: Environ) -> Route:
    return None, None


class PymetrixWSGIMiddleware:
    """Record every request to a WSGI app as one hit on its route.

    Args:
        app: the WSGI app to wrap.
        metrics: where hits are recorded.
        route: ``route(environ) -> (template, view name)``: which route the request
            matches, ``(None, None)`` for none. Without it every request counts under
            ``"<unmatched>"`` unless ``name=`` names it.
        options: :class:`~pymetrix.integrations.RecorderOptions` (``method``, ``name``,
            ``exclude``, ``referer``, ``visitor`` ...).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        metrics: Metrics,
        route: WSGIRouteFunction | None = None,
        **options: Unpack[RecorderOptions],
    ) -> None:
        self.app = app
        self.recorder = Recorder(metrics, **options)
        self._route = route or _no_route

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        recorder = self.recorder
        visit = recorder.start(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            partial(self._route, environ),
            partial(request_headers, environ, recorder),
            partial(self._referer_route, environ),
            environ,
        )
        if visit is None:
            return self.app(environ, start_response)

        body = _Body(visit)
        cookie = visit.cookie
        secure = environ.get("wsgi.url_scheme") == "https"

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                body.status = int(status[:3])
                if cookie is not None and not visit.stats_request:
                    headers = [*headers, ("Set-Cookie", recorder.cookie_header(cookie, secure))]
            except Exception:
                logger.exception("pymetrix: could not read the response status %r", status)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        with visit:
            body.inner = self.app(environ, start)
        return body

    def _referer_route(self, environ: Environ, path: str) -> Route:
        script = environ.get("SCRIPT_NAME", "")
        if script:
            if path != script and not path.startswith(script + "/"):
                return None, None
            path = path[len(script) :]
        return self._route({**environ, "PATH_INFO": path, "REQUEST_METHOD": "GET"})


class _Body:
    """The response body, passed through; the request is recorded after its last byte."""

    __slots__ = ("inner", "status", "visit")

    def __init__(self, visit: Visit) -> None:
        self.visit = visit
        self.status: int | None = None
        self.inner: Iterable[bytes] = ()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.inner
        except Exception:
            self.visit.finish(500)
            raise
        # The last byte is out: a server that never calls close() still gets a hit.
        self.visit.finish(self.status)

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            self.visit.finish(self.status)


def request_headers(environ: Environ, recorder: Recorder) -> RequestHeaders | None:
    """What the caller sources need from a WSGI environ; None if nothing could name one."""
    if recorder.visitor is None and "HTTP_REFERER" not in environ:
        return None  # only a Referer could name a caller, and there is none
    cookie_header = environ.get("HTTP_COOKIE")
    host = environ.get("HTTP_HOST")
    if not host:
        host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    return RequestHeaders(
        host=host,
        scheme=environ.get("wsgi.url_scheme", "http"),
        referer=environ.get("HTTP_REFERER"),
        cookie=None if cookie_header is None else parse_cookie(cookie_header, recorder.cookie_name),
        ip=environ.get("REMOTE_ADDR"),
        user_agent=environ.get("HTTP_USER_AGENT"),
    )
