"""The original Pymetrix's ``Endpoint``: a path and the view behind it (see ``compat``)."""

from __future__ import annotations

from .compat import Endpoint

__all__ = ["Endpoint"]
