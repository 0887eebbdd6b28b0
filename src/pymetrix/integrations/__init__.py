"""Framework integrations: one middleware line records every request as a hit.

- ASGI (Starlette, FastAPI, any ASGI app): :mod:`pymetrix.integrations.asgi`
- Litestar: :mod:`pymetrix.integrations.litestar`
- WSGI (any WSGI app): :mod:`pymetrix.integrations.wsgi`
- Flask: :mod:`pymetrix.integrations.flask`
- Django: :mod:`pymetrix.integrations.django`

Each adapter imports its framework only when imported itself. Every adapter takes the
same :class:`RecorderOptions` and drives the same :class:`Recorder`; an adapter for
another framework does too (see ``docs/integrations.md``).
"""

from __future__ import annotations

from ._core import UNMATCHED, ErrorStatus, Recorder, RequestHeaders, Visit
from ._options import COOKIE_NAME, NameFunction, RecorderOptions, RouteInfo, VisitorMode
from .types import Route

__all__ = [
    "COOKIE_NAME",
    "UNMATCHED",
    "ErrorStatus",
    "NameFunction",
    "Recorder",
    "RecorderOptions",
    "RequestHeaders",
    "Route",
    "RouteInfo",
    "Visit",
    "VisitorMode",
]
