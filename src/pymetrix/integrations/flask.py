"""Flask: one hit per request on its URL rule (``/blog/<int:post_id>``).

    PymetrixFlask(app, metrics=metrics)

Blueprint routes are recorded with their URL prefix, as Flask's URL map holds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency
from ..metrics import Metrics
from ._compat import flask_routes_final
from ._options import RecorderOptions, check_options
from .types import Environ, Route
from .wsgi import PymetrixWSGIMiddleware

try:
    from flask import Flask
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import RequestRedirect
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("flask", "flask") from exc

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["FlaskRoutes", "PymetrixFlask", "flask_route"]


class PymetrixFlask:
    """Record every request to a Flask app as one hit on its URL rule.

    Args:
        app: the Flask app; or None, and call :meth:`init_app` later.
        metrics: where hits are recorded.
        options: :class:`~pymetrix.integrations.RecorderOptions` (``method``, ``name``,
            ``exclude``, ``referer``, ``visitor`` ...), checked here.
    """

    def __init__(
        self, app: Flask | None = None, *, metrics: Metrics, **options: Unpack[RecorderOptions]
    ) -> None:
        check_options(options)
        self.metrics = metrics
        self.options = options
        self.middleware: PymetrixWSGIMiddleware | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Wrap ``app.wsgi_app``."""
        self.middleware = PymetrixWSGIMiddleware(
            app.wsgi_app,
            metrics=self.metrics,
            route=FlaskRoutes(app),
            **self.options,
        )
        app.wsgi_app = self.middleware  # type: ignore[method-assign]
        app.extensions["pymetrix"] = self


def flask_route(app: Flask, environ: Environ) -> Route:
    """The URL rule and endpoint ``app`` would dispatch ``environ`` to, or ``(None, None)``."""
    adapter = app.url_map.bind_to_environ(environ, server_name=app.config["SERVER_NAME"])
    try:
        rule, _ = adapter.match(return_rule=True)
    except (HTTPException, RequestRedirect):
        return None, None
    return rule.rule, rule.endpoint


class FlaskRoutes:
    """:func:`flask_route` for one app, remembered per method and path.

    Matching is most of the middleware's own cost, and done again by Flask itself. Once
    the app has served its first request its rules are final; the match then depends on
    method, script root, path and scheme alone, unless rules match on the host
    (``SERVER_NAME``, subdomain or host matching), which turns remembering off. Paths
    that match no rule are not remembered, and at most ``size`` paths are.
    """

    def __init__(self, app: Flask, size: int = 4096) -> None:
        self._app = app
        self._size = size
        self._found: dict[tuple[Any, Any, Any, Any], Route] = {}

    def __call__(self, environ: Environ) -> Route:
        app = self._app
        if (
            not flask_routes_final(app)
            or app.config["SERVER_NAME"] is not None
            or app.subdomain_matching
            or app.url_map.host_matching
        ):
            return flask_route(app, environ)
        key = (
            environ.get("REQUEST_METHOD"),
            environ.get("SCRIPT_NAME"),
            environ.get("PATH_INFO"),
            environ.get("wsgi.url_scheme"),
        )
        found = self._found.get(key)
        if found is None:
            found = flask_route(app, environ)
            if found[0] is not None:
                if len(self._found) >= self._size:
                    self._found.clear()
                self._found[key] = found
        return found
