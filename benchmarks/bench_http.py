"""HTTP overhead of the middleware under load: FastAPI, Flask and Django, each with peers.

Each suite serves one minimal app (``GET /items/{item_id}`` returning small JSON) on
127.0.0.1 in a child process, once per variant: plain, with Pymetrix, and with the
framework's Prometheus exporters. FastAPI runs under uvicorn; Flask and Django under
gunicorn's sync worker (one worker). wrk (``apt-get install wrk``) loads each for a
bounded time, in interleaved rounds; the median round is reported with its ratio to
plain, the server's CPU time per request (every process of the server) and what each
variant adds to plain's, with the spread over the rounds.

    python benchmarks/bench_http.py [--suite fastapi] [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SUITES: dict[str, tuple[str, ...]] = {
    "fastapi": (
        "plain",
        "pymetrix-memory",
        "pymetrix-sqlite",
        "prometheus-instrumentator",
        "starlette-exporter",
    ),
    "flask": ("plain", "pymetrix-memory", "prometheus-flask-exporter"),
    "django": ("plain", "pymetrix-memory", "django-prometheus"),
}
# The packages a variant needs beyond its framework; missing ones skip the variant.
NEEDS: dict[str, str] = {
    "prometheus-instrumentator": "prometheus_fastapi_instrumentator",
    "starlette-exporter": "starlette_exporter",
    "prometheus-flask-exporter": "prometheus_flask_exporter",
    "django-prometheus": "django_prometheus",
    "pymetrix-sqlite": "sqlite3",
}
SERVERS = {"fastapi": "uvicorn", "flask": "gunicorn", "django": "gunicorn"}
PATH = "/items/42"


def pymetrix_store(variant: str, workdir: str) -> str:
    if variant == "pymetrix-sqlite":
        return f"sqlite:///{os.path.join(workdir, 'bench.db')}"
    return "memory://"


def build_app(variant: str, workdir: str) -> Any:
    """The FastAPI benchmark app with ``variant``'s instrumentation."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "name": "widget"}

    if variant.startswith("pymetrix-"):
        from pymetrix import Metrics
        from pymetrix.integrations.asgi import PymetrixMiddleware

        metrics = Metrics("bench", store=pymetrix_store(variant, workdir))
        app.add_middleware(PymetrixMiddleware, metrics=metrics)
    elif variant == "prometheus-instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator().instrument(app)
    elif variant == "starlette-exporter":
        from starlette_exporter import PrometheusMiddleware

        app.add_middleware(PrometheusMiddleware, group_paths=True)
    return app


def build_flask_app(variant: str, workdir: str) -> Any:
    """The Flask benchmark app with ``variant``'s instrumentation."""
    from flask import Flask

    app = Flask("bench")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "name": "widget"}

    if variant.startswith("pymetrix-"):
        from pymetrix import Metrics
        from pymetrix.integrations.flask import PymetrixFlask

        PymetrixFlask(app, metrics=Metrics("bench", store=pymetrix_store(variant, workdir)))
    elif variant == "prometheus-flask-exporter":
        from prometheus_flask_exporter import PrometheusMetrics  # type: ignore[import-untyped]

        PrometheusMetrics(app)
    return app


def build_django_app(variant: str, workdir: str, every_app: bool = False) -> Any:
    """The Django benchmark project with ``variant``'s middleware.

    Settings are made once per process; each call makes a handler with this variant's
    middleware. ``every_app`` installs every peer's Django app at once, so that one
    process can hold every variant.
    """
    import types

    import django
    from django.conf import settings
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    if not settings.configured:

        def item(request: HttpRequest, item_id: int) -> JsonResponse:
            return JsonResponse({"id": item_id, "name": "widget"})

        urls = types.ModuleType("bench_urls")
        urls.urlpatterns = [path("items/<int:item_id>", item, name="item")]  # type: ignore[attr-defined]
        sys.modules["bench_urls"] = urls
        peers = every_app and available("django-prometheus")
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="bench_urls",
            SECRET_KEY="bench",
            INSTALLED_APPS=["django_prometheus"] if peers or variant == "django-prometheus" else [],
            MIDDLEWARE=[],
            DATABASES={},
            USE_TZ=True,
        )
        django.setup()
    middleware: list[str] = []
    if variant.startswith("pymetrix-"):
        from pymetrix import Metrics

        middleware = ["pymetrix.integrations.django.PymetrixMiddleware"]
        metrics = Metrics("bench", store=pymetrix_store(variant, workdir))
        settings.PYMETRIX = {"metrics": metrics}
    elif variant == "django-prometheus":
        middleware = [
            "django_prometheus.middleware.PrometheusBeforeMiddleware",
            "django_prometheus.middleware.PrometheusAfterMiddleware",
        ]
    settings.MIDDLEWARE = middleware
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


def serve(suite: str, variant: str, fd: int, workdir: str) -> None:
    """Child process: serve the app on the inherited listening socket until killed."""
    pin(0)
    if SERVERS[suite] == "uvicorn":
        import uvicorn

        sock = socket.socket(fileno=fd)
        config = uvicorn.Config(
            build_app(variant, workdir), log_level="warning", access_log=False, lifespan="on"
        )
        uvicorn.Server(config).run(sockets=[sock])
        return
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    build = build_flask_app if suite == "flask" else build_django_app

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": [f"fd://{fd}"],
                "workers": 1,
                "worker_class": "sync",
                "loglevel": "warning",
                "accesslog": None,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return build(variant, workdir)

    Server().run()


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


def wsgi_environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def request_loop(suite: str, variant: str, workdir: str) -> Callable[[int], None]:
    """``run(n)``: ``n`` requests to the whole app of ``variant``, called in-process."""
    if suite == "fastapi":
        import asyncio

        app = build_app(variant, workdir)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            return None

        loop = asyncio.new_event_loop()

        async def requests(n: int) -> None:
            for _ in range(n):
                await app({**scope}, receive, send)

        return lambda n: loop.run_until_complete(requests(n))
    wsgi = (
        build_flask_app(variant, workdir)
        if suite == "flask"
        else build_django_app(variant, workdir)
    )

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def run(n: int) -> None:
        for _ in range(n):
            body = wsgi(wsgi_environ(), start_response)
            for _ in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return run


def inprocess_cpu(suite: str, calls: int, rounds: int) -> dict[str, list[float]]:
    """Child process: each variant's CPU microseconds per request, round by round.

    Every installed variant of the suite is built in this one process and the rounds
    alternate between them, so that a burst of other load hits them alike; the thread's
    CPU time, not elapsed time, is what the request itself costs (the SQLite writer
    thread is not counted).
    """
    variants = [v for v in SUITES[suite] if available(v)]
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as workdir:
        runs = {variant: request_loop(suite, variant, workdir) for variant in variants}
        for run in runs.values():
            run(max(100, calls // 5))  # warm: routes, caches, lazy imports
        costs: dict[str, list[float]] = {variant: [] for variant in variants}
        for _ in range(rounds):
            for variant, run in runs.items():
                gc.collect()
                start = time.thread_time()
                run(calls)
                costs[variant].append((time.thread_time() - start) / calls * 1e6)
        return costs


def inprocess_costs(suite: str, calls: int, rounds: int) -> dict[str, list[float]]:
    """:func:`inprocess_cpu` in a fresh process (Django's settings are made once each)."""
    command = [sys.executable, __file__, "--inprocess", suite]
    output = subprocess.run(
        [*command, "--calls", str(calls), "--rounds", str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    costs: dict[str, list[float]] = {}
    for line in output.splitlines():
        variant, *values = line.split()
        costs[variant] = [float(x) for x in values]
    return costs


def added_inprocess(costs: dict[str, list[float]], variant: str) -> list[float]:
    """What ``variant`` adds to plain's CPU per request, in each round."""
    return [v - p for v, p in zip(costs[variant], costs["plain"])]


def available(variant: str) -> bool:
    """Whether what ``variant`` needs is installed."""
    if variant == "pymetrix-sqlite":
        from pymetrix.store import _SCHEMES

        return "sqlite" in _SCHEMES
    module = NEEDS.get(variant)
    return module is None or importlib.util.find_spec(module) is not None


@dataclass
class Result:
    requests_per_s: float
    p99_ms: float
    requests: int
    cpu_us_per_request: float = float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its live children so far (``/proc``)."""
    total = 0.0
    for child in [pid, *children(pid)]:
        try:
            with open(f"/proc/{child}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (gunicorn's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def pin(cpu: int) -> None:
    """Keep this process on one CPU, so server and load generator do not trade places."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def run_wrk(url: str, duration: float, connections: int) -> Result:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url],
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


def measure(suite: str, variant: str, duration: float, connections: int, workdir: str) -> Result:
    """Start a server for ``variant``, warm it up, load it once with wrk, stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    command = [sys.executable, __file__, "--serve", f"{suite}:{variant}", "--fd", str(fd)]
    server = subprocess.Popen([*command, "--dir", workdir], pass_fds=(fd,))
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
                    raise RuntimeError(f"{suite} {variant}: server did not start") from None
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


@dataclass
class SuiteRun:
    """Every round of every variant of one suite, and what was skipped."""

    suite: str
    results: dict[str, list[Result]]
    skipped: list[str]
    header: str

    def median(self, variant: str, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in self.results[variant]))

    def rate_ratio(self, variant: str) -> float:
        return self.median(variant, "requests_per_s") / self.median("plain", "requests_per_s")

    def rate_ratios(self, variant: str) -> list[float]:
        """The ratio to plain in each round (rounds are interleaved: neighbours in time)."""
        pairs = zip(self.results[variant], self.results["plain"])
        return [r.requests_per_s / p.requests_per_s for r, p in pairs]

    def added_cpu(self, variant: str) -> float:
        """Server CPU microseconds per request beyond plain's (medians)."""
        cpu = "cpu_us_per_request"
        return self.median(variant, cpu) - self.median("plain", cpu)

    def added_cpus(self, variant: str) -> list[float]:
        pairs = zip(self.results[variant], self.results["plain"])
        return [r.cpu_us_per_request - p.cpu_us_per_request for r, p in pairs]

    def table(self) -> str:
        lines = [self.header]
        lines.append(
            f"{'variant':<27}{'req/s':>8}{'p99 ms':>9}{'CPU us/req':>12}"
            f"{'req/s vs plain':>16}{'(rounds)':>14}{'CPU added us':>14}{'(rounds)':>16}"
        )
        for variant in self.results:
            ratios = self.rate_ratios(variant)
            added = self.added_cpus(variant)
            lines.append(
                f"{variant:<27}{self.median(variant, 'requests_per_s'):>8.0f}"
                f"{self.median(variant, 'p99_ms'):>9.2f}"
                f"{self.median(variant, 'cpu_us_per_request'):>12.0f}"
                f"{self.rate_ratio(variant):>16.3f}{spread(ratios, '.2f'):>14}"
                f"{self.added_cpu(variant):>14.1f}{spread(added, '.0f'):>16}"
            )
        rates = [r.requests_per_s for r in self.results["plain"]]
        lines.append(
            f"plain req/s over the rounds: {spread(rates, '.0f')} "
            "(a wide range means other load on the machine)"
        )
        lines.extend(f"{name}: skipped, not installed" for name in self.skipped)
        return "\n".join(lines)


def spread(values: list[float], fmt: str) -> str:
    return f"{min(values):{fmt}}..{max(values):{fmt}}"


def run_suite(suite: str, duration: float, rounds: int, connections: int | None = None) -> SuiteRun:
    """Load every installed variant of ``suite`` in ``rounds`` interleaved rounds."""
    variants = [v for v in SUITES[suite] if available(v)]
    skipped = [v for v in SUITES[suite] if v not in variants]
    # gunicorn's sync worker serves one connection at a time: fewer are enough.
    if connections is None:
        connections = 32 if SERVERS[suite] == "uvicorn" else 8
    header = (
        f"{suite} GET {PATH} under {SERVERS[suite]} on 127.0.0.1, wrk -t1 -c{connections}, "
        f"{duration:g}s x {rounds} interleaved rounds, median shown; "
        f"{os.cpu_count()} cores, server on CPU 0 and wrk on CPU 1"
    )
    results: dict[str, list[Result]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as workdir:
        for _ in range(rounds):
            for variant in variants:
                results[variant].append(measure(suite, variant, duration, connections, workdir))
    return SuiteRun(suite, results, skipped, header)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite", choices=[*SUITES, "all"], default="all", help="which framework (all)"
    )
    parser.add_argument("--duration", type=float, default=5, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per variant")
    parser.add_argument("--connections", type=int, help="wrk connections (32; 8 for gunicorn)")
    parser.add_argument("--calls", type=int, default=5000, help=argparse.SUPPRESS)
    parser.add_argument("--inprocess", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        suite, _, variant = args.serve.partition(":")
        serve(suite, variant, args.fd, args.dir)
        return
    if args.inprocess:
        for variant, values in inprocess_cpu(args.inprocess, args.calls, args.rounds).items():
            print(variant, *values)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    for suite in suites:
        print(run_suite(suite, args.duration, args.rounds, args.connections).table())
        print()
        costs = inprocess_costs(suite, 1000, 15)
        print(f"{suite} in-process, CPU us per request, median of 15 alternating rounds:")
        for variant, values in costs.items():
            added = added_inprocess(costs, variant)
            print(
                f"  {variant:<27}{statistics.median(values):8.1f}   added "
                f"{statistics.median(added):+7.1f} (rounds {spread(added, '+.0f')})"
            )
        print()
    with tempfile.TemporaryDirectory(prefix="pymetrix-bench-") as workdir:
        stores = {"memory": "memory://"}
        if available("pymetrix-sqlite"):
            stores["sqlite"] = f"sqlite:///{os.path.join(workdir, 'cost.db')}"
        for label, store in stores.items():
            print(
                f"Pymetrix's own work per request, in-process, FastAPI ({label} store): "
                f"{middleware_cost_us(store):.1f} us"
            )


if __name__ == "__main__":
    main()
