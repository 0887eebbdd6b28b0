"""The stats HTTP API, live Server-Sent Events, Prometheus metrics and the dashboard.

``stats_app`` is an ASGI application; ``wsgi_app`` the same for WSGI;
``pymetrix.web.django.stats_urls`` the same as Django URL patterns; all three take the
arguments of :class:`StatsConfig`. ``pymetrix.web.litestar.stats_mount`` mounts a
``stats_app`` in a Litestar app. None needs anything beyond the standard library, except
``GET /metrics`` (``pymetrix[prometheus]``), the Django patterns (``pymetrix[django]``)
and the Litestar handler (``pymetrix[litestar]``).
"""

from __future__ import annotations

from ._config import StatsConfig
from .app import StatsApp, stats_app
from .auth import Access, is_loopback
from .wsgi import WSGIStatsApp, wsgi_app

__all__ = [
    "Access",
    "StatsApp",
    "StatsConfig",
    "WSGIStatsApp",
    "is_loopback",
    "stats_app",
    "wsgi_app",
]
