"""The stats service, independent of ASGI, WSGI or Django: a request in, a response out.

Each adapter turns its request into a :class:`Request` and sends back the
:class:`Response`; routing, access control, the API, the dashboard's files and the live
streams all live here once.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import math
import mimetypes
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

from .._json import dumps
from .._validation import is_positive
from ..errors import InvalidArgument, InvalidQuery, MissingDependency, PymetrixError, StoreError
from ..pipeline import LiveStream
from ..types import DATA_TYPES
from ._config import StatsConfig
from .auth import COOKIE, Access
from .sse import EventStream

__all__ = ["Request", "Response", "StatsService"]

logger = logging.getLogger("pymetrix.web")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
# The dashboard's one policy, sent as a header: only its own files load, no inline
# script or style runs, nothing frames it. A node id that slipped through unescaped
# still could not run.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The page asking for the token: a form sent back to the dashboard's own address, nothing
# else loaded (the dashboard's files need the token too).
_ASK_CSP = (
    "default-src 'none'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ASK_REFUSED = (
    b'<p id="why">That token was not accepted. Enter the token this app was started with.</p>'
)
_JSON = "application/json"
# Content types worth compressing: every text the app sends (JSON, HTML, JS, CSS, the
# Prometheus and OpenMetrics expositions, SVG); not images or fonts, compressed already.
_COMPRESSIBLE = ("application/json", "text/", "application/openmetrics-text", "image/svg+xml")


@dataclass
class Request:
    """What the service needs of an HTTP request.

    ``path`` is relative to where the app is mounted (``/`` for its root, ``""`` for the
    mount point itself without its trailing slash); ``root_path`` is that mount point;
    ``scheme`` is ``https`` when the request came over TLS (as the server saw it).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    client: str | None
    root_path: str = ""
    query_string: str = ""
    scheme: str = "http"

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        client: str | None,
        root_path: str = "",
        scheme: str = "http",
    ) -> Request:
        query = parse_qs(query_string, keep_blank_values=True)
        return cls(
            method, path, query, headers, client, root_path.rstrip("/"), query_string, scheme
        )

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Response:
    """A status, headers, and a body that is bytes or a live event stream."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: EventStream | None = None


def envelope(
    message: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = dumps({"message": message, "response": status})
    common = [
        ("content-type", _JSON),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ]
    return Response(status, [*common, *(headers or [])], body)


class StatsService:
    """Routes a :class:`Request` to the API, the dashboard or a live stream."""

    def __init__(self, config: StatsConfig) -> None:
        self.config = config
        self.metrics = config.metrics
        self.access = Access(token=config.token, allow_public=config.allow_public)
        self._static = config.static or resources.files("pymetrix.web") / "static"
        self._prometheus: Any = None
        self._prometheus_lock = threading.Lock()

    # -- entry point -------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """The response to ``request``; never raises."""
        try:
            response = self._handle(request)
        except PymetrixError as exc:
            response = envelope(str(exc), _status(exc))
        except Exception:
            logger.exception("pymetrix stats: failed to answer %s %s", request.method, request.path)
            response = envelope("internal error", 500)
        if "token" in request.query:
            # Neither a URL holding the token nor the cookie set from it may be kept by a
            # cache, the browser's included.
            response.headers = [
                *(header for header in response.headers if header[0] != "cache-control"),
                ("cache-control", "no-store"),
            ]
        return _compress(request, response)

    def _handle(self, request: Request) -> Response:
        denied = self.access.check(request.client, request.headers, request.param("token"))
        if denied is not None:
            status, message = denied
            extra = [("www-authenticate", 'Bearer realm="pymetrix"')] if status == 401 else []
            if status == 401 and _path_is_page(request) and _wants_html(request):
                return self._token_page(request, extra)
            return envelope(message, status, extra)
        if request.method not in ("GET", "HEAD"):
            return envelope(f"method {request.method} not allowed", 405, [("allow", "GET, HEAD")])
        path = request.path
        if path == "":
            # Relative URLs in the dashboard resolve against the mount point only with
            # its trailing slash.
            location = quote(request.root_path) + "/"
            if request.query_string:
                location += "?" + request.query_string
            return Response(308, [("location", location)])
        if path == "/":
            response = self._file("index.html")
            if response.status == 200:
                self._remember_token(request, response)
            return response
        if path.startswith("/static/"):
            return self._file(path[len("/static/") :])
        if path == "/metrics":
            return self._metrics_exposition(request)
        if path == "/api/stream":
            return self._stream(request)
        if path.startswith("/api/"):
            data = path[len("/api/") :]
            if data in DATA_TYPES:
                return self._export(data, request)
            return envelope(
                f"not found: {path}; the API serves time_series, aggregate, flow, series "
                "and stream",
                404,
            )
        return envelope(f"not found: {path}", 404)

    # -- API -------------------------------------------------------------------------

    def _export(self, data: str, request: Request) -> Response:
        filters: dict[str, Any] = {
            "since": request.param("since") or None,
            "until": request.param("until") or None,
            "ids": _ids(request),
        }
        if data == "time_series":
            filters["detail"] = _flag(request, "detail")
        elif data == "aggregate":
            filters["stats"] = _flag(request, "stats")
        elif data == "series":
            filters.update(_series_options(request))
        return envelope(self.metrics.export(data, **filters)["message"])

    def _stream(self, request: Request) -> Response:
        data = request.param("data") or "time_series"
        if data not in DATA_TYPES:
            return envelope(f"unknown data type {data!r}", 400)
        options: dict[str, Any] = {"ids": _ids(request), "interval": _interval(request)}
        if data == "time_series":
            options["detail"] = _flag(request, "detail")
            last = request.headers.get("last-event-id") or request.param("last_event_id")
            options["after"] = last or None
            options["resumable"] = True
        elif data == "aggregate":
            options["stats"] = _flag(request, "stats")
        elif data == "series":
            options.update(_series_options(request))
            options["since"] = request.param("since") or None
        try:
            live: LiveStream[Any] = self.metrics.stream(data, **options)
        except InvalidQuery as exc:
            if exc.name != "after":
                raise
            # The client sent it as Last-Event-ID: say so.
            raise InvalidQuery("Last-Event-ID", exc.value, exc.reason) from None
        config = self.config
        stream = EventStream(live, heartbeat=config.heartbeat, retry=config.retry)
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-store"),
            # Tells nginx not to buffer the stream.
            ("x-accel-buffering", "no"),
        ]
        return Response(200, headers, stream=stream)

    def _metrics_exposition(self, request: Request) -> Response:
        with self._prometheus_lock:
            # Requests run in worker threads: two first scrapes must share one collector.
            if self._prometheus is None:
                from .prometheus import Exposition

                buckets = self.config.buckets
                self._prometheus = (
                    Exposition(self.metrics)
                    if buckets is None
                    else Exposition(self.metrics, buckets)
                )
        body, content_type = self._prometheus.render(request.headers.get("accept", ""))
        headers = [
            ("content-type", content_type),
            ("cache-control", "no-store"),
            ("vary", "Accept"),
        ]
        return Response(200, headers, body)

    # -- dashboard files -------------------------------------------------------------

    def _file(self, name: str) -> Response:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") or "\\" in p or ":" in p for p in parts):
            return envelope(f"not found: {name}", 404)
        target = self._static
        for part in parts:
            target = target / part
        if not target.is_file():
            return envelope(f"not found: {name}", 404)
        suffix = "." + parts[-1].rpartition(".")[2].lower() if "." in parts[-1] else ""
        content_type = _CONTENT_TYPES.get(suffix) or (
            mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
        )
        headers = [
            ("content-type", content_type),
            ("cache-control", "no-cache"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ]
        if suffix == ".html":
            headers += [("content-security-policy", _CSP), ("x-frame-options", "DENY")]
        return Response(200, headers, target.read_bytes())

    def _token_page(self, request: Request, headers: list[tuple[str, str]]) -> Response:
        """The dashboard's address opened without a valid token: a page asking for it.

        Its text is fixed (nothing of the request is written into it), so it escapes
        nothing; the form sends the token back as ``?token=``, as a link would.
        """
        body = (self._static / "token.html").read_bytes()
        # Its one inline style is allowed by its hash: no other inline style would apply.
        style = body[body.index(b"<style>") + len(b"<style>") : body.index(b"</style>")]
        digest = base64.b64encode(hashlib.sha256(style).digest()).decode("ascii")
        policy = f"{_ASK_CSP}; style-src 'sha256-{digest}'"
        if request.param("token"):
            start = body.index(b'<p id="why">')
            end = body.index(b"</p>", start) + len(b"</p>")
            body = body[:start] + _ASK_REFUSED + body[end:]
        return Response(
            401,
            [
                ("content-type", _CONTENT_TYPES[".html"]),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
                ("content-security-policy", policy),
                ("x-frame-options", "DENY"),
                *headers,
            ],
            body,
        )

    def _remember_token(self, request: Request, response: Response) -> None:
        """After ``/?token=...``, let the browser send the token with every asset and call."""
        token = request.param("token")
        if token and self.access.has_token:
            path = (request.root_path or "") + "/"
            cookie = (
                f"{COOKIE}={quote(token, safe='')}; Path={quote(path)}; HttpOnly; SameSite=Strict"
            )
            if request.scheme == "https":
                cookie += "; Secure"
            response.headers.append(("set-cookie", cookie))


def _path_is_page(request: Request) -> bool:
    """Whether ``request`` asks for the dashboard itself (not its files or the API)."""
    return request.path == "/" and request.method in ("GET", "HEAD")


def _wants_html(request: Request) -> bool:
    """Whether a browser is asking: its Accept header names HTML."""
    return "text/html" in request.headers.get("accept", "").lower()


def _compress(request: Request, response: Response) -> Response:
    """``response`` gzipped when the client accepts gzip and its type is text.

    Live streams are left alone: compressing them would hold events back in the
    compressor's buffer. Every answer of a compressible type varies on Accept-Encoding,
    compressed or not, so that no cache hands one client's to another.
    """
    if response.stream is not None:
        return response
    content_type = next((v for k, v in response.headers if k == "content-type"), "")
    if not content_type.startswith(_COMPRESSIBLE):
        return response
    headers = _add_vary(response.headers, "Accept-Encoding")
    body = response.body
    if body and _accepts_gzip(request.headers.get("accept-encoding")):
        # mtime=0: the same body compresses to the same bytes.
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers.append(("content-encoding", "gzip"))
    return Response(response.status, headers, body)


def _add_vary(headers: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """``headers`` with ``name`` added to its one Vary header."""
    values = [v for k, v in headers if k == "vary"]
    others = [(k, v) for k, v in headers if k != "vary"]
    return [*others, ("vary", ", ".join([*values, name]))]


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (by name, as x-gzip, or by ``*``)."""
    if not accept_encoding:
        return False
    named: float | None = None
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding in ("gzip", "x-gzip"):
            named = quality if named is None else max(named, quality)
        elif coding == "*":
            star = quality
    if named is not None:
        return named > 0
    return star is not None and star > 0


def _status(exc: PymetrixError) -> int:
    if isinstance(exc, MissingDependency):
        return 501
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, ValueError | TypeError):
        return 400
    return 500


def _ids(request: Request) -> list[str] | None:
    values = request.query.get("ids")
    if values is None:
        return None
    ids = [piece for value in values for piece in value.split(",") if piece]
    return ids or None


def _flag(request: Request, name: str) -> bool:
    value = request.param(name)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidQuery(name, value, "expected 1 or 0")


def _series_options(request: Request) -> dict[str, Any]:
    """``step``, ``top`` and ``latency`` of a series request."""
    options: dict[str, Any] = {"step": request.param("step") or None}
    top = request.param("top")
    if top:
        if not top.isdigit() or int(top) < 1:
            raise InvalidQuery("top", top, "expected a whole number >= 1")
        options["top"] = int(top)
    latency = request.param("latency")
    options["latency"] = latency is None or _flag(request, "latency")
    return options


def _interval(request: Request) -> float:
    raw = request.param("interval")
    if raw is None or raw == "":
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not is_positive(value) or value > 3600:
        raise InvalidArgument("interval", raw, "a number of seconds in (0, 3600]")
    return value
