"""Litestar: one hit per request on its path template (``/items/{item_id}``).

    Litestar(route_handlers=[...], plugins=[PymetrixPlugin(metrics=metrics)])

Litestar routes a request before its middleware runs, so the middleware this plugin adds
reads the template Litestar found; requests no route matches never reach middleware and
are counted by an ``after_exception`` hook under ``"<unmatched>"`` (without a duration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MissingDependency
from ..metrics import Metrics
from ._compat import litestar_get_route
from ._core import Recorder
from ._options import RecorderOptions
from .asgi import RecordingMiddleware, request_headers
from .types import ASGIApp, Route, Scope

try:
    from litestar.config.app import AppConfig
    from litestar.exceptions import HTTPException
    from litestar.plugins import InitPluginProtocol
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("litestar", "litestar") from exc

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["PymetrixPlugin", "litestar_referer_route", "litestar_route"]


class PymetrixPlugin(InitPluginProtocol):
    """Record every HTTP request to a Litestar app as one hit on its path template.

    Args:
        metrics: where hits are recorded.
        options: :class:`~pymetrix.integrations.RecorderOptions` (``method``, ``name``,
            ``exclude``, ``referer``, ``visitor`` ...).
    """

    def __init__(self, *, metrics: Metrics, **options: Unpack[RecorderOptions]) -> None:
        self.recorder = Recorder(metrics, error_status=_error_status, **options)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the recording middleware (outermost) and the unmatched-request hook."""
        # Litestar's ASGI types are TypedDicts; ours are plain mappings of the same data.
        app_config.middleware.insert(0, self.middleware)  # type: ignore[arg-type]
        app_config.after_exception.append(self.unmatched)  # type: ignore[arg-type]
        return app_config

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """The recording middleware around one route's handler."""
        return RecordingMiddleware(app, self.recorder, litestar_route, litestar_referer_route)

    def unmatched(self, exc: Exception, scope: Scope) -> None:
        """Count a request that no route matched (raised while routing)."""
        if scope.get("type") != "http" or "route_handler" in scope:
            return
        recorder = self.recorder
        visit = recorder.start(
            scope.get("method", "GET"),
            scope.get("path", ""),
            _no_route,
            lambda: request_headers(scope, recorder),
            lambda path: litestar_referer_route(scope, path),
            scope,
        )
        if visit is not None:
            # Routing failed before any hook Litestar offers: there is no start to time from.
            visit.finish(_error_status(exc), timed=False)


def _error_status(exc: Exception) -> int:
    # Litestar turns these into their responses after they leave the middleware.
    return exc.status_code if isinstance(exc, HTTPException) else 500


def _no_route() -> Route:
    return None, None


def litestar_route(scope: Scope) -> Route:
    """The path template Litestar routed ``scope`` to, and its handler's name."""
    handler = scope.get("route_handler")
    template = scope.get("path_template")
    if not template:
        # Litestar gives a mounted ASGI app an empty template: its mount point is one.
        paths = getattr(handler, "paths", None)
        template = next(iter(paths)) if paths and len(paths) == 1 else None
    return template, getattr(handler, "name", None)


def litestar_referer_route(scope: Scope, path: str) -> Route:
    """The path template a GET of ``path`` would be routed to, or ``(None, None)``."""
    app = scope.get("litestar_app")
    if app is None:
        return None, None
    root_path = scope.get("root_path", "")
    if root_path:
        if not path.startswith(root_path):
            return None, None
        path = path[len(root_path) :] or "/"
    return litestar_get_route(app, path)
