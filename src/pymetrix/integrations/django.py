"""Django: one hit per request on its URL pattern (``/blog/<int:post_id>/``).

    MIDDLEWARE = [..., "pymetrix.integrations.django.PymetrixMiddleware"]
    PYMETRIX = {"metrics": "myproject.analytics.metrics", "exclude": ["/health"]}

``PYMETRIX["metrics"]`` is a :class:`~pymetrix.Metrics` or the dotted path to one; the
other keys are :class:`~pymetrix.integrations.RecorderOptions` (type the setting as
:class:`PymetrixSettings` to have them checked). Patterns of included URLconfs are
joined to their prefix, as Django resolves them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, TypedDict

from ..errors import InvalidArgument, MissingDependency
from ..metrics import Metrics
from ._core import Recorder, RequestHeaders, Visit
from ._options import RecorderOptions, check_options
from .types import STATS_REQUEST, Route

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.http import HttpRequest, HttpResponseBase
    from django.urls import Resolver404, URLResolver, get_resolver, resolve
    from django.urls.resolvers import LocalePrefixPattern
    from django.utils.module_loading import import_string
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("django", "django") from exc

__all__ = [
    "DjangoRoutes",
    "InvalidSetting",
    "PymetrixMiddleware",
    "PymetrixSettings",
    "django_route",
]

logger = logging.getLogger("pymetrix")

# A regex route (re_path) keeps its groups, but loses the anchors Django joins in.
_ANCHOR = re.compile(r"(^|/)\^")


class _MetricsSetting(TypedDict):
    metrics: Metrics | str
    """A :class:`~pymetrix.Metrics`, or the dotted path to one."""


class PymetrixSettings(_MetricsSetting, RecorderOptions, total=False):
    """``settings.PYMETRIX``: the ``Metrics`` to record into (required), and the options."""


class InvalidSetting(InvalidArgument, ImproperlyConfigured):
    """A ``settings.PYMETRIX`` entry that cannot be used: an ``InvalidArgument`` that is
    also the ``ImproperlyConfigured`` Django raises for every faulty setting."""

    def __init__(self, name: str, value: Any, valid: str) -> None:
        super().__init__(f"settings.PYMETRIX {name}", value, valid)


class PymetrixMiddleware:
    """Record every request as one hit on its URL pattern, configured by ``settings.PYMETRIX``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        config = dict(getattr(settings, "PYMETRIX", None) or {})
        metrics = config.pop("metrics", None)
        if isinstance(metrics, str):
            metrics = import_string(metrics)
        if not isinstance(metrics, Metrics):
            raise InvalidSetting("metrics", metrics, "a pymetrix.Metrics or the dotted path to one")
        check_options(config, InvalidSetting)
        self.recorder = Recorder(metrics, **config)
        self._routes = DjangoRoutes()
        # Under ASGI with async views, stay async: no thread hop per request.
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        visit = self._start(request)
        if visit is None:
            return self.get_response(request)
        with visit:
            response = self.get_response(request)
        return self._end(request, response, visit)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        visit = self._start(request)
        if visit is None:
            response: HttpResponseBase = await self.get_response(request)
            return response
        with visit:
            response = await self.get_response(request)
        return self._end(request, response, visit)

    def _start(self, request: HttpRequest) -> Visit | None:
        recorder = self.recorder
        urlconf = getattr(request, "urlconf", None)
        return recorder.start(
            request.method or "GET",
            request.path,
            partial(self._routes, request, urlconf),
            partial(_headers, request, recorder),
            lambda path: _referer_route(request, path, urlconf),
            request.META,
        )

    def _end(
        self, request: HttpRequest, response: HttpResponseBase, visit: Visit
    ) -> HttpResponseBase:
        recorder = self.recorder
        try:
            if visit.cookie is not None and not visit.stats_request:
                response.set_cookie(
                    recorder.cookie_name,
                    visit.cookie,
                    max_age=recorder.cookie_max_age,
                    path="/",
                    secure=request.is_secure(),
                    httponly=True,
                    samesite="Lax",
                )
            if getattr(response, "streaming", False):
                _time_stream(response, visit)
                return response
        except Exception:
            logger.exception("pymetrix: could not follow the response to %r", request.path)
        visit.finish(response.status_code)
        return response


def django_route(path_info: str, urlconf: Any = None) -> Route:
    """The URL pattern and view name ``path_info`` resolves to, or ``(None, None)``.

    The stats app's view (:func:`pymetrix.web.django.stats_urls`) is no route of the
    project: ``(None, None)`` too.
    """
    try:
        match = resolve(path_info, urlconf)
    except Resolver404:
        return None, None
    if getattr(match.func, "pymetrix_stats", False):
        # The stats app's catch-all pattern is no route of the host app.
        return None, None
    route = _ANCHOR.sub(r"\1", str(match.route))
    if route.endswith("$"):
        route = route[:-1]
    # view_name is "namespace:name" for named URLs, the dotted view path otherwise.
    return "/" + route, match.view_name if match.url_name else None


def _route(request: HttpRequest, urlconf: Any) -> Route:
    found = django_route(request.path_info, urlconf)
    path_info = request.path_info
    if found[0] is None and settings.APPEND_SLASH and not path_info.endswith("/"):
        # CommonMiddleware redirects the stats app's mount point to the same with a
        # slash: that answer belongs to the stats app, left unrecorded.
        try:
            match = resolve(path_info + "/", urlconf)
        except Resolver404:
            return found
        if getattr(match.func, "pymetrix_stats", False):
            request.META[STATS_REQUEST] = True
    return found


class DjangoRoutes:
    """The URL pattern of a request, remembered per URLconf and path.

    Django resolves every request again after the middleware, so resolving is most of
    the middleware's own cost. Resolving depends on the URLconf and the path alone,
    unless the URLconf has ``i18n_patterns`` (the active language too) or resolvers of
    other kinds, which turn remembering off. Paths that resolve to no pattern are not
    remembered, and at most ``size`` paths are.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._found: dict[str, tuple[Route, bool]] = {}
        self._resolver: Any = None
        self._on = False

    def __call__(self, request: HttpRequest, urlconf: Any) -> Route:
        resolver = get_resolver(urlconf)
        if resolver is not self._resolver:
            self._found = {}
            self._on = _path_only(resolver)
            self._resolver = resolver
        if not self._on:
            return _route(request, urlconf)
        path_info = request.path_info
        known = self._found.get(path_info)
        if known is not None:
            if known[1]:
                request.META[STATS_REQUEST] = True
            return known[0]
        found = _route(request, urlconf)
        stats = request.META.get(STATS_REQUEST) is True
        if found[0] is not None or stats:
            if len(self._found) >= self._size:
                self._found.clear()
            self._found[path_info] = (found, stats)
        return found


def _path_only(resolver: Any, depth: int = 0) -> bool:
    """Whether ``resolver`` resolves on the path alone, all the way down."""
    if depth > 16 or type(resolver) is not URLResolver:
        return False
    if isinstance(resolver.pattern, LocalePrefixPattern):
        return False
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver) and not _path_only(pattern, depth + 1):
            return False
        if not type(pattern).__module__.startswith("django."):
            return False
    return True


def _referer_route(request: HttpRequest, path: str, urlconf: Any) -> Route:
    script = request.META.get("SCRIPT_NAME", "") or ""
    if script:
        if not path.startswith(script.rstrip("/") + "/"):
            return None, None
        path = path[len(script.rstrip("/")) :]
    return django_route(path, urlconf)


def _headers(request: HttpRequest, recorder: Recorder) -> RequestHeaders | None:
    meta = request.META
    if recorder.visitor is None and "HTTP_REFERER" not in meta:
        return None  # only a Referer could name a caller, and there is none
    cookie_name = recorder.cookie_name
    host = meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME', '')}:{meta.get('SERVER_PORT', '')}"
    return RequestHeaders(
        host=host,
        scheme=request.scheme or "http",
        referer=meta.get("HTTP_REFERER"),
        cookie=request.COOKIES.get(cookie_name),
        ip=meta.get("REMOTE_ADDR"),
        user_agent=meta.get("HTTP_USER_AGENT"),
    )


def _time_stream(response: Any, visit: Visit) -> None:
    """Record the hit once the streamed body has been sent to its last byte."""
    status = response.status_code
    content = response.streaming_content

    if getattr(response, "is_async", False):

        async def timed_async() -> AsyncIterator[bytes]:
            code = status
            try:
                async for chunk in content:
                    yield chunk
            except Exception:
                code = 500
                raise
            finally:
                visit.finish(code)

        response.streaming_content = timed_async()
        return

    def timed() -> Iterator[bytes]:
        code = status
        try:
            yield from content
        except Exception:
            code = 500
            raise
        finally:
            visit.finish(code)

    response.streaming_content = timed()
