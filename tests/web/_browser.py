"""What the dashboard's browser tests and ``benchmarks/bench_dashboard.py`` share.

Chromium (Debian's, not Playwright's download) and its flags, the stats app served by a
real uvicorn under ``/pymetrix``, a month of hits appended through the store, and the
bytes the page fetches. Nothing here needs pytest.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import cycle
from typing import Any

import uvicorn
from playwright.sync_api import Request
from starlette.applications import Starlette
from starlette.routing import Mount

from pymetrix import Metrics
from pymetrix.web import stats_app

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "COUNT_STREAM_JS",
    "append_month",
    "fetched_bytes",
    "mounted",
    "serve",
]

CHROMIUM = "/usr/bin/chromium"
# Chromium must not reach for the network on its own: this machine's is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

# Run before the page's own scripts: the characters and the number of live events
# received, kept.
COUNT_STREAM_JS = """window.__streamChars = 0;
window.__streamEvents = 0;
const NativeEventSource = window.EventSource;
window.EventSource = class extends NativeEventSource {
    constructor(url, options) {
        super(url, options);
        this.addEventListener("message", e => {
            window.__streamChars += e.data.length;
            window.__streamEvents += 1;
        });
    }
};"""


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped before it started"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def mounted(metrics: Metrics, token: str | None = None) -> Starlette:
    """The stats app of ``metrics`` mounted under ``/pymetrix``, as users mount it."""
    return Starlette(routes=[Mount("/pymetrix", app=stats_app(metrics, token=token))])


def append_month(
    metrics: Metrics,
    hits: int,
    nodes: Sequence[str],
    callers: Sequence[str | None],
    durations: Sequence[float | None],
    statuses: Sequence[int | None],
) -> None:
    """``hits`` spread evenly over the 30 days before now, appended through the store
    with precomputed times (no clock, no validation), cycling through the profiles
    given, then flushed. The store wants ``overflow=block`` and a large ``batch_size``."""
    end = time.time_ns() - 1_000_000_000
    step = 30 * 86_400 * 1_000_000_000 // hits
    times = range(end - hits * step, end, step)
    # map() calls append once per hit with no Python loop around it; deque consumes.
    deque(
        map(
            metrics.store.append,
            times,
            cycle(nodes),
            cycle(callers),
            cycle(durations),
            cycle(statuses),
        ),
        maxlen=0,
    )
    if not metrics.flush(timeout=3600):
        raise RuntimeError("the hits were not flushed within an hour")
    if metrics.dropped:
        raise RuntimeError(f"{metrics.dropped} hits dropped")


def fetched_bytes(requests: list[Request]) -> int:
    """Bytes of the API responses among ``requests`` (headers and bodies); live streams
    are left out (count their events with ``COUNT_STREAM_JS``)."""
    total = 0
    for request in requests:
        if "/api/" in request.url and "/api/stream" not in request.url:
            sizes = request.sizes()
            total += sizes["responseHeadersSize"] + sizes["responseBodySize"]
    return total
