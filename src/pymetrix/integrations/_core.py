"""What every framework adapter shares: the per-request lifecycle, callers and visitors.

An adapter only translates its framework's request into one :meth:`Recorder.start`,
a ``with visit:`` around the app and one :meth:`Visit.finish`; everything that decides
what gets recorded lives here, once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
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
from .types import STATS_REQUEST, Route

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "UNMATCHED",
    "ErrorStatus",
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

ErrorStatus = Callable[[Exception], int]
"""``error_status(exc) -> status``: the status a request is recorded with when ``exc``
escapes the app (default 500)."""

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


def _server_error(exc: Exception) -> int:
    return 500


class Recorder:
    """What every adapter shares: one per app, configured by :class:`RecorderOptions`.

    For each request an adapter calls :meth:`start`, runs the app inside
    ``with visit:`` and calls :meth:`Visit.finish` with the status once the response
    is sent.

    Args:
        metrics: where hits are recorded.
        error_status: the status a request is recorded with when an exception escapes
            the app (default 500), for frameworks whose exceptions carry one.
        options: :class:`RecorderOptions`.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        error_status: ErrorStatus = _server_error,
        **options: Unpack[RecorderOptions],
    ) -> None:
        if not isinstance(metrics, Metrics):
            raise InvalidArgument("metrics", metrics, "a pymetrix.Metrics")
        if not callable(error_status):
            raise InvalidArgument("error_status", error_status, "a callable")
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
        self.error_status = error_status
        # Node ids are route templates as they are: no call per request to find them.
        self._template_is_node = self.name is None and not self.method
        self._clock = metrics.clock
        self._referers: dict[tuple[str, str], str | None] = {}
        self._referer_lock = threading.Lock()

    def start(
        self,
        method: str,
        path: str,
        route: Callable[[], Route],
        headers: Callable[[], RequestHeaders | None] | None = None,
        resolve: Callable[[str], Route] | None = None,
        marks: Mapping[str, Any] | None = None,
    ) -> Visit | None:
        """Start timing a request and decide its node and caller.

        Returns None when the request is not to be recorded: its path is excluded, or
        Pymetrix failed (logged): the adapter then runs the app as if it were absent.

        Args:
            method: the HTTP method.
            path: the full request path, as ``exclude=`` patterns see it.
            route: ``route() -> (template, view name)``: asks the framework's router
                which route the request matches; called only if the path is recorded.
            headers: ``headers()``: the request facts the caller sources read; called
                only when one is on. None (or returning None): no caller from them.
            resolve: ``resolve(path) -> (template, view name)``: the route a GET of
                another path of this app would reach, to name a ``Referer``'s route.
            marks: the request's scope, environ or ``META``: a request the stats app
                answers marks it with :data:`~pymetrix.integrations.types.STATS_REQUEST`,
                and is then left unrecorded when it ends.
        """
        try:
            exclude = self.exclude
            if exclude is not None and exclude.match(path) is not None:
                return None
            start_ns = time.perf_counter_ns()
            template, view = route()
            if self._template_is_node:
                node = UNMATCHED if template is None else template
            else:
                node = self.node(method, path, template, view)
            caller = None
            key = cookie = None
            if headers is not None and (self.visitor is not None or self.referer):
                info = headers()
                if info is not None:
                    if self.visitor is not None:
                        key, cookie = self.visitor_key(info.cookie, info.ip, info.user_agent)
                        if key is not None:
                            caller = self.previous(key)
                    if caller is None and self.referer and info.referer and resolve is not None:
                        caller = self.referer_caller(
                            info.referer, info.host, info.scheme, resolve, info.host
                        )
            return Visit(self, node, caller, key, cookie, start_ns, marks)
        except Exception:
            logger.exception("pymetrix: could not prepare the hit for %s %r", method, path)
            return None

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

    def cookie_header(self, value: str, secure: bool) -> str:
        """The ``Set-Cookie`` value carrying a visitor id."""
        header = (
            f"{self.cookie_name}={value}; Max-Age={self.cookie_max_age}; Path=/; "
            "HttpOnly; SameSite=Lax"
        )
        return header + "; Secure" if secure else header


@dataclass(slots=True)
class RequestHeaders:
    """The request facts the caller sources need, read once per request.

    Attributes:
        host: the ``Host`` header (or the server's ``name:port``), to tell a same-origin
            ``Referer``.
        scheme: ``"http"`` or ``"https"``.
        referer: the ``Referer`` header, if any.
        cookie: the value of the visitor cookie (:attr:`Recorder.cookie_name`), if sent.
        ip: the client's address, for ``visitor="hash"``.
        user_agent: the ``User-Agent`` header, for ``visitor="hash"``.
    """

    host: str
    scheme: str
    referer: str | None
    cookie: str | None
    ip: str | None
    user_agent: str | None


class Visit:
    """One request in flight, from :meth:`Recorder.start` to :meth:`finish`.

    ``with visit:`` around the app makes :attr:`node` the current caller, so hits
    recorded inside (``@metrics.track`` functions) name the route as their caller; an
    exception leaving the block records the request with ``error_status(exc)`` (500)
    and goes on unchanged.

    Attributes:
        node: the node the request is recorded on.
        caller: the node the visitor came from, or None.
        visitor: the visitor's key in the visitor table, if a visitor mode is on.
        cookie: a visitor cookie value to send back in ``Set-Cookie``
            (:meth:`Recorder.cookie_header`), in ``visitor="cookie"`` mode.
        start_ns: when the request started, by ``time.perf_counter_ns()``.
    """

    __slots__ = (
        "_caller",
        "_done",
        "_marks",
        "_metrics",
        "_recorder",
        "_token",
        "caller",
        "cookie",
        "node",
        "start_ns",
        "visitor",
    )

    def __init__(
        self,
        recorder: Recorder,
        node: str,
        caller: str | None,
        visitor: bytes | None,
        cookie: str | None,
        start_ns: int,
        marks: Mapping[str, Any] | None = None,
    ) -> None:
        self._recorder = recorder
        self._marks = marks
        self._metrics = recorder.metrics
        # The current-caller variable itself (what set_caller() sets): entering and
        # leaving a request then costs no further calls.
        self._caller = recorder.metrics._current
        self.node = node
        self.caller = caller
        self.visitor = visitor
        self.cookie = cookie
        self.start_ns = start_ns
        self._token: Token[str | None] | None = None
        self._done = False

    def __enter__(self) -> Visit:
        self._token = self._caller.set(self.node)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token = self._token
        if token is not None:
            self._token = None
            self._caller.reset(token)
        if exc is not None and isinstance(exc, Exception):
            try:
                status = self._recorder.error_status(exc)
            except Exception:
                logger.exception("pymetrix: error_status failed on %r", exc)
                status = 500
            self.finish(status)

    def finish(self, status: int | None, *, timed: bool = True) -> None:
        """Record the request, with ``status`` and the time since it started.

        Only the first call records, so an adapter may call it from every path a
        response can end by. ``timed=False`` records no duration. Never raises.
        """
        if self._done:
            return
        self._done = True
        marks = self._marks
        if marks is not None and marks.get(STATS_REQUEST) is True:
            return  # the stats app answered: see stats_request
        duration = (time.perf_counter_ns() - self.start_ns) / 1e9 if timed else None
        self._metrics.record(self.node, caller=self.caller, duration=duration, status=status)
        if self.visitor is not None:
            recorder = self._recorder
            try:
                recorder.visitors.remember(self.visitor, self.node, recorder._clock.time_ns())
            except Exception:
                logger.exception("pymetrix: could not remember a visitor's node")

    @property
    def stats_request(self) -> bool:
        """Whether the stats app answered this request (so it is not recorded)."""
        marks = self._marks
        return marks is not None and marks.get(STATS_REQUEST) is True

    def __repr__(self) -> str:
        return f"<Visit {self.node!r} caller={self.caller!r}>"


def parse_cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or None."""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip('"')
    return None
