"""A pure ASGI middleware: one hit per HTTP request, for Starlette, FastAPI or any ASGI app.

    app.add_middleware(PymetrixMiddleware, metrics=metrics)

Routes are found by asking the app's own router (``scope["app"].routes``, as Starlette and
FastAPI set it) which route template the request matches, before the view runs, so that
hits recorded inside the view get the route as caller. Other ASGI apps pass ``route=``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from ..metrics import Metrics
from ._compat import fastapi_included_route
from ._core import Recorder, RequestHeaders, parse_cookie
from ._options import RecorderOptions
from .types import STATS_REQUEST, ASGIApp, Message, Receive, Route, Scope, Send

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "PymetrixMiddleware",
    "RecordingMiddleware",
    "Scope",
    "request_headers",
    "StarletteRoutes",
    "starlette_route",
]

logger = logging.getLogger("pymetrix")

RouteFunction = Callable[[Scope], Route]
RefererRouteFunction = Callable[[Scope, str], Route]

try:
    from starlette.routing import Match

    _FULL: Any = Match.FULL
    _PARTIAL: Any = Match.PARTIAL
except ImportError:  # pragma: no cover - then no app has Starlette routes to match
    _FULL = _PARTIAL = object()


class RecordingMiddleware:
    """The ASGI recording loop, given a recorder and how to find routes.

    Args:
        app: the ASGI app to wrap.
        recorder: the shared recording core.
        route: ``route(scope) -> (template, view name)`` for the request.
        referer_route: ``referer_route(scope, path)``: the same for a referer's path.
    """

    def __init__(
        self,
        app: ASGIApp,
        recorder: Recorder,
        route: RouteFunction,
        referer_route: RefererRouteFunction,
    ) -> None:
        self.app = app
        self.recorder = recorder
        self._route = route
        self._referer_route = referer_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorder = self.recorder
        # partial() rather than lambdas: made and called in C, once per request.
        visit = recorder.start(
            scope.get("method", "GET"),
            scope.get("path", ""),
            partial(self._route, scope),
            partial(request_headers, scope, recorder),
            partial(self._referer_route, scope),
            scope,
        )
        if visit is None:
            await self.app(scope, receive, send)
            return

        status: int | None = None
        cookie = visit.cookie

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if cookie is not None and not visit.stats_request:
                    try:
                        message = _with_cookie(message, recorder, cookie, scope)
                    except Exception:
                        logger.exception("pymetrix: could not set the visitor cookie")
            await send(message)

        try:
            with visit:
                await self.app(scope, receive, send_status)
        finally:
            # After an exception the visit has recorded its status already; this call
            # covers the response that ended, or was cancelled, after its start.
            visit.finish(status)


class PymetrixMiddleware(RecordingMiddleware):
    """Record every HTTP request as one hit on its route, with duration and status.

    Args:
        app: the ASGI app to wrap.
        metrics: where hits are recorded.
        route: ``route(scope) -> (template, view name)`` for apps that are not
            Starlette-style; ``(None, None)`` means no route matched.
        options: :class:`~pymetrix.integrations.RecorderOptions` (``method``, ``name``,
            ``exclude``, ``referer``, ``visitor`` ...).

    Lifespan and websocket scopes pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        route: RouteFunction | None = None,
        **options: Unpack[RecorderOptions],
    ) -> None:
        recorder = Recorder(metrics, **options)
        if route is None:
            super().__init__(app, recorder, StarletteRoutes(), starlette_referer_route)
        else:
            super().__init__(app, recorder, route, _referer_route_via(route))


def starlette_route(scope: Scope) -> Route:
    """The template and name of the route a Starlette/FastAPI app sends ``scope`` to.

    Mounted apps and routers are searched too, their mount paths joined to the inner
    template. A path that matches only with another method (405) gives that route. A
    mount of the stats app is no route: its requests, and the redirect of its mount
    point to the same with a slash, are marked as the stats app's (left unrecorded).
    """
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if routes is None:
        return None, None
    # A copy: matching may note state in the scope, which the real routing must not see.
    found = _match(routes, {**scope}, "")
    if isinstance(found, _StatsMount):
        scope[STATS_REQUEST] = True
        return None, None
    path = scope.get("path", "")
    if (
        found[0] is None
        and not path.endswith("/")
        # The router answers a mount point without its slash with a redirect there.
        and getattr(getattr(app, "router", None), "redirect_slashes", False)
        and isinstance(_match(routes, {**scope, "path": path + "/"}, ""), _StatsMount)
    ):
        scope[STATS_REQUEST] = True
    return found


class StarletteRoutes:
    """:func:`starlette_route`, remembered per method and path for the routes it found.

    Matching a request against every route is most of the middleware's own cost; the
    answer depends only on method, root path and path while the app's routes are the
    stock Starlette and FastAPI kinds (a ``Host`` route, or a route class of the app's
    own, may match on more, and turns remembering off). The app's route list changing
    (a route added) starts over. Paths that match no route are not remembered, and at
    most ``size`` paths are, so random URLs cannot grow it.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._found: dict[tuple[Any, Any, Any], tuple[Route, bool]] = {}
        self._stamp: tuple[int, int] | None = None
        self._on = False

    def __call__(self, scope: Scope) -> Route:
        routes = getattr(scope.get("app"), "routes", None)
        if routes is None:
            return None, None
        stamp = (id(routes), len(routes))
        if stamp != self._stamp:
            self._found = {}
            self._on = _path_only(routes)
            self._stamp = stamp
        if not self._on:
            return starlette_route(scope)
        key = (scope.get("method"), scope.get("root_path"), scope.get("path"))
        known = self._found.get(key)
        if known is not None:
            if known[1]:
                scope[STATS_REQUEST] = True
            return known[0]
        found = starlette_route(scope)
        stats = scope.get(STATS_REQUEST) is True
        if found[0] is not None or stats:
            found_now = self._found
            if len(found_now) >= self._size:
                found_now.clear()
            found_now[key] = (found, stats)
        return found


def _path_only(routes: Sequence[Any], depth: int = 0) -> bool:
    """Whether ``routes``, and those mounted below, match on method and path alone."""
    if depth > 16:
        return False
    for route in routes:
        if type(route).__module__.split(".")[0] not in ("starlette", "fastapi"):
            return False
        if type(route).__name__ == "Host":
            return False
        inner = getattr(route, "routes", None)
        if inner and not _path_only(inner, depth + 1):
            return False
    return True


def starlette_referer_route(scope: Scope, path: str) -> Route:
    """The route a GET of ``path`` would reach in the app serving ``scope``."""
    return starlette_route({**scope, "path": path, "method": "GET"})


def _referer_route_via(route: RouteFunction) -> RefererRouteFunction:
    return lambda scope, path: route({**scope, "path": path, "method": "GET"})


class _StatsMount:
    """What :func:`_match` returns for a request to a mount of the stats app."""


_STATS_MOUNT = _StatsMount()


def _match(routes: Sequence[Any], scope: Scope, prefix: str) -> Route | _StatsMount:
    partial: Route = (None, None)
    path = scope["path"]
    relative = _relative_path(path, scope.get("root_path", ""))
    for route in routes:
        # A route's own matches() builds its child scope and converts parameters: most
        # routes are ruled out by their regex alone, at a fraction of that cost.
        regex = getattr(route, "path_regex", None)
        if regex is not None and not regex.match(relative) and not regex.match(path):
            continue
        # Only a route without a path of its own can be one of FastAPI's included routers.
        included = None if hasattr(route, "path") else fastapi_included_route(route, scope)
        if included is not None:
            match, template, view = included
            found = (prefix + (template or ""), view)
        else:
            match, child = route.matches(scope)
            if match is _FULL and getattr(getattr(route, "app", None), "pymetrix_stats", False):
                return _STATS_MOUNT
            found = (prefix + (getattr(route, "path", None) or ""), getattr(route, "name", None))
            if match is _FULL:
                inner_routes = getattr(route, "routes", None)
                if inner_routes:
                    return _match(inner_routes, {**scope, **child}, found[0] or "")
        if match is _FULL:
            return found
        if match is _PARTIAL and partial[0] is None:
            partial = found
    return partial


def _relative_path(path: str, root_path: str) -> str:
    """The path below ``root_path``, as Starlette's routes match it."""
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    return rest if not rest or rest[0] == "/" else path


def request_headers(scope: Scope, recorder: Recorder) -> RequestHeaders | None:
    """What the caller sources need from an ASGI HTTP scope; None if nothing could name one."""
    raw = scope.get("headers", ())
    if recorder.visitor is None:
        for key, _ in raw:
            if key == b"referer":
                break
        else:
            return None  # only a Referer could name a caller, and there is none
    cookie_name = recorder.cookie_name
    host = referer = cookie = user_agent = None
    for key, value in raw:
        if key == b"host":
            host = value.decode("latin-1")
        elif key == b"referer":
            referer = value.decode("latin-1")
        elif key == b"cookie":
            found = parse_cookie(value.decode("latin-1"), cookie_name)
            if found is not None:
                cookie = found
        elif key == b"user-agent":
            user_agent = value.decode("latin-1")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    client = scope.get("client")
    return RequestHeaders(
        host=host,
        scheme=scope.get("scheme", "http"),
        referer=referer,
        cookie=cookie,
        ip=client[0] if client else None,
        user_agent=user_agent,
    )


def _with_cookie(message: Message, recorder: Recorder, value: str, scope: Scope) -> Message:
    header = recorder.cookie_header(value, scope.get("scheme") == "https")
    headers = [*message.get("headers", ()), (b"set-cookie", header.encode("latin-1"))]
    return {**message, "headers": headers}
