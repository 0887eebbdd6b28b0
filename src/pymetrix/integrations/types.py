"""The types the adapters speak: the ASGI and WSGI contracts, and a route as found.

The ASGI aliases are plain mappings, as in ``starlette.types``: any framework's scope
(Starlette's, Litestar's ``TypedDict`` scopes) is one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "STATS_REQUEST",
    "ASGIApp",
    "Environ",
    "Message",
    "Receive",
    "Route",
    "Scope",
    "Send",
    "StartResponse",
    "WSGIApp",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

Route = tuple[str | None, str | None]
"""``(template, view name)`` of the route a request matched; ``(None, None)`` for none."""

STATS_REQUEST = "pymetrix.stats_request"
"""The key the stats app sets (to True) in the ASGI scope, WSGI environ or Django
``request.META`` of every request it answers: adapters leave such requests unrecorded,
so the dashboard never counts its own traffic, wherever it is mounted."""
