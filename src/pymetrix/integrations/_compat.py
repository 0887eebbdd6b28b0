"""Every use of a framework's private internals, in one place.

The adapters use public data where the framework offers it before the view runs
(Starlette's ``BaseRoute.matches()`` and route attributes, Litestar's
``scope["path_template"]``). What only a private member answers is asked here, each
probe pinned by tests against the installed framework versions
(``tests/integrations/test_framework_probes.py``), so that an upgrade that changes it
fails there by name rather than in production.

Known to work with Starlette 1.10, FastAPI 0.165, Litestar 2.25 and Flask 3.1.
"""

from __future__ import annotations

from typing import Any

from .types import Route, Scope

__all__ = ["fastapi_included_route", "flask_routes_final", "litestar_get_route"]


def fastapi_included_route(route: Any, scope: Scope) -> tuple[Any, str | None, str | None] | None:
    """``(match, template, view)`` for a FastAPI included router; None for any other route.

    Recent FastAPI keeps each ``include_router()`` as one route without a ``path`` that
    matches for all of the router's own. Its private ``_match(scope)`` returns
    ``(match, child_scope, inner_route, context)``: the route inside, and a context
    whose ``path_format`` carries the include prefixes. Nested includes answer with
    another included router, asked in turn. Older FastAPI copied included routes into
    ``app.routes`` with their full paths, and they need no probe.
    """
    if getattr(route, "path", None) is not None or not hasattr(route, "_match"):
        return None
    match, _, inner, context = route._match(scope)
    while getattr(inner, "path", None) is None and hasattr(inner, "_match"):
        match, _, inner, context = inner._match(scope)
    template = getattr(context, "path_format", None) or getattr(inner, "path", None)
    return match, template, getattr(inner, "name", None)


def litestar_get_route(app: Any, path: str) -> Route:
    """The path template and handler name a GET of ``path`` reaches in a Litestar app.

    Litestar finds routes for a request in ``app.asgi_router.handle_routing(path=,
    method=)``, which returns ``(asgi_app, handler, path, path_params, template)`` and
    raises when no route (or no GET) is there. ``(None, None)`` then.
    """
    try:
        _, handler, _, _, template = app.asgi_router.handle_routing(path=path, method="GET")
    except Exception:
        # NotFoundException and MethodNotAllowedException: no GET route there.
        return None, None
    if getattr(handler, "opt", {}).get("pymetrix_stats"):
        # The stats app's mount (pymetrix.web.litestar) is no route of the host app.
        return None, None
    if not template:
        # Litestar gives a mounted ASGI app an empty template: its mount point is one.
        paths = getattr(handler, "paths", None)
        template = next(iter(paths)) if paths and len(paths) == 1 else None
    return template, getattr(handler, "name", None)


def flask_routes_final(app: Any) -> bool:
    """Whether a Flask app's URL rules can no longer change.

    Flask refuses ``route()`` and ``add_url_rule()`` once the app has handled its first
    request, which it notes in the private ``_got_first_request``.
    """
    return getattr(app, "_got_first_request", False) is True
