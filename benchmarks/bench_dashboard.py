"""The dashboard in real Chromium over N hits: first chart, bytes per refresh, JS heap.

For each persistent store (SQLite, and PostgreSQL), two databases are loaded: N hits and
N/10, over 100 nodes (a Zipf law) spread evenly across the 30 days before now, written
through the store's ``append`` with precomputed times (``overflow=block``, a large
``batch_size``) until flushed. Each is served by the stats app (uvicorn, mounted under
``/pymetrix``) and opened in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright) at three ranges, 24 hours, 7 days and 30 days (``?range=2592000``). Printed:

- first chart: seconds from navigation to the first bar of the chart (``#chart
  g.bucket``) in a fresh browser context (nothing cached), the median of 3 runs taking
  N and N/10 in turn; of N's, the seconds its API reads took (from the first one's
  start to the last one's answer); and N against N/10, which rollups should keep near 1x;
- one refresh: the bytes of the page's API responses (headers and bodies) until it is
  live and settled, plus the characters of the live events received (``/api/stream``);
- one live update, once settled: a hit recorded on the busiest node of the range, and
  the bytes (as above) until the table shows it and the reads it caused are done;
- the page's JS heap once settled (CDP ``Runtime.getHeapUsage``), and after a garbage
  collection.

Targets, beside each figure: first chart < 1 s, < 300 kB per refresh, JS heap < 50 MB.
Each settled page is checked to show, as its hits, what the store holds from the first
bucket it drew. Absolute times carry the noise of
the machine (a shared 2-core one, here): the bytes, the heap and the N vs N/10 ratios
carry less of it.

PostgreSQL: a throwaway cluster (fsync on) is started from the machine's binaries,
unless ``PYMETRIX_BENCH_POSTGRES_URL`` names a database to use; either way the databases
measured are created beside it and dropped afterwards (its user needs CREATEDB).

    python benchmarks/bench_dashboard.py [--hits 10000000] [--stores sqlite,postgresql]
    # about 13 minutes here, most of them loading
    python benchmarks/bench_dashboard.py --hits 1000000   # to try it: about 5 minutes
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Browser, Page, Request, sync_playwright
from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_rollups import NODES, Profiles, profiles  # noqa: E402
from tests.pgcluster import benchmark_database, postgres_databases  # noqa: E402
from tests.web._browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    COUNT_STREAM_JS,
    append_month,
    fetched_bytes,
    mounted,
    serve,
)

from pymetrix import Metrics  # noqa: E402

RANGES = {"24 hours": 86_400, "7 days": 604_800, "30 days": 2_592_000}
LOAD_BATCH = 500_000
RUNS = 3
TIMEOUT_MS = 120_000
# The targets.
FIRST_CHART_S = 1.0
REFRESH_BYTES = 300_000
HEAP_BYTES = 50_000_000

# The busiest row of the nodes table: [node, hits].
TOP_ROW_JS = """() => { const tr = document.querySelector('#nodes-body tr');
    return tr === null ? null : [tr.querySelector('td.node').textContent,
        Number(tr.querySelector('td.hits').textContent.replace(/\\D/g, ''))]; }"""

ROW_HITS_JS = """([node, hits]) => Array.from(document.querySelectorAll('#nodes-body tr')).some(
    tr => tr.querySelector('td.node').textContent === node &&
        Number(tr.querySelector('td.hits').textContent.replace(/\\D/g, '')) === hits)"""


# -- the page ----------------------------------------------------------------------------


@dataclass
class Opened:
    """A page in a fresh context, with the API requests it made and its errors."""

    page: Page
    issued: list[Request] = field(default_factory=list)
    finished: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def wait_idle(self, quiet_ms: int = 500) -> None:
        """Until every API read issued is answered, and none more for ``quiet_ms``."""
        seen = -1
        quiet = 0
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while quiet < quiet_ms:
            if time.monotonic() > deadline:
                raise TimeoutError("the page did not settle")
            self.page.wait_for_timeout(100)  # lets Playwright deliver the page's events
            count = len(self.issued)
            if count == seen and count == len(self.finished):
                quiet += 100
            else:
                seen, quiet = count, 0

    def state(self) -> str:
        """The page's error banner and its unanswered API reads, to say why it waits."""
        banner = self.page.evaluate(
            "() => { const e = document.getElementById('error'); "
            "return e === null || e.hidden ? '' : e.textContent; }"
        )
        answered = {id(request) for request in self.finished}
        waiting = [r.url.split("/api/", 1)[1] for r in self.issued if id(r) not in answered]
        return f"error banner {banner!r}, reads unanswered {waiting}, errors {self.errors}"

    def sent(self) -> int:
        """Bytes fetched: API responses, and the characters of live events."""
        chars: int = self.page.evaluate("window.__streamChars")
        return fetched_bytes(self.finished) + chars


@contextmanager
def opened(browser: Browser) -> Iterator[Opened]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    try:
        page = context.new_page()
        page.add_init_script(COUNT_STREAM_JS)
        watched = Opened(page)

        def api(request: Request) -> bool:
            return "/api/" in request.url and "/api/stream" not in request.url

        page.on("request", lambda r: watched.issued.append(r) if api(r) else None)
        page.on("requestfinished", lambda r: watched.finished.append(r) if api(r) else None)
        page.on("requestfailed", lambda r: watched.finished.append(r) if api(r) else None)
        page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
        yield watched
    finally:
        context.close()


def first_chart(browser: Browser, url: str) -> tuple[float, float]:
    """Seconds from navigation to the chart's first bar, in a fresh context; and of those,
    the seconds from the first API read's start to the last one's answer (the chart waits
    for the range's series, aggregate and flow)."""
    with opened(browser) as watched:
        page = watched.page
        started = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        try:
            page.wait_for_selector("#chart g.bucket", state="attached", timeout=TIMEOUT_MS)
        except PlaywrightError:
            raise TimeoutError(f"no chart in {TIMEOUT_MS // 1000} s: {watched.state()}") from None
        seconds = time.perf_counter() - started
        watched.wait_idle()
        if watched.errors:
            raise SystemExit(f"{url}: page errors {watched.errors}")
        timings = [request.timing for request in watched.finished]
        first = min(timing["startTime"] for timing in timings)
        last = max(timing["startTime"] + timing["responseEnd"] for timing in timings)
        return seconds, (last - first) / 1000


@dataclass(frozen=True)
class Settled:
    """One page's refresh, live update and heap."""

    refresh: int
    refresh_events: int
    live: int
    live_events: int
    heap: float
    heap_gc: float
    shown: int  # the hits of the range, as the page's KPI shows them
    stored: int  # the hits of the range the page drew, as the store has them


def settled(browser: Browser, url: str, metrics: Metrics) -> Settled:
    """Open ``url``, wait until it is live and settled; measure; then one live hit."""
    with opened(browser) as watched:
        page = watched.page
        page.goto(url, timeout=TIMEOUT_MS)
        page.wait_for_selector("#chart g.bucket", state="attached", timeout=TIMEOUT_MS)
        page.wait_for_selector('#live[data-state="live"]', state="attached", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.__streamEvents > 0", timeout=TIMEOUT_MS)
        watched.wait_idle()
        refresh = watched.sent()
        refresh_events: int = page.evaluate("window.__streamEvents")
        shown = int("".join(ch for ch in page.text_content("#kpi-hits") or "" if ch.isdigit()))
        since = datetime.fromisoformat(page.get_attribute("#chart svg", "data-since") or "")
        stored = sum(row["hits"] for row in metrics.aggregate(since=since))

        cdp = page.context.new_cdp_session(page)
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
        cdp.send("HeapProfiler.collectGarbage")
        heap_gc = cdp.send("Runtime.getHeapUsage")["usedSize"]
        cdp.detach()

        top = page.evaluate(TOP_ROW_JS)
        if top is None:
            raise SystemExit(f"{url}: no nodes shown")
        node, hits = top
        watched.issued.clear()
        watched.finished.clear()
        page.evaluate("() => { window.__streamChars = 0; window.__streamEvents = 0; }")
        metrics.hit(node, caller=None, duration=0.01, status=200)
        page.wait_for_function(ROW_HITS_JS, arg=[node, hits + 1], timeout=TIMEOUT_MS)
        watched.wait_idle()
        live = watched.sent()
        live_events: int = page.evaluate("window.__streamEvents")
        if watched.errors:
            raise SystemExit(f"{url}: page errors {watched.errors}")
        return Settled(refresh, refresh_events, live, live_events, heap, heap_gc, shown, stored)


# -- the stores --------------------------------------------------------------------------


def with_options(url: str, **options: object) -> str:
    glue = "&" if "?" in url else "?"
    return url + glue + "&".join(f"{key}={value}" for key, value in options.items())


def store_urls(kinds: list[str], stack: ExitStack) -> dict[str, dict[str, str]]:
    """The N and N/10 databases of each store kind, by kind and size."""
    urls: dict[str, dict[str, str]] = {}
    if "sqlite" in kinds:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="pymetrix-bench-"))
        urls["sqlite"] = {"N": f"sqlite:///{tmp}/n.db", "N/10": f"sqlite:///{tmp}/n10.db"}
    if "postgresql" in kinds:
        names = ["pymetrix_dashboard_n", "pymetrix_dashboard_n10"]
        pg = stack.enter_context(
            postgres_databases(stack.enter_context(benchmark_database()), names)
        )
        urls["postgresql"] = {"N": pg[names[0]], "N/10": pg[names[1]]}
    return urls


# -- the run -----------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "NOT"


def measure_store(
    kind: str, by_size: dict[str, str], sizes: dict[str, int], pool: Profiles, browser: Browser
) -> tuple[list[str], list[str]]:
    """Load, then measure one store's two databases; its rows of the two tables."""
    opened_metrics: dict[str, Metrics] = {}
    try:
        for size, hits in sizes.items():
            url = with_options(by_size[size], batch_size=LOAD_BATCH, overflow="block")
            metrics = Metrics("dashboard", store=url)
            opened_metrics[size] = metrics
            start = time.perf_counter()
            append_month(metrics, hits, pool.nodes, pool.callers, pool.durations, pool.statuses)
            seconds = time.perf_counter() - start
            print(
                f"  {kind:<11} {size:<5} {hits:>12,} {seconds:>10.1f} {hits / seconds:>10,.0f}",
                flush=True,
            )
        with ExitStack() as stack:
            bases = {
                size: stack.enter_context(serve(mounted(metrics)))
                for size, metrics in opened_metrics.items()
            }
            # A first page of each warms the server and the store's caches alike.
            for base in bases.values():
                first_chart(browser, f"{base}/pymetrix/?range={RANGES['30 days']}")
            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for _ in range(RUNS):
                for label, seconds in RANGES.items():
                    for size, base in bases.items():
                        url = f"{base}/pymetrix/?range={seconds}"
                        times.setdefault((label, size), []).append(first_chart(browser, url))
            charts: list[str] = []
            for label in RANGES:
                at = {size: statistics.median(t for t, _ in times[(label, size)]) for size in sizes}
                reads = statistics.median(r for _, r in times[(label, "N")])
                charts.append(
                    f"  {kind:<11} {label:<9} {at['N']:>7.2f} {reads:>8.2f} {at['N/10']:>7.2f}"
                    f" {at['N'] / at['N/10']:>8.2f}x  < {FIRST_CHART_S:.0f} s   "
                    f" {met(at['N'] < FIRST_CHART_S)}"
                )
            pages: list[str] = []
            for size, base in bases.items():
                for label, seconds in RANGES.items():
                    got = settled(
                        browser, f"{base}/pymetrix/?range={seconds}", opened_metrics[size]
                    )
                    if got.shown != got.stored:
                        raise SystemExit(
                            f"{kind} {size} {label}: the page shows {got.shown:,} hits"
                            f" of {got.stored:,}"
                        )
                    pages.append(
                        f"  {kind:<11} {size:<5} {label:<9}"
                        f" {got.refresh / 1000:>8.1f} {met(got.refresh < REFRESH_BYTES):>7}"
                        f" {got.refresh_events:>7}"
                        f" {got.live / 1000:>8.1f} {got.live_events:>7}"
                        f" {got.heap / 1e6:>8.1f} {met(got.heap < HEAP_BYTES):>6}"
                        f" {got.heap_gc / 1e6:>9.1f}"
                    )
            return charts, pages
    finally:
        for metrics in opened_metrics.values():
            metrics.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hits", type=int, default=10_000_000, help="N, hits in the large database"
    )
    parser.add_argument(
        "--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.stores.split(",") if kind.strip()]
    if not kinds or set(kinds) - {"sqlite", "postgresql"}:
        parser.error("--stores takes sqlite, postgresql or both")
    sizes = {"N": args.hits, "N/10": args.hits // 10}
    pool = profiles(1 << 16)
    began = time.perf_counter()
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load_avg}")
    print(
        f"N = {args.hits:,} hits over {len(NODES)} nodes, spread evenly over the 30 days"
        " before now; 90% timed, 1% status 500"
    )
    print()
    print(
        f"load through the store's append (batch_size={LOAD_BATCH:,}, overflow=block),"
        " until flushed"
    )
    print(f"  {'store':<11} {'db':<5} {'hits':>12} {'durable s':>10} {'hits/s':>10}")
    charts: list[str] = []
    pages: list[str] = []
    with ExitStack() as stack:
        urls = store_urls(kinds, stack)
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        for kind, by_size in urls.items():
            try:
                rows = measure_store(kind, by_size, sizes, pool, browser)
            except (PlaywrightError, TimeoutError) as exc:
                # A store too slow for the page: said in its place, the others measured.
                failed = f"  {kind:<11} failed: {str(exc).splitlines()[0]}"
                rows = [failed], [failed]
            charts += rows[0]
            pages += rows[1]
        version = browser.version
    print()
    print(
        f"first chart, s: navigation to the first bar, fresh context, median of {RUNS} runs"
        f" taking N and N/10 in turn\n(Chromium {version}); N reads: of N's, from the first"
        " API read's start to the last one's answer"
    )
    print(
        f"  {'store':<11} {'range':<9} {'N':>7} {'N reads':>8} {'N/10':>7} {'N / N/10':>9}"
        "  target   met"
    )
    print("\n".join(charts))
    print()
    print(
        "per page, settled: one refresh (API responses, headers and bodies, + live event"
        " data), kB;\none live update (a hit on the busiest node until shown and re-read),"
        " kB; JS heap, MB"
    )
    print(
        f"  {'store':<11} {'db':<5} {'range':<9} {'refresh':>8} {'<300 kB':>7} {'events':>7}"
        f" {'live':>8} {'events':>7} {'heap':>8} {'<50 MB':>6} {'after GC':>9}"
    )
    print("\n".join(pages))
    print()
    print(f"whole run: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
