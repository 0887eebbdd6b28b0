"""``pymetrix demo``: a small instrumented site, synthetic visitors, and the dashboard.

One server holds both: the sample site at ``/`` and the stats app (dashboard and API) at
``/pymetrix/``. The site knows nothing of Pymetrix: it is instrumented as users instrument
theirs, by one :class:`~pymetrix.integrations.asgi.PymetrixMiddleware` around the whole app,
which records each page view on its route template (``/blog/{slug}``) with its duration and
status, and takes its caller from the ``Referer`` the browser sent. Visitors are threads
making real HTTP requests: they read each page and follow its links along weighted paths
(Home -> Blog -> Post -> About ...), sending a ``Referer`` as a browser does.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import http.client
import logging
import random
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from .errors import MissingDependency
from .integrations.asgi import PymetrixMiddleware
from .metrics import Metrics
from .store import mask_url
from .web.auth import is_loopback

__all__ = ["ENTRIES", "PAGES", "Page", "SampleSite", "Visitors", "match_page", "run"]

logger = logging.getLogger("pymetrix.demo")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATS_PREFIX = "/pymetrix"

_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Page:
    """A page of the sample site: its route, typical latency and where visitors go next.

    ``route`` is the template the site routes by, and so the node its views are recorded
    on (``/blog/{slug}``); ``params`` lists the values its one parameter takes, each with the
    page's title. ``next`` weights the routes a visitor moves on to (the page links to
    them); ``leave`` weights ending the visit.
    """

    title: str
    route: str
    latency: float
    next: tuple[tuple[str, int], ...]
    leave: int
    error_rate: float = 0.0
    params: tuple[tuple[str, str], ...] = ()

    def paths(self) -> list[tuple[str, str]]:
        """Every ``(path, title)`` this route serves."""
        if not self.params:
            return [(self.route, self.title)]
        # A route has one parameter at most: split() gives [before, name, after].
        before, _, after = _PARAM.split(self.route)
        return [(before + value + after, title) for value, title in self.params]


POSTS = (
    ("hello-pymetrix", "Hello, Pymetrix"),
    ("reading-the-flow", "Reading the flow graph"),
    ("sqlite-or-postgres", "SQLite or PostgreSQL?"),
    ("one-line-of-middleware", "One line of middleware"),
)
TOPICS = (
    ("quickstart", "Quick start"),
    ("integrations", "Integrations"),
    ("export", "Export formats"),
)

PAGES: dict[str, Page] = {
    page.route: page
    for page in (
        Page(
            "Home",
            "/",
            0.012,
            (("/blog", 35), ("/pricing", 20), ("/docs/{topic}", 15), ("/about", 10)),
            20,
        ),
        Page("Blog", "/blog", 0.020, (("/blog/{slug}", 60), ("/", 10)), 30),
        Page(
            "Post",
            "/blog/{slug}",
            0.035,
            (("/blog/{slug}", 15), ("/blog", 15), ("/about", 15), ("/signup", 10)),
            45,
            params=POSTS,
        ),
        Page("About", "/about", 0.008, (("/contact", 30), ("/", 15), ("/pricing", 15)), 40),
        Page(
            "Pricing",
            "/pricing",
            0.015,
            (("/signup", 40), ("/contact", 15), ("/docs/{topic}", 10)),
            35,
        ),
        Page(
            "Docs",
            "/docs/{topic}",
            0.025,
            (("/docs/{topic}", 20), ("/pricing", 15), ("/signup", 10)),
            55,
            params=TOPICS,
        ),
        # The pages that fail now and then, so the dashboard has errors to show.
        Page("Sign up", "/signup", 0.060, (("/", 30),), 70, error_rate=0.12),
        Page("Contact", "/contact", 0.018, (("/", 20),), 80, error_rate=0.05),
    )
}

# Where visits start: most at the front door, some straight from a search result.
ENTRIES: tuple[tuple[str, int], ...] = (
    ("/", 55),
    ("/blog/{slug}", 25),
    ("/blog", 10),
    ("/pricing", 10),
)


def _compile(route: str) -> re.Pattern[str]:
    parts = _PARAM.split(route)
    # split() alternates literal text and parameter names.
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


_ROUTES = [(_compile(route), page) for route, page in PAGES.items()]


def match_page(path: str) -> tuple[Page, str | None] | None:
    """The page whose route ``path`` matches, with its parameter's value; None if none."""
    for pattern, page in _ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            return page, next(iter(found.groupdict().values()), None)
    return None


_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2330}header{color:#667085;font-size:14px}"
    "footer{margin-top:3rem;color:#667085;font-size:14px}"
)


def _page_html(page: Page, path: str, title: str, stats_url: str) -> bytes:
    links = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'
        for route, _ in page.next
        for href, text in PAGES[route].paths()
        if href != path
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)} · Pymetrix demo</title><style>{_STYLE}</style>"
        f"<header>Pymetrix sample site</header><h1>{html.escape(title)}</h1>"
        "<p>A page of the Pymetrix sample site. Each view is recorded on its route by the "
        "Pymetrix middleware, with the page the visitor came from, so the dashboard can draw "
        f"how visitors move through the site.</p><h2>Read next</h2><ul>{links}</ul>"
        f'<footer>See the <a href="{html.escape(stats_url)}">dashboard</a>.</footer></html>'
    ).encode()


class SampleSite:
    """The sample site as a plain ASGI app, routed by :data:`PAGES`.

    It records nothing itself: wrap it in ``PymetrixMiddleware`` with
    ``route=SampleSite.route``.

    Args:
        stats_url: the dashboard's address, linked from every page.
        seed: seeds the simulated latencies and failures.
    """

    def __init__(self, stats_url: str = "/pymetrix/", seed: int | None = None):
        self._stats_url = stats_url
        self._random = random.Random(seed)

    @staticmethod
    def route(scope: Scope) -> tuple[str | None, str | None]:
        """The template and page title of the route ``scope`` goes to, as the middleware's
        ``route=`` asks; ``(None, None)`` for a path the site has no route for."""
        found = match_page(scope["path"])
        if found is None:
            return None, None
        return found[0].route, found[0].title

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        found = match_page(path)
        titles = {} if found is None else dict(found[0].paths())
        if found is None or path not in titles:
            # No route, or a route whose parameter names no page (an unknown post).
            await _respond(send, 404, b"not found", b"text/plain; charset=utf-8")
            return
        page = found[0]
        # Work that takes a while, more for some pages than for others.
        await asyncio.sleep(page.latency * self._random.lognormvariate(0, 0.5))
        if self._random.random() < page.error_rate:
            await _respond(send, 500, b"something went wrong", b"text/plain; charset=utf-8")
            return
        body = _page_html(page, path, titles[path], self._stats_url)
        await _respond(send, 200, body, b"text/html; charset=utf-8")


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Router:
    """``prefix`` and below go to ``mounted``, which sees the prefix as its root path; the
    rest goes to ``app``."""

    def __init__(self, app: ASGIApp, prefix: str, mounted: ASGIApp) -> None:
        self._app = app
        self._prefix = prefix.rstrip("/")
        self._mounted = mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        path: str = scope["path"]
        if path == self._prefix or path.startswith(self._prefix + "/"):
            child = dict(scope)
            child["root_path"] = scope.get("root_path", "") + self._prefix
            # The bare prefix arrives as "", which the stats app redirects to "prefix/".
            child["path"] = path[len(self._prefix) :]
            raw = scope.get("raw_path")
            if raw is not None:
                child["raw_path"] = raw[len(self._prefix) :]
            await self._mounted(child, receive, send)
            return
        await self._app(scope, receive, send)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    paths = [path for path, _ in choices]
    weights = [weight for _, weight in choices]
    return rng.choices(paths, weights)[0]


class Visitors:
    """Threads that browse the site over HTTP like people do, until stopped.

    Args:
        host, port: where the site listens.
        count: visitors browsing at the same time.
        pause: mean seconds a visitor reads a page before the next click.
        seed: seeds the paths taken.
        stopping: tells when the server is shutting down, so that the connection
            errors that follow are not reported.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        count: int = 4,
        pause: float = 0.6,
        seed: int | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._host = host
        self._port = port
        self._stopping = stopping
        self._pause = pause
        self._stop = threading.Event()
        self._random = random.Random(seed)
        self._threads = [
            threading.Thread(
                target=self._browse,
                args=(random.Random(self._random.random()),),
                name=f"pymetrix-demo-visitor-{i}",
                daemon=True,
            )
            for i in range(count)
        ]
        self.views = 0
        self._views_lock = threading.Lock()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _browse(self, rng: random.Random) -> None:
        base = f"http://{_url_host(self._host)}:{self._port}"
        while not self._stop.is_set():
            connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
            try:
                self._visit(rng, connection, base)
            except (OSError, http.client.HTTPException) as exc:
                # The server going away at shutdown ends a visit; anything else is worth
                # a line, then the next visitor comes along.
                if not self._stop.is_set() and not self._stopping():
                    logger.warning("demo visitor: %s", exc)
                    self._stop.wait(1.0)
            finally:
                connection.close()
            # Time until the next visitor arrives.
            self._stop.wait(rng.expovariate(1.0 / self._pause))

    def _visit(self, rng: random.Random, connection: http.client.HTTPConnection, base: str) -> None:
        # Arriving from elsewhere (a bookmark, a search result): no Referer of this site.
        path: str | None = rng.choice(PAGES[_weighted(rng, ENTRIES)].paths())[0]
        referer: str | None = None
        while path is not None and not self._stop.is_set():
            headers = {"User-Agent": "pymetrix-demo-visitor"}
            if referer is not None:
                headers["Referer"] = referer
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            with self._views_lock:
                self.views += 1
            referer = base + path
            path = _click(rng, path, response.status, body)
            # Reading the page before clicking on.
            if path is not None and self._stop.wait(rng.uniform(0.3, 1.5) * self._pause):
                return


_HREF = re.compile(r'<a href="([^"]*)"')


def _links(body: bytes) -> dict[str, list[str]]:
    """The site's pages a page links to, by route."""
    links: dict[str, list[str]] = {}
    for href in _HREF.findall(body.decode("utf-8", "replace")):
        path = urlsplit(html.unescape(href)).path
        found = match_page(path)
        if found is not None:
            links.setdefault(found[0].route, []).append(path)
    return links


def _click(rng: random.Random, path: str, status: int, body: bytes) -> str | None:
    """The link a visitor follows from the page at ``path``; None when they leave."""
    found = match_page(path)
    if found is None or status != 200:
        return None  # an error page: people give up
    page = found[0]
    links = _links(body)
    choices = tuple((route, weight) for route, weight in page.next if route in links)
    weights = sum(weight for _, weight in choices)
    if not choices or rng.random() * (weights + page.leave) < page.leave:
        return None
    return rng.choice(links[_weighted(rng, choices)])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _client_host(host: str) -> str:
    """Where this process reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def run(
    store_url: str = "sqlite:///pymetrix-demo.db",
    host: str = "127.0.0.1",
    port: int = 8000,
    duration: float | None = None,
    token: str | None = None,
    *,
    visitors: int = 4,
    out: TextIO | None = None,
) -> int:
    """Serve the sample site and the dashboard, with synthetic visitors, until Ctrl-C.

    Args:
        store_url: where hits are stored.
        host, port: where to listen; port 0 picks a free port.
        duration: stop by itself after this many seconds (None: run until Ctrl-C).
        token: the token the dashboard and API require; one is made up when ``host``
            is not a loopback address and none is given.
        visitors: synthetic visitors browsing at the same time.
        out: where the addresses are printed (default stdout).

    Returns:
        The process exit code: 0.
    """
    try:
        import uvicorn
    except ImportError:
        raise MissingDependency("uvicorn", "web") from None
    from .web import stats_app

    out = out or sys.stdout
    # Reachable from other machines: never without a token.
    public = host in ("", "0.0.0.0", "::") or not is_loopback(host)  # noqa: S104
    if token is None and public:
        token = secrets.token_urlsafe(16)
    # Listening first: a port in use fails before the store (a file) is created.
    sock = _listen(host, port)
    try:
        metrics = Metrics("demo", store=store_url)
    except BaseException:
        sock.close()
        raise
    port = sock.getsockname()[1]
    crowd: Visitors | None = None
    try:
        base = f"http://{_url_host(_client_host(host))}:{port}"
        dashboard = f"{base}{STATS_PREFIX}/"
        if token is not None:
            dashboard += f"?token={quote(token, safe='')}"
        site = Router(
            SampleSite(stats_url=STATS_PREFIX + "/"), STATS_PREFIX, stats_app(metrics, token=token)
        )
        # Instrumented as users instrument an ASGI app that is not Starlette: the site's
        # own router names the route of each request and of each Referer. The dashboard's
        # requests are not page views of the site.
        app = PymetrixMiddleware(
            site,
            metrics=metrics,
            route=SampleSite.route,
            exclude=[STATS_PREFIX, STATS_PREFIX + "/*"],
        )
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            # Open dashboards hold event streams: do not wait for them to end.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        crowd = Visitors(
            _client_host(host), port, count=visitors, stopping=lambda: bool(server.should_exit)
        )
        _Starter(server, crowd, duration).start()
        print("Pymetrix demo", file=out)
        print(f"  dashboard:   {dashboard}", file=out)
        print(f"  sample site: {base}/", file=out)
        print(f"  store:       {mask_url(store_url)}", file=out)
        stop_hint = f"for {duration:g} s" if duration is not None else "until Ctrl-C"
        print(f"Synthetic visitors are browsing the site; running {stop_hint}.", file=out)
        out.flush()
        # uvicorn stops on Ctrl-C, then raises it again for us: a normal way to stop.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        if crowd is not None:
            crowd.stop()
        sock.close()
        metrics.close()
    print(f"Stopped after {crowd.views if crowd else 0} page views.", file=out)
    out.flush()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to serve on; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {_url_host(host)}:{port}: {exc.strerror}") from None
    # Listening at once: a browser opening the printed URL before uvicorn has started
    # waits in the backlog instead of being refused.
    sock.listen(128)
    return sock


class _Starter(threading.Thread):
    """Starts the visitors once the server listens; asks it to exit after ``duration``."""

    def __init__(self, server: Any, crowd: Visitors, duration: float | None) -> None:
        super().__init__(name="pymetrix-demo-starter", daemon=True)
        self._server = server
        self._crowd = crowd
        self._duration = duration

    def run(self) -> None:
        begin = time.monotonic()
        ready = threading.Event()
        # uvicorn has no startup callback for a server it runs itself: poll its flag.
        while not self._server.started and not self._server.should_exit:
            if ready.wait(0.02):  # never set: a pause that does not busy-loop
                break
        if self._server.should_exit:
            return
        self._crowd.start()
        if self._duration is None:
            return
        remaining = self._duration - (time.monotonic() - begin)
        if remaining > 0:
            ready.wait(remaining)
        self._server.should_exit = True
