"""The original Pymetrix's ``Endpoint``: a path and the view behind it."""

from __future__ import annotations

from typing import Any

__all__ = ["Endpoint"]


class Endpoint:
    """An endpoint as the original described it.

    Args:
        endpoint: the URL path, e.g. ``"/blog"``.
        id: the view function (or any object) serving it.
    """

    __slots__ = ("endpoint", "id")

    def __init__(self, endpoint: str, id: Any = None) -> None:
        self.endpoint = endpoint
        self.id = id

    def __repr__(self) -> str:
        return f"Endpoint(endpoint={self.endpoint!r}, id={self.id!r})"
