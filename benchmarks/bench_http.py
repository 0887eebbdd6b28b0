"""HTTP overhead of the ASGI middleware: FastAPI under uvicorn, loaded with wrk.

One minimal app (``GET /items/{item_id}`` returning small JSON) is served on 127.0.0.1
by uvicorn in a child process, once per variant: plain, with Pymetrix on the memory
store, with Pymetrix on the SQLite store (if that store is installed), and with
prometheus-fastapi-instrumentator. wrk (``apt-get install wrk``) loads each for a bounded
time, in interleaved rounds; the median round is reported with its ratio to plain.

    python benchmarks/bench_http.py [--duration 5] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

VARIANTS = ("plain", "pymetrix-memory", "pymetrix-sqlite", "prometheus-instrumentator")
PATH = "/items/42"


def build_app(variant: str, workdir: str) -> Any:
    """The benchmark app with ``variant``'s instrumentation."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "name": "widget"}

    if variant.startswith("pymetrix-"):
        from pymetrix import Metrics
        from pymetrix.integrations.asgi import PymetrixMiddleware

        store = "memory://"
        if variant == "pymetrix-sqlite":
            store = f"sqlite:///{os.path.join(workdir, 'bench.db')}"
        app.add_middleware(PymetrixMiddleware, metrics=Metrics("bench", store=store))
    elif variant == "prometheus-instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app)
    return app


def serve(variant: str, fd: int, workdir: str) -> None:
    """Child process: serve the app on the inherited listening socket until killed."""
    import uvicorn

    pin(0)
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        build_app(variant, workdir), log_level="warning", access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])


def middleware_cost_us(store: str, calls: int = 5000, repeats: int = 10) -> float:
    """Microseconds the middleware adds to one request, measured in-process.

    The middleware wraps a no-op ASGI app but finds routes in the benchmark app, so this
    is its own work: route lookup, timing, recording. Best of ``repeats``.
    """
    import asyncio

    from pymetrix import Metrics
    from pymetrix.integrations.asgi import PymetrixMiddleware

    async def noop(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 40000),
        "app": build_app("plain", ""),
    }

    async def best(app: Any) -> float:
        fastest = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                await app(scope, receive, send)
            fastest = min(fastest, (time.perf_counter() - start) / calls)
        return fastest

    with Metrics("bench", store=store) as metrics:
        wrapped = PymetrixMiddleware(noop, metrics=metrics)
        return (asyncio.run(best(wrapped)) - asyncio.run(best(noop))) * 1e6


def sqlite_available() -> bool:
    from pymetrix.store import _SCHEMES

    return "sqlite" in _SCHEMES


def prometheus_available() -> bool:
    try:
        import prometheus_fastapi_instrumentator  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Result:
    requests_per_s: float
    p99_ms: float
    requests: int
    cpu_us_per_request: float = float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(cpu: int) -> None:
    """Keep this process on one CPU, so server and load generator do not trade places."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def run_wrk(url: str, duration: int, connections: int) -> Result:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: pin(1),
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or p99 is None or count is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return Result(float(rate.group(1)), float(p99.group(1)) * scale, int(count.group(1)))


def measure(variant: str, duration: int, connections: int, workdir: str) -> Result:
    """Start a server for ``variant``, warm it up, load it once with wrk, stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    command = [sys.executable, __file__, "--serve", variant, "--fd", str(fd), "--dir", workdir]
    server = subprocess.Popen(command, pass_fds=(fd,))
    sock.close()
    url = f"http://127.0.0.1:{port}{PATH}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                break
            except OSError:  # refused, reset, or accepted by the kernel but not yet served
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{variant}: server did not start") from None
                time.sleep(0.05)
        run_wrk(url, 1, connections)  # warm-up
        # The server's own CPU time per request hardly depends on what else the machine
        # runs, unlike requests/s; both are shown.
        before = cpu_seconds(server.pid)
        result = run_wrk(url, duration, connections)
        result.cpu_us_per_request = (cpu_seconds(server.pid) - before) / result.requests * 1e6
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per variant")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.fd, args.dir)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    variants = ["plain", "pymetrix-memory"]
    if sqlite_available():
        variants.append("pymetrix-sqlite")
    else:
        print("pymetrix-sqlite: skipped, the SQLite store is not installed")
    if prometheus_available():
        variants.append("prometheus-instrumentator")
    else:
        print("prometheus-instrumentator: skipped, pip install prometheus-fastapi-instrumentator")

    print(
        f"FastAPI GET {PATH} under uvicorn on 127.0.0.1, wrk -t1 -c{args.connections}, "
        f"{args.duration:g}s x {args.rounds} interleaved rounds, median shown; "
        f"{os.cpu_count()} cores, server on CPU 0 and wrk on CPU 1"
    )
    results: dict[str, list[Result]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as workdir:
        for _ in range(args.rounds):
            for variant in variants:
                results[variant].append(measure(variant, args.duration, args.connections, workdir))

    def median(variant: str, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in results[variant]))

    base = {field: median("plain", field) for field in ("requests_per_s", "p99_ms")}
    base_cpu = median("plain", "cpu_us_per_request")
    print(
        f"{'variant':<27}{'req/s':>8}{'p99 ms':>9}{'CPU us/req':>12}"
        f"{'req/s vs plain':>16}{'p99 vs plain':>14}{'CPU vs plain':>14}"
    )
    for variant in variants:
        rate = median(variant, "requests_per_s")
        p99 = median(variant, "p99_ms")
        cpu = median(variant, "cpu_us_per_request")
        print(
            f"{variant:<27}{rate:>8.0f}{p99:>9.2f}{cpu:>12.0f}"
            f"{rate / base['requests_per_s']:>16.3f}{p99 / base['p99_ms']:>14.3f}"
            f"{cpu / base_cpu:>14.3f}"
        )
    spread = [r.requests_per_s for r in results["plain"]]
    print(
        f"plain req/s over the rounds: {min(spread):.0f}..{max(spread):.0f} "
        "(a wide range means other load on the machine: the in-process figures are steadier)"
    )
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as workdir:
        stores = {"memory": "memory://"}
        if "pymetrix-sqlite" in variants:
            stores["sqlite"] = f"sqlite:///{os.path.join(workdir, 'cost.db')}"
        for label, store in stores.items():
            print(
                f"Pymetrix's own work per request, in-process ({label} store): "
                f"{middleware_cost_us(store):.1f} us"
            )


if __name__ == "__main__":
    main()
