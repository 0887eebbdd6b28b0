"""What every framework adapter shares: node ids, exclusions, callers and visitors.

Adapters only translate their framework's request into calls on :class:`Recorder`;
everything that decides what gets recorded lives here, once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import InvalidArgument
from ..metrics import Metrics
from ._options import (
    COOKIE_NAME,
    NameFunction,
    RecorderOptions,
    RouteInfo,
    VisitorMode,
    check_options,
    compile_exclude,
)
from .types import Route

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "UNMATCHED",
    "Recorder",
    "RequestHeaders",
    "Visit",
    "VisitorTable",
    "parse_cookie",
    "same_origin_path",
]

logger = logging.getLogger("pymetrix")

UNMATCHED = "<unmatched>"
"""The node counting every request that matched no route, so random URLs add no nodes."""

_DAY_NS = 86_400 * 10**9
# A visitor id we issued: 22 URL-safe characters (16 random bytes). Anything else the
# client sends is ignored and replaced, so a forged cookie cannot bloat the table.
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{22}")
_REFERER_CACHE_SIZE = 1024
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def same_origin_path(referer: str, host: str, scheme: str) -> str | None:
    """The path of ``referer`` if it points at ``host``, else None.

    Default ports are dropped on both sides so ``example.com`` and ``example.com:443``
    agree; the scheme itself is not compared, since TLS is often ended by a proxy.
    """
    try:
        parts = urlsplit(referer)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    theirs = _origin(parts.hostname, port, parts.scheme)
    try:
        mine = urlsplit(f"{scheme}://{host}")
        ours = _origin(mine.hostname or "", mine.port, scheme)
    except ValueError:
        return None
    if theirs != ours:
        return None
    return parts.path or "/"


def _origin(hostname: str, port: int | None, scheme: str) -> tuple[str, int | None]:
    if port == (443 if scheme == "https" else 80):
        port = None
    return hostname.lower(), port


class VisitorTable:
    """Each recent visitor's last node, bounded in size and age.

    Keys are opaque: a hashed random cookie id or a salted hash of IP and User-Agent,
    never the IP itself. The salt is random and replaced every UTC day, so yesterday's
    hashes cannot be linked to today's.

    Args:
        window_ns: how long a visitor's last node stays its next caller.
        max_visitors: visitors remembered at most; the least recently seen go first.
    """

    def __init__(self, window_ns: int, max_visitors: int) -> None:
        self._window = window_ns
        self._max = max_visitors
        self._lock = threading.Lock()
        self._last: OrderedDict[bytes, tuple[str, int]] = OrderedDict()
        self._day = -1
        self._salt = b""

    def key(self, parts: Iterable[str], now_ns: int) -> bytes:
        """The salted digest standing for a visitor identified by ``parts``."""
        day = now_ns // _DAY_NS
        if day != self._day:
            with self._lock:
                if day != self._day:
                    self._salt = secrets.token_bytes(16)
                    self._day = day
                    # Keys under the old salt can never be asked for again.
                    self._last.clear()
        digest = hashlib.blake2b(key=self._salt, digest_size=16)
        for part in parts:
            digest.update(part.encode("utf-8", "surrogateescape"))
            digest.update(b"\x00")
        return digest.digest()

    def previous(self, key: bytes, now_ns: int) -> str | None:
        """The node this visitor last hit within the window, or None."""
        with self._lock:
            entry = self._last.get(key)
        if entry is None or now_ns - entry[1] > self._window:
            return None
        return entry[0]

    def remember(self, key: bytes, node: str, now_ns: int) -> None:
        """Make ``node`` this visitor's last node."""
        with self._lock:
            last = self._last
            last[key] = (node, now_ns)
            last.move_to_end(key)
            while len(last) > self._max:
                last.popitem(last=False)

    def __len__(self) -> int:
        return len(self._last)


class Recorder:
    """The framework-agnostic part of every middleware.

    Args:
        metrics: where hits are recorded.
        options: :class:`RecorderOptions`.
    """

    def __init__(self, metrics: Metrics, **options: Unpack[RecorderOptions]) -> None:
        if not isinstance(metrics, Metrics):
            raise InvalidArgument("metrics", metrics, "a pymetrix.Metrics")
        check_options(options)
        visitor_window = options.get("visitor_window", 1800.0)
        self.metrics = metrics
        self.method = options.get("method", False)
        self.name: NameFunction | None = options.get("name")
        self.exclude = compile_exclude(options.get("exclude"))
        self.referer = options.get("referer", True)
        self.visitor: VisitorMode | None = options.get("visitor")
        self.cookie_name = options.get("cookie_name", COOKIE_NAME)
        self.cookie_max_age = int(visitor_window)
        self.visitors = VisitorTable(
            round(visitor_window * 1e9), options.get("max_visitors", 10_000)
        )
        self.caller_var = metrics._current
        self._clock = metrics.clock
        self._referers: dict[tuple[str, str], str | None] = {}
        self._referer_lock = threading.Lock()

    def excluded(self, path: str) -> bool:
        """Whether requests to ``path`` are left unrecorded."""
        return self.exclude is not None and self.exclude.match(path) is not None

    def node(self, method: str, path: str, route: str | None, view: str | None = None) -> str:
        """The node id of a request: its route template, never the raw path."""
        if self.name is not None:
            try:
                named = self.name(RouteInfo(method, path, route, view))
                if named is not None:
                    return self.metrics.check_id(named)
            except Exception:
                logger.exception("pymetrix: the name= function failed on %r", route)
        if route is None:
            return UNMATCHED
        if self.method:
            # Clients may send any token as method: only the standard ones become ids.
            return f"{method if method in _METHODS else 'OTHER'} {route}"
        return route

    def referer_caller(
        self,
        referer: str,
        host: str,
        scheme: str,
        resolve: Callable[[str], Route],
        cache_key: str = "",
    ) -> str | None:
        """The node a same-origin ``referer`` names, or None.

        ``resolve(path) -> (route, view)`` asks the framework's router which route a
        path matches. The raw referer is never returned: only a known route's node id.
        """
        path = same_origin_path(referer, host, scheme)
        if path is None or self.excluded(path):
            return None
        key = (cache_key, path)
        cache = self._referers
        try:
            return cache[key]
        except KeyError:
            pass
        route, view = resolve(path)
        # Browsers follow links with GET, so the page the visitor came from is a GET.
        caller = None if route is None else self.node("GET", path, route, view)
        with self._referer_lock:
            if len(cache) >= _REFERER_CACHE_SIZE:
                cache.clear()
            cache[key] = caller
        return caller

    def visitor_key(
        self, cookie: str | None, ip: str | None, user_agent: str | None
    ) -> tuple[bytes | None, str | None]:
        """``(key, new_cookie)``: the visitor's table key, and a cookie value to set.

        In cookie mode a missing or foreign cookie gets a fresh random id; the cookie is
        sent back on every response so it expires after ``visitor_window`` of inactivity.
        """
        now = self._clock.time_ns()
        if self.visitor == "cookie":
            if cookie is None or _COOKIE_VALUE.fullmatch(cookie) is None:
                cookie = secrets.token_urlsafe(16)
            return self.visitors.key((cookie,), now), cookie
        if self.visitor == "hash":
            return self.visitors.key((ip or "", user_agent or ""), now), None
        return None, None

    def previous(self, key: bytes) -> str | None:
        """The visitor's previous node within the window."""
        return self.visitors.previous(key, self._clock.time_ns())

    def begin(
        self,
        method: str,
        path: str,
        route: str | None,
        view: str | None,
        headers: Callable[[], RequestHeaders | None],
        resolve: Callable[[str], Route],
    ) -> Visit | None:
        """Start timing a request and decide its node and caller; None if that failed.

        ``headers()`` is only called when a caller source is on; it may return None when
        the request carries nothing a source could use.
        """
        start = time.perf_counter_ns()
        try:
            node = self.node(method, path, route, view)
            caller = None
            key = cookie = None
            info = headers() if self.visitor is not None or self.referer else None
            if info is not None:
                if self.visitor is not None:
                    key, cookie = self.visitor_key(info.cookie, info.ip, info.user_agent)
                    if key is not None:
                        caller = self.previous(key)
                if caller is None and self.referer and info.referer:
                    caller = self.referer_caller(
                        info.referer, info.host, info.scheme, resolve, info.host
                    )
            return Visit(node, caller, key, cookie, start)
        except Exception:
            logger.exception("pymetrix: could not prepare the hit for %s %r", method, path)
            return None

    def finish(self, visit: Visit, status: int | None) -> None:
        """Record a request begun with :meth:`begin`, timed until now. Never raises."""
        duration = (time.perf_counter_ns() - visit.start_ns) / 1e9
        self.record(visit.node, visit.caller, duration, status, visit.visitor)

    def record(
        self,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
        visitor: bytes | None,
    ) -> None:
        """Record one request: the one call every adapter makes. Never raises."""
        self.metrics.record(node, caller=caller, duration=duration, status=status)
        if visitor is not None:
            try:
                self.visitors.remember(visitor, node, self._clock.time_ns())
            except Exception:
                logger.exception("pymetrix: could not remember a visitor's node")

    def cookie_header(self, value: str, secure: bool) -> str:
        """The ``Set-Cookie`` value carrying a visitor id."""
        header = (
            f"{self.cookie_name}={value}; Max-Age={self.cookie_max_age}; Path=/; "
            "HttpOnly; SameSite=Lax"
        )
        return header + "; Secure" if secure else header


@dataclass(slots=True)
class RequestHeaders:
    """The request facts the caller sources need, read once per request."""

    host: str
    scheme: str
    referer: str | None
    cookie: str | None
    ip: str | None
    user_agent: str | None


@dataclass(slots=True)
class Visit:
    """One request in flight: its node, caller, visitor key and start time."""

    node: str
    caller: str | None
    visitor: bytes | None
    cookie: str | None
    start_ns: int


def parse_cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or None."""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip('"')
    return None
