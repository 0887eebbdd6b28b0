"""Every exception Pymetrix raises: one base, each also the builtin it refines.

::

    PymetrixError
    ├── InvalidNodeType        (TypeError)    a node id or caller that is not a str
    ├── InvalidNodeId          (ValueError)   empty, too long, control characters, lone surrogates
    ├── InvalidDuration        (ValueError)   negative, NaN, infinite, not a number
    ├── InvalidStatus          (ValueError)   outside 100..599
    ├── InvalidArgument        (ValueError)   an option outside its valid values
    ├── MissingArgument        (TypeError)    a required argument missing, or given twice
    ├── InvalidQuery           (ValueError)   a filter (since, until, ids, Last-Event-ID)
    ├── StoreError             (RuntimeError) a store that cannot be opened, read or written
    │   └── StoreClosed                       a hit recorded after close()
    └── MissingDependency      (ImportError)  an optional dependency not installed

``except PymetrixError`` catches anything Pymetrix raised on purpose; ``except ValueError``
still catches what a plain Python API would have raised as one.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "InvalidArgument",
    "InvalidDuration",
    "InvalidNodeId",
    "InvalidNodeType",
    "InvalidQuery",
    "InvalidStatus",
    "MissingArgument",
    "MissingDependency",
    "PymetrixError",
    "StoreClosed",
    "StoreError",
]


class PymetrixError(Exception):
    """Base of every Pymetrix exception."""


class InvalidNodeType(PymetrixError, TypeError):
    """A node id or caller that is not a ``str``."""

    def __init__(self, value: Any, what: str = "node id") -> None:
        self.value = value
        super().__init__(f"{what} must be a str, not {type(value).__name__}: {value!r}")


class InvalidNodeId(PymetrixError, ValueError):
    """A node id or caller that is empty, too long or holds control characters."""

    def __init__(self, value: str, reason: str, what: str = "node id") -> None:
        self.value = value
        self.reason = reason
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"invalid {what} {shown!r}: {reason}")


class InvalidDuration(PymetrixError, ValueError):
    """A duration that is negative, NaN, infinite or not a number."""

    def __init__(self, value: Any) -> None:
        self.value = value
        super().__init__(f"duration must be a finite number of seconds >= 0 or None, not {value!r}")


class InvalidStatus(PymetrixError, ValueError):
    """A status code outside 100..599."""

    def __init__(self, value: Any) -> None:
        self.value = value
        super().__init__(f"status must be an int in 100..599 or None, not {value!r}")


class InvalidArgument(PymetrixError, ValueError):
    """An option with a value outside the valid ones (``data``, ``mode``, ``interval`` ...)."""

    def __init__(self, name: str, value: Any, valid: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid {name} {value!r}: expected {valid}")


class MissingArgument(PymetrixError, TypeError):
    """A required argument is missing, or the same one given twice under two names."""


class InvalidQuery(PymetrixError, ValueError):
    """A filter (``since``, ``until``, ``ids``) that cannot be understood."""

    def __init__(self, name: str, value: Any, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        # Values come from clients too: a long one is cut short, not echoed whole.
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."
        super().__init__(f"invalid {name} {shown!r}: {reason}")


class StoreError(PymetrixError, RuntimeError):
    """A store that cannot be opened, read or written; ``reason`` says why, ``url``
    names the store (its password masked)."""

    def __init__(self, message: str, url: str | None = None) -> None:
        self.url = url
        self.reason = message
        super().__init__(f"{message} ({url})" if url else message)


class StoreClosed(StoreError):
    """A hit recorded after ``close()``: refused, nothing recorded."""

    def __init__(self, url: str | None = None) -> None:
        super().__init__("closed: hits cannot be recorded after close()", url)


class MissingDependency(PymetrixError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is required for this feature: pip install 'pymetrix[{extra}]'",
            name=package,
        )
