"""The stats app as Django URL patterns.

In the project's ``urls.py``::

    from django.urls import include, path
    from pymetrix.web.django import stats_urls

    urlpatterns = [path("pymetrix/", include(stats_urls(metrics, token=...)))]

Needs Django (``pip install 'pymetrix[django]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import MissingDependency
from ..integrations.types import STATS_REQUEST
from ._config import StatsConfig, entry_point
from ._service import Request, StatsService

try:
    from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
    from django.urls import URLPattern, re_path
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("django", "django") from exc

__all__ = ["stats_urls", "stats_view"]


def stats_view(service: StatsService) -> Any:
    """A Django view answering every path below where it is included."""

    def view(request: HttpRequest, rest: str = "") -> HttpResponse | StreamingHttpResponse:
        # The Pymetrix middleware leaves this request out.
        request.META[STATS_REQUEST] = True
        path = "/" + rest if rest else ("/" if request.path.endswith("/") else "")
        root = request.path[: len(request.path) - len(rest)] if rest else request.path
        headers = {name.lower(): value for name, value in request.headers.items()}
        query = request.META.get("QUERY_STRING", "")
        response = service.handle(
            Request.build(
                request.method or "GET",
                path,
                query,
                headers,
                request.META.get("REMOTE_ADDR"),
                root,
                request.scheme or "http",
            )
        )
        if response.stream is not None:
            stream = response.stream

            def body() -> Iterator[bytes]:
                try:
                    yield from stream
                finally:
                    stream.close()

            out: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
                body(), status=response.status
            )
        else:
            out = HttpResponse(response.body, status=response.status)
        for name, value in response.headers:
            out[name] = value
        return out

    # Declared for the Pymetrix middleware: a Referer naming this view names no caller.
    view.pymetrix_stats = True  # type: ignore[attr-defined]
    return view


@entry_point(StatsConfig)
def stats_urls(config: StatsConfig) -> list[URLPattern]:
    """URL patterns serving the stats app; arguments as for :func:`~pymetrix.web.stats_app`."""
    return [re_path(r"^(?P<rest>.*)$", stats_view(StatsService(config)))]
