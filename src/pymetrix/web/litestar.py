"""The stats app as a Litestar route handler.

In the Litestar app::

    from pymetrix.web import stats_app
    from pymetrix.web.litestar import stats_mount

    app = Litestar(route_handlers=[..., stats_mount("/pymetrix", stats_app(metrics, token=...))])

Litestar hands a mounted ASGI app the path below the mount with a slash appended and
leaves ``root_path`` as it was, so a plain ``@asgi(..., is_mount=True)`` around
:func:`~pymetrix.web.stats_app` cannot tell ``/api/aggregate`` from ``/api/aggregate/``,
nor build links below the mount. This handler gives the stats app the request's own path
and the mount point as ``root_path``. Needs Litestar (``pip install 'pymetrix[litestar]'``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from ..errors import InvalidArgument, MissingDependency
from ..integrations.types import STATS_REQUEST
from .app import StatsApp

try:
    from litestar.handlers import ASGIRouteHandler, asgi
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency("litestar", "litestar") from exc

__all__ = ["stats_mount"]


def stats_mount(path: str, app: StatsApp, *, name: str = "pymetrix-stats") -> ASGIRouteHandler:
    """A Litestar route handler serving ``app`` below ``path`` (``"/pymetrix"``).

    Args:
        path: the mount point, e.g. ``"/pymetrix"``; the dashboard is at ``path + "/"``.
        app: the stats app, from :func:`~pymetrix.web.stats_app`.
        name: the handler's name in the Litestar app.
    """
    if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == "":
        raise InvalidArgument("path", path, "a mount point such as '/pymetrix'")
    if not isinstance(app, StatsApp):
        raise InvalidArgument("app", app, "a pymetrix.web.StatsApp (from stats_app())")
    mount = path.rstrip("/")

    async def pymetrix_stats(scope: Any, receive: Any, send: Any) -> None:
        # Marked on the scope Litestar's middleware sees, not only on the copy below.
        scope[STATS_REQUEST] = True
        root = scope.get("root_path") or ""
        below = scope.get("path") or "/"  # Litestar's, a slash appended
        raw = scope.get("raw_path")
        full = unquote_to_bytes(raw).decode("utf-8", "replace") if raw else ""
        if root and full and not (full == root or full.startswith(root + "/")):
            full = root + full
        # The mount point as requested, a Router's prefix included: below it is either
        # Litestar's path or the same without the slash Litestar appended.
        point = next(
            (full[: len(full) - len(rest)] for rest in (below, below[:-1]) if full.endswith(rest)),
            None,
        )
        if not full or point is None:
            point = root + mount
            full = point + below.rstrip("/")
        await app({**scope, "root_path": point, "path": full}, receive, send)

    # The opt declares the handler to the Litestar plugin: a Referer into it names no caller.
    mounted = asgi(mount, is_mount=True, copy_scope=False, name=name, opt={"pymetrix_stats": True})
    return mounted(pymetrix_stats)
