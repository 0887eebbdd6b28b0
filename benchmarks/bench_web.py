"""The stats app, its live stream and the chunked export against peers, in one run.

    python benchmarks/bench_web.py

Prints ratios measured on this machine now; no absolute figure means much elsewhere.
"""

from __future__ import annotations

import asyncio
import io
import time
import tracemalloc
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pymetrix import ManualClock, Metrics
from pymetrix._json import dumps
from pymetrix._timefmt import TimeFormatter
from pymetrix.cli import _hit_record, _hits
from pymetrix.store import Query
from pymetrix.web import stats_app
from pymetrix.web.sse import EventStream

NODES = [f"/page/{i}" for i in range(50)]
HITS = 200_000
REQUESTS = 2000
STREAMED = 50_000


def filled(hits: int) -> Metrics:
    metrics = Metrics("bench", clock=ManualClock(datetime(2024, 1, 1), step=0.0001))
    for i in range(hits):
        metrics.hit(NODES[i % len(NODES)], NODES[(i * 7) % len(NODES)], 0.001 * (i % 100), 200)
    return metrics


async def call(app: Any, path: str, query: bytes) -> bytes:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "query_string": query,
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "scheme": "http",
        "http_version": "1.1",
    }
    body: list[bytes] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(body)


def per_second(app: Any, path: str, query: bytes) -> float:
    requests = REQUESTS if not query else REQUESTS // 10

    async def run() -> float:
        await call(app, path, query)
        start = time.perf_counter()
        for _ in range(requests):
            await call(app, path, query)
        return requests / (time.perf_counter() - start)

    return asyncio.run(run())


def bench_api(metrics: Metrics) -> None:
    for query, stats in ((b"", False), (b"stats=1", True)):

        async def aggregate(request: Request, stats: bool = stats) -> JSONResponse:
            return JSONResponse(metrics.export("aggregate", stats=stats))

        peer = Starlette(routes=[Route("/api/aggregate", aggregate)])
        ours = per_second(stats_app(metrics), "/api/aggregate", query)
        theirs = per_second(peer, "/api/aggregate", query)
        print(
            f"GET /api/aggregate?{query.decode()} ({HITS:,} hits): pymetrix.web "
            f"{ours:,.0f} req/s, Starlette route {theirs:,.0f} req/s, "
            f"ratio {ours / theirs:.2f}x"
        )


def bench_stream() -> None:
    metrics = Metrics("bench")
    stream = EventStream(metrics.stream("time_series"), heartbeat=60, retry=0)
    for i in range(STREAMED):
        metrics.hit(NODES[i % len(NODES)])
    start = time.perf_counter()
    events = 0
    chunks = iter(stream)
    next(chunks)  # retry:
    while events < STREAMED:
        events += next(chunks).count(b"data: ")
    stream.close()
    ours = time.perf_counter() - start

    live = metrics.stream("time_series")
    for i in range(STREAMED):
        metrics.hit(NODES[i % len(NODES)])
    start = time.perf_counter()
    for n, record in enumerate(live, 1):
        dumps({"message": record, "response": 200})
        if n == STREAMED:
            break
    live.close()
    theirs = time.perf_counter() - start
    print(
        f"time-series SSE, {STREAMED:,} hits: {STREAMED / ours:,.0f} events/s framed; "
        f"core LiveStream + JSON {STREAMED / theirs:,.0f} records/s; "
        f"ratio {theirs / ours:.2f}x"
    )
    metrics.close()


def measure(func: Callable[[], None]) -> tuple[float, int]:
    """Seconds of one run, and peak traced memory of another (tracing slows it down)."""
    start = time.perf_counter()
    func()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


def bench_export(metrics: Metrics) -> None:
    fmt = TimeFormatter(metrics.tz)

    def chunked() -> None:
        out = io.BytesIO()
        counts = metrics.store.counts(Query())
        for hit in _hits(metrics, Query(), counts, 10_000):
            out.write(dumps(_hit_record(hit, fmt)) + b"\n")
            if out.tell() > 1 << 20:
                out.seek(0)
                out.truncate()

    def whole() -> None:
        out = io.BytesIO()
        out.write(dumps(metrics.export("time_series")))

    ours, our_peak = measure(chunked)
    theirs, their_peak = measure(whole)
    print(
        f"export {HITS:,} hits: chunked NDJSON {ours:.2f}s peak {our_peak / 2**20:.1f} MiB; "
        f"whole JSON {theirs:.2f}s peak {their_peak / 2**20:.1f} MiB; "
        f"time ratio {ours / theirs:.2f}x, memory ratio {our_peak / their_peak:.2f}x"
    )


def main() -> None:
    metrics = filled(HITS)
    bench_api(metrics)
    bench_stream()
    bench_export(metrics)
    metrics.close()


if __name__ == "__main__":
    main()
