"""The options every adapter takes, declared and checked once."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from ..errors import InvalidArgument

__all__ = [
    "COOKIE_NAME",
    "NameFunction",
    "RecorderOptions",
    "RouteInfo",
    "VisitorMode",
    "check_options",
    "compile_exclude",
]

COOKIE_NAME = "pymetrix_vid"
"""The cookie holding the random visitor id in ``visitor="cookie"`` mode."""

VisitorMode = Literal["cookie", "hash"]


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """What a ``name=`` callable is given to name a request's node.

    Attributes:
        method: the HTTP method, upper case.
        path: the request path (raw: do not return it as a node id, it is unbounded).
        route: the matched route template, or None if no route matched.
        view: the framework's name for the matched view or URL, if it has one.
    """

    method: str
    path: str
    route: str | None
    view: str | None = None


NameFunction = Callable[[RouteInfo], "str | None"]
"""``name(info) -> str | None``: the node id for a request; None keeps the default."""


class RecorderOptions(TypedDict, total=False):
    """What to record of each request: the keyword options of every adapter.

    Every adapter takes them as keywords (``PymetrixMiddleware(app, metrics=m,
    exclude=["/health"])``), typed as ``**options: Unpack[RecorderOptions]``. A
    ``TypedDict`` rather than a dataclass, because it keeps the plain keyword style
    Starlette's ``add_middleware`` and Flask extensions are called with, editors that
    follow PEP 692 (Pyright, PyCharm) complete and document each keyword, type checkers
    reject an unknown or ill-typed one, and a settings dict such as Django's
    ``PYMETRIX`` can be annotated with it. Each key is optional; the defaults are
    given below, and :func:`check_options` checks values at run time.
    """

    method: bool
    """Prefix node ids with the HTTP method: ``"GET /items/{item_id}"``. Default False."""

    name: NameFunction | None
    """``name(RouteInfo) -> str | None``: the node id for a request; None (returned, or
    as the option) keeps the route template. Default None."""

    exclude: Iterable[str | re.Pattern[str]] | str | None
    """Paths not recorded: shell-style globs (``"/health"``, ``"/stats/*"``) or compiled
    regexes, matched against the whole path; a glob ending in ``/*`` covers the path
    without it too (``"/stats/*"`` covers ``/stats``). Default None."""

    referer: bool
    """Take the caller from a same-origin ``Referer``, resolved to a route. Default True."""

    visitor: VisitorMode | None
    """``"cookie"`` (a random id in a cookie) or ``"hash"`` (a daily-salted hash of IP and
    User-Agent): the visitor's previous node becomes the caller. Default None."""

    visitor_window: float
    """Seconds a visitor's previous node stays its caller. Default 1800."""

    max_visitors: int
    """Visitors remembered at most, per process. Default 10000."""

    cookie_name: str
    """The visitor cookie's name. Default ``"pymetrix_vid"``."""


_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def check_options(
    options: Mapping[str, Any], error: type[InvalidArgument] = InvalidArgument
) -> None:
    """Raise ``error`` (:class:`~pymetrix.errors.InvalidArgument`) for the first unknown
    or invalid option.

    The recorder calls it; adapters configured before they build one (Flask's
    ``init_app``, Django's settings) call it too, to fail at once, with their own
    ``InvalidArgument`` subclass if their framework expects one.
    """
    for key, value in options.items():
        checker = _CHECKS.get(key)
        if checker is None:
            raise error("option", key, "one of " + ", ".join(_CHECKS))
        valid = checker(value)
        if valid is not None:
            raise error(key, value, valid)


def compile_exclude(
    patterns: Iterable[str | re.Pattern[str]] | str | None,
) -> re.Pattern[str] | None:
    """One regex matching any of ``patterns`` against a whole path.

    A ``str`` is a shell-style glob (``/health``, ``/stats/*``), one ending in ``/*``
    matching the path without it too (``/stats``); a compiled regex is used as it is
    (anchored at the start).
    """
    if patterns is None:
        return None
    if isinstance(patterns, (str, re.Pattern)):
        patterns = (patterns,)
    parts: list[str] = []
    try:
        for pattern in patterns:
            if isinstance(pattern, re.Pattern):
                parts.append(f"(?{_inline_flags(pattern.flags)}:{pattern.pattern})")
            elif isinstance(pattern, str) and pattern:
                parts.append(fnmatch.translate(pattern))
                if pattern.endswith("/*") and len(pattern) > 2:
                    # "/stats/*" leaves out the mount point "/stats" too, whose
                    # redirect to "/stats/" belongs to what is mounted there.
                    parts.append(fnmatch.translate(pattern[:-2]))
            else:
                raise InvalidArgument("exclude", pattern, _EXCLUDE)
    except TypeError:
        raise InvalidArgument("exclude", patterns, _EXCLUDE) from None
    if not parts:
        return None
    return re.compile("|".join(parts))


_EXCLUDE = "path globs (str) or compiled regexes"


def _inline_flags(flags: int) -> str:
    # Patterns are joined into one regex; their own flags must stay scoped to them.
    letters = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s", re.VERBOSE: "x"}
    return "".join(letter for flag, letter in letters.items() if flags & flag)


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _name(value: Any) -> str | None:
    if value is None or callable(value):
        return None
    return "a callable taking a RouteInfo, or None"


def _visitor(value: Any) -> str | None:
    return None if value in (None, "cookie", "hash") else "None, 'cookie' or 'hash'"


def _exclude(value: Any) -> str | None:
    try:
        compile_exclude(value)
    except InvalidArgument:
        return _EXCLUDE
    return None


def _window(value: Any) -> str | None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value > 0:
        return None
    return "a finite number of seconds > 0"


def _max_visitors(value: Any) -> str | None:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return None if whole and value >= 1 else "an int >= 1"


def _cookie_name(value: Any) -> str | None:
    if isinstance(value, str) and _COOKIE_NAME.fullmatch(value):
        return None
    return "letters, digits, '_' or '-'"


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "method": _bool,
    "name": _name,
    "exclude": _exclude,
    "referer": _bool,
    "visitor": _visitor,
    "visitor_window": _window,
    "max_visitors": _max_visitors,
    "cookie_name": _cookie_name,
}
