"""The dashboard in real headless Chromium, against the real stats app served by uvicorn.

The stats app is mounted under ``/pymetrix`` as users mount it, so the page's relative
URLs are exercised too. Screenshots land in ``test-artifacts/``: ``dashboard.png``
(with ``PYMETRIX_DOCS_SCREENSHOT=1`` also ``docs/dashboard.png``, the README's), and
``dashboard-{desktop,phone}-{light,dark}.png`` at 1400x900 and 390x844.
"""

from __future__ import annotations

import json as _json
import os
import random
import re
import sys
import time
import types
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import cycle, islice, product
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django.urls import clear_url_caches, include, path
from litestar import Litestar
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Request,
)
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from pymetrix import ManualClock, Metrics
from pymetrix.demo import ENTRIES, PAGES
from pymetrix.integrations.asgi import PymetrixMiddleware
from pymetrix.integrations.litestar import PymetrixPlugin
from pymetrix.visualize import START
from pymetrix.web import stats_app
from pymetrix.web.django import stats_urls
from pymetrix.web.litestar import stats_mount

from ._browser import (
    COUNT_STREAM_JS,
    append_month,
    fetched_bytes,
    mounted,
    serve,
)

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(1)>"
LIVE_DEADLINE_MS = 2000

# Rows of the nodes table as the user reads them: [node, hits].
TABLE_JS = """() => Array.from(document.querySelectorAll('#nodes-body tr')).map(
    tr => [tr.querySelector('td.node').textContent, tr.querySelector('td.hits').textContent])"""


# The hits of each bar of the chart.
BAR_TOTALS_JS = """() => Array.from(document.querySelectorAll('#chart g.bucket[data-total]'))
    .map(g => Number(g.getAttribute('data-total')))"""

# A chart's buckets as drawn: [bucket start, node, hits] per bar segment.
BAR_SEGMENTS_JS = """selector => Array.from(document.querySelectorAll(selector + ' g.bucket'))
    .flatMap(g => Array.from(g.querySelectorAll('rect.bar')).map(
        r => [g.getAttribute('data-start'), r.getAttribute('data-node'),
              Number(r.getAttribute('data-hits'))]))"""

# A time as a datetime-local input shows it: in the browser's zone.
LOCAL_INPUT_JS = """ms => { const d = new Date(ms); const p = n => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
        `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }"""


@dataclass
class Watched:
    """A page, with what it printed as errors and the dialogs it tried to open."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    page.on("dialog", on_dialog)
    try:
        yield watched
    finally:
        context.close()


def table(page: Page) -> list[tuple[str, int]]:
    rows: list[list[str]] = page.evaluate(TABLE_JS)
    return [(name, int("".join(ch for ch in hits if ch.isdigit()))) for name, hits in rows]


def wait_for_row(page: Page, node: str, hits: int, timeout: float = 10_000) -> None:
    page.wait_for_function(
        "([node, hits]) => Array.from(document.querySelectorAll('#nodes-body tr')).some("
        "tr => tr.querySelector('td.node').textContent === node &&"
        " Number(tr.querySelector('td.hits').textContent.replace(/\\D/g, '')) === hits)",
        arg=[node, hits],
        timeout=timeout,
    )


def wait_for_table(page: Page, expected: dict[str, int], timeout: float = 10_000) -> None:
    """Wait until the table shows exactly ``expected`` (node -> hits)."""
    page.wait_for_function(
        f"expected => JSON.stringify(Object.fromEntries(({TABLE_JS})().map("
        "([n, h]) => [n, Number(h.replace(/\\D/g, ''))]).sort())) === expected",
        arg=_json.dumps(dict(sorted(expected.items())), separators=(",", ":")),
        timeout=timeout,
    )


def wait_until_live(page: Page) -> None:
    page.wait_for_selector('#live[data-state="live"]', timeout=10_000)


def browse(metrics: Metrics, visits: int, seed: int = 7) -> Counter[str]:
    """Record visits along the demo site's routes, as its middleware records them (node =
    route template, caller = the route visited before); returns the hits per route."""
    rng = random.Random(seed)
    hits: Counter[str] = Counter()
    for _ in range(visits):
        route: str | None = rng.choices([r for r, _ in ENTRIES], [w for _, w in ENTRIES])[0]
        caller: str | None = None
        while route is not None:
            page = PAGES[route]
            status = 500 if rng.random() < page.error_rate else 200
            duration = page.latency * rng.lognormvariate(0, 0.5)
            metrics.hit(route, caller=caller, duration=duration, status=status)
            hits[route] += 1
            caller = route
            weights = [w for _, w in page.next]
            if status == 500 or rng.random() * (sum(weights) + page.leave) < page.leave:
                route = None  # a visitor leaves, or gives up on an error page
            else:
                route = rng.choices([r for r, _ in page.next], weights)[0]
    return hits


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    with Metrics("shop") as metrics:
        yield metrics


class SpreadClock:
    """Readings 2 s apart from 14 minutes ago while a test records hits; the real time
    after :meth:`stop` (the dashboard's live reads then move no test clock)."""

    def __init__(self) -> None:
        self._recording: ManualClock | None = ManualClock(
            datetime.now(timezone.utc) - timedelta(minutes=14), step=2.0
        )

    def time_ns(self) -> int:
        recording = self._recording
        return time.time_ns() if recording is None else recording.time_ns()

    def stop(self) -> None:
        assert self._recording is not None
        assert self._recording.time_ns() < time.time_ns(), "hits recorded in the future"
        self._recording = None


@pytest.fixture
def spread_metrics() -> Iterator[tuple[Metrics, SpreadClock]]:
    """A fresh Metrics whose clock starts 14 minutes ago, to spread hits over time."""
    clock = SpreadClock()
    with Metrics("shop", clock=clock) as metrics:
        yield metrics, clock


def api_calls(page: Page) -> list[str]:
    """The API paths the page requests from now on, with their query strings."""
    calls: list[str] = []
    page.on(
        "request",
        lambda request: (
            calls.append(request.url.split("/pymetrix/", 1)[1])
            if "/pymetrix/api/" in request.url
            else None
        ),
    )
    return calls


def bucket_of(text: str, step: int) -> str:
    """The start of the ``step``-second bucket holding export time ``text`` (UTC), as the
    page writes bucket starts."""
    when = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    seconds = int(when.timestamp()) // step * step
    start = datetime.fromtimestamp(seconds, timezone.utc)
    return start.isoformat(timespec="milliseconds")


def node_button(page: Page, within: str, node: str) -> Locator:
    """The button naming ``node`` in the element ``within``, found as a user finds it: by
    its role and name."""
    return page.locator(within).get_by_role("button", name=node, exact=True)


def peers(page: Page, selector: str) -> list[tuple[str, int]]:
    """A callers or callees list as shown: [node, hits], the busiest first."""
    shown: list[list[Any]] = page.evaluate(
        """selector => Array.from(document.querySelectorAll(selector + ' li.peer')).map(
            li => [li.firstChild.textContent, Number(li.getAttribute('data-hits'))])""",
        selector,
    )
    return [(node, hits) for node, hits in shown]


def chart_scale(page: Page, selector: str) -> tuple[str, int]:
    """The first bucket's start and the step (s) of the chart in ``selector``."""
    since = page.get_attribute(f"{selector} svg", "data-since")
    step = page.get_attribute(f"{selector} svg", "data-step")
    assert since is not None
    assert step is not None
    return since, int(step)


@contextmanager
def dashboard(watched: Watched, url: str) -> Iterator[Page]:
    """The page opened at ``url``; left for a blank page after, closing its live stream."""
    page = watched.page
    page.goto(url)
    try:
        yield page
    finally:
        page.goto("about:blank")


def test_dashboard_shows_the_aggregate_chart_and_flow_without_console_errors(
    watched: Watched, spread_metrics: tuple[Metrics, SpreadClock]
) -> None:
    metrics, clock = spread_metrics
    expected = browse(metrics, visits=140)
    clock.stop()
    top, top_hits = expected.most_common(1)[0]
    calls = api_calls(watched.page)
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        wait_for_row(page, top, top_hits)
        wait_until_live(page)

        rows = table(page)
        assert dict(rows) == dict(expected)
        assert [hits for _, hits in rows] == sorted(expected.values(), reverse=True)
        assert page.text_content("#kpi-hits") == f"{sum(expected.values()):,}"
        assert page.text_content("#kpi-top") == top

        # Latency and errors per node, as the stats export has them.
        stats = {entry["id"]: entry for entry in metrics.aggregate(stats=True)}
        errors_shown = page.evaluate(
            """() => Object.fromEntries(Array.from(document.querySelectorAll('#nodes-body tr'))
                .map(tr => [tr.querySelector('td.node').textContent,
                            Number(tr.querySelector('td.errors').textContent)]))"""
        )
        assert errors_shown == {name: entry["errors"] for name, entry in stats.items()}
        assert sum(errors_shown.values()) > 0
        p50_home = page.text_content('#nodes-body tr[data-node="/"] td:nth-child(4)')
        home_p50 = stats["/"]["p50"]
        assert home_p50 is not None
        assert p50_home == f"{home_p50 * 1000:.1f} ms"

        # Every bar segment is a node's hits in that bucket, as recorded; together they
        # are every hit of the range (the demo site has fewer nodes than the chart shows).
        _, step = chart_scale(page, "#chart")
        assert step == 15  # 15 minutes in 15-second buckets
        recorded: Counter[tuple[str, str]] = Counter(
            (bucket_of(entry["time"], step), node["id"])
            for node in metrics.time_series()["nodes"]
            for entry in node["callers"]
        )
        drawn = {
            (start, node): hits for start, node, hits in page.evaluate(BAR_SEGMENTS_JS, "#chart")
        }
        assert drawn == dict(recorded)
        bar_totals = page.evaluate(BAR_TOTALS_JS)
        assert len(bar_totals) > 5
        assert sum(bar_totals) == sum(expected.values())
        legend = page.evaluate(
            "() => Array.from(document.querySelectorAll('#chart-legend button.legend-item'))"
            ".map(e => e.textContent)"
        )
        # The busiest first.
        assert sorted(legend) == sorted(expected)
        assert [expected[node] for node in legend] == sorted(expected.values(), reverse=True)

        # One drawn link per caller -> node edge, with its hits.
        links = page.evaluate(
            """() => Array.from(document.querySelectorAll('#flow path.flow-link')).map(
                p => [p.getAttribute('data-caller'), p.getAttribute('data-node'),
                      Number(p.getAttribute('data-hits'))])"""
        )
        flow = metrics.flow()
        assert sorted(map(tuple, links)) == sorted(
            (START if e["caller"] is None else e["caller"], e["id"], e["hits"]) for e in flow
        )
        assert ("/", "/blog") in {(caller, node) for caller, node, _ in links}

        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
        if os.environ.get("PYMETRIX_DOCS_SCREENSHOT") == "1":
            (ROOT / "docs").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)
        assert (artifacts / "dashboard.png").stat().st_size > 10_000

    # The chart, the table and the flow come from the bucketed reads, never from per-hit
    # data; the live stream is the series' latest buckets.
    assert calls
    assert not [call for call in calls if "time_series" in call]
    assert {call.split("?")[0] for call in calls} == {
        "api/series",
        "api/aggregate",
        "api/flow",
        "api/stream",
    }
    assert all("data=series" in call for call in calls if call.startswith("api/stream"))
    assert watched.errors == []


def test_a_new_hit_appears_without_reload_within_two_seconds(
    watched: Watched, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    metrics.hit("Blog", caller="Home")
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        wait_for_row(page, "Blog", 1)
        wait_until_live(page)
        # A reload would drop this mark.
        page.evaluate("() => { window.__sameDocument = true; }")

        metrics.hit("Checkout", caller="Blog", duration=0.02, status=200)
        started = time.monotonic()
        wait_for_row(page, "Checkout", 1, timeout=LIVE_DEADLINE_MS)
        assert time.monotonic() - started < LIVE_DEADLINE_MS / 1000

        metrics.hit("Home", caller=None)
        metrics.hit("Home", caller="Checkout")
        wait_for_row(page, "Home", 3, timeout=LIVE_DEADLINE_MS)
        page.wait_for_selector(
            '#flow path.flow-link[data-caller="Checkout"][data-node="Home"]',
            state="attached",
            timeout=LIVE_DEADLINE_MS,
        )

        assert page.evaluate("() => window.__sameDocument") is True
        assert dict(table(page)) == {"Home": 3, "Blog": 1, "Checkout": 1}
        # The stream's latest bucket lands in the chart, new node included.
        page.wait_for_function(
            f"() => ({BAR_TOTALS_JS})().reduce((a, b) => a + b, 0) === 5",
            timeout=LIVE_DEADLINE_MS,
        )
        per_node: Counter[str] = Counter()
        for _, node, hits in page.evaluate(BAR_SEGMENTS_JS, "#chart"):
            per_node[node] += hits
        assert per_node == Counter({"Home": 3, "Blog": 1, "Checkout": 1})

        # When a new bucket begins the chart moves on by itself: nothing left the range,
        # so nothing is read again (the live stream may be reopened at the new bucket).
        calls = api_calls(page)
        since, step = chart_scale(page, "#chart")
        page.wait_for_function(
            "since => document.querySelector('#chart svg').getAttribute('data-since') !== since",
            arg=since,
            timeout=(step + 5) * 1000,
        )
        assert chart_scale(page, "#chart")[1] == step
        assert sum(page.evaluate(BAR_TOTALS_JS)) == 5
        assert [call for call in calls if not call.startswith("api/stream?")] == []
    assert watched.errors == []


# The hits of each bucket of a chart: {bucket start: hits}.
BUCKET_TOTALS_JS = """selector => Object.fromEntries(Array.from(
    document.querySelectorAll(selector + ' g.bucket')).map(
        g => [g.getAttribute('data-start'), Number(g.getAttribute('data-total'))]))"""

# The latency chart's dots: [percentile, bucket start, seconds].
LATENCY_POINTS_JS = """() => Array.from(document.querySelectorAll('#node-latency g.points'))
    .flatMap(g => Array.from(g.querySelectorAll('circle.point')).map(c =>
        [g.classList[1], c.getAttribute('data-start'), Number(c.getAttribute('data-value'))]))"""

FOCUSED_NODE_JS = "() => document.activeElement.getAttribute('data-node')"


def wait_for_node_view(page: Page, node: str) -> None:
    page.wait_for_function(
        "node => !document.getElementById('node-view').hidden &&"
        " document.getElementById('node-title').textContent === node &&"
        " document.querySelector('#node-hits g.bucket') !== null",
        arg=node,
    )


def test_a_node_opens_its_view_with_its_hits_latency_callers_and_callees(
    watched: Watched, spread_metrics: tuple[Metrics, SpreadClock]
) -> None:
    metrics, clock = spread_metrics
    expected = browse(metrics, visits=140)
    clock.stop()
    node = "/blog"
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        wait_for_row(page, "/", expected["/"])
        calls = api_calls(page)
        node_button(page, "#nodes-body", node).click()
        wait_for_node_view(page, node)
        assert page.is_hidden("#overview")
        assert page.url == f"{base}/pymetrix/?range=900&node=%2Fblog"
        assert page.get_attribute('#nodes-body tr[data-node="/blog"]', "aria-current") == "true"

        # Its hits per bucket, as recorded.
        since, step = chart_scale(page, "#node-hits")
        recorded = Counter(
            bucket_of(entry["time"], step)
            for entry in metrics.time_series(ids=[node])["nodes"][0]["callers"]
        )
        assert page.evaluate(BUCKET_TOTALS_JS, "#node-hits") == dict(recorded)
        # Its p50, p95 and p99 per bucket, as the series export has them.
        # (Any: the percentile keys are read by name from a tuple.)
        exported_series: Any = metrics.series(since=since, step=step, ids=[node])
        (entry,) = exported_series["nodes"]
        first = datetime.fromisoformat(since)
        exported = {
            (p, (first + timedelta(seconds=i * step)).isoformat(timespec="milliseconds"), value)
            for p in ("p50", "p95", "p99")
            for i, value in enumerate(entry[p])
            if value is not None
        }
        assert len(exported) > 10
        assert set(map(tuple, page.evaluate(LATENCY_POINTS_JS))) == exported
        # Its numbers over the range.
        (stats,) = metrics.aggregate(stats=True, ids=[node])
        assert page.text_content("#node-hits-total") == f"{expected[node]:,}"
        assert stats["p95"] is not None
        assert page.text_content("#node-p95") == f"{stats['p95'] * 1000:.1f} ms"
        # Its callers and callees, the busiest first.
        flow = metrics.flow()
        callers = sorted(
            (
                (START if e["caller"] is None else e["caller"], e["hits"])
                for e in flow
                if e["id"] == node
            ),
            key=lambda pair: -pair[1],
        )
        callees = sorted(
            ((e["id"], e["hits"]) for e in flow if e["caller"] == node), key=lambda pair: -pair[1]
        )
        assert sorted(peers(page, "#node-callers")) == sorted(callers)
        assert [hits for _, hits in peers(page, "#node-callers")] == [hits for _, hits in callers]
        assert sorted(peers(page, "#node-callees")) == sorted(callees)
        assert len(callers) > 1
        assert callees

        # One node's series with its latency, live from a stream of that node only.
        page.wait_for_selector('#live[data-state="live"]')
        assert any(
            call.startswith("api/series?") and "ids=%2Fblog" in call and "latency=1" in call
            for call in calls
        )
        assert any(
            call.startswith("api/stream?") and "ids=%2Fblog" in call and "latency=1" in call
            for call in calls
        )
        assert not [call for call in calls if "time_series" in call]

        # A callee opens its own view; the browser's Back returns.
        callee = callees[0][0]
        node_button(page, "#node-callees", callee).click()
        wait_for_node_view(page, callee)
        page.go_back()
        wait_for_node_view(page, node)

        # By keyboard: the Overview button, then back to where the keyboard was.
        page.focus("#back")
        page.keyboard.press("Enter")
        page.wait_for_selector("#overview:not([hidden]) #chart g.bucket")
        assert page.is_hidden("#node-view")
        assert page.url == f"{base}/pymetrix/"  # the page as first opened
        assert page.evaluate(FOCUSED_NODE_JS) == node
        # A legend entry is a button too; Escape leaves the node view.
        page.focus('#chart-legend button[data-node="/pricing"]')
        page.keyboard.press("Enter")
        wait_for_node_view(page, "/pricing")
        assert page.evaluate("() => document.activeElement.id") == "node-title"
        page.keyboard.press("Escape")
        page.wait_for_selector("#overview:not([hidden]) #chart g.bucket")
        # A bookmarked node view opens as it was.
        page.goto(f"{base}/pymetrix/?range=900&node=%2Fblog")
        wait_for_node_view(page, node)
        assert page.evaluate(BUCKET_TOTALS_JS, "#node-hits") == dict(recorded)
    assert watched.errors == []


SCALE_HITS = 2_000_000
SCALE_NODES = [f"/api/endpoint-{k}" for k in range(12)]
# Generous bounds for this shared machine; benchmarks/ hold the real targets.
REFRESH_BYTES = 1_000_000
FIRST_CHART_SECONDS = 5.0


def load_month(metrics: Metrics, hits: int) -> Counter[str]:
    """``hits`` spread evenly over the last 30 days, appended through the store with
    precomputed times (no clock, no validation), then flushed; the hits per node."""
    rng = random.Random(11)
    pool = 10_007  # prime: the cycles of profiles and times do not line up
    picked = [min(len(SCALE_NODES) - 1, int(rng.expovariate(0.3))) for _ in range(pool)]
    nodes = [SCALE_NODES[k] for k in picked]
    callers = [None if k == 0 else SCALE_NODES[rng.choice((0, k - 1))] for k in picked]
    durations = [rng.lognormvariate(-4.0, 1.0) for _ in range(pool)]
    statuses = [500 if rng.random() < 0.01 else 200 for _ in range(pool)]
    append_month(metrics, hits, nodes, callers, durations, statuses)
    return Counter(islice(cycle(nodes), hits))


def test_over_two_million_hits_a_refresh_is_small_and_the_chart_comes_fast(
    watched: Watched, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path}/month.db?batch_size=500000&overflow=block"
    with Metrics("shop", store=store) as metrics:
        expected = load_month(metrics, SCALE_HITS)
        top, top_hits = expected.most_common(1)[0]
        page = watched.page
        page.add_init_script(COUNT_STREAM_JS)
        finished: list[Request] = []
        page.on("requestfinished", lambda request: finished.append(request))
        calls = api_calls(page)
        with serve(mounted(metrics)) as base:
            started = time.perf_counter()
            page.goto(f"{base}/pymetrix/?range=2592000")
            try:
                page.wait_for_selector("#chart g.bucket", timeout=30_000)
                first_chart = time.perf_counter() - started
                wait_for_row(page, top, top_hits, timeout=30_000)
                page.wait_for_function("() => window.__streamChars > 0", timeout=30_000)
                refresh = fetched_bytes(finished) + page.evaluate("window.__streamChars")

                # The right numbers: every hit of the month, the busiest nodes in the chart.
                assert page.text_content("#kpi-hits") == f"{SCALE_HITS:,}"
                assert dict(table(page)) == dict(expected)
                shown = page.evaluate(
                    "() => Array.from(document.querySelectorAll('#chart-legend button'))"
                    ".map(b => b.getAttribute('data-node'))"
                )
                assert len(shown) == 10
                assert sum(page.evaluate(BAR_TOTALS_JS)) == sum(expected[node] for node in shown)
                assert chart_scale(page, "#chart")[1] == 21600  # 30 days in 6-hour buckets
                artifacts = ROOT / "test-artifacts"
                artifacts.mkdir(exist_ok=True)
                page.screenshot(path=str(artifacts / "dashboard-month.png"), full_page=True)

                # A page left open: new hits arrive, the page follows them with small reads.
                finished.clear()
                page.evaluate("() => { window.__streamChars = 0; }")
                for _ in range(3):
                    metrics.hit(top, caller=None, duration=0.01, status=200)
                    time.sleep(0.4)
                wait_for_row(page, top, top_hits + 3, timeout=10_000)
                live = fetched_bytes(finished) + page.evaluate("window.__streamChars")
            finally:
                page.goto("about:blank")
    print(
        f"\n{SCALE_HITS:,} hits: first chart {first_chart:.2f} s, one refresh"
        f" {refresh:,} bytes; 3 live hits followed with {live:,} bytes"
    )
    assert not [call for call in calls if "time_series" in call]
    assert first_chart < FIRST_CHART_SECONDS
    assert refresh < REFRESH_BYTES
    assert live < REFRESH_BYTES / 10
    assert watched.errors == []


def test_a_hostile_node_id_is_shown_as_text_and_runs_nothing(
    watched: Watched, metrics: Metrics
) -> None:
    markup = '</td><b id="injected">bold</b><script>window.__ran = 1</script>'
    metrics.hit(HOSTILE, caller=None)
    metrics.hit(HOSTILE, caller=None)
    metrics.hit(markup, caller=HOSTILE)
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        wait_for_row(page, HOSTILE, 2)
        wait_for_row(page, markup, 1)
        wait_until_live(page)

        assert dict(table(page)) == {HOSTILE: 2, markup: 1}
        assert page.text_content("#kpi-top") == HOSTILE
        # Drawn as text in the flow and the chart legend too.
        drawn = page.evaluate(
            "() => Array.from(document.querySelectorAll('#flow .flow-node')).map("
            "g => [g.getAttribute('data-node'), g.querySelector('text').firstChild.textContent])"
        )
        assert {node for node, _ in drawn} == {START, HOSTILE, markup}
        for node, text in drawn:
            # Long labels are cut short with an ellipsis, never parsed.
            assert text == node or (text.endswith("…") and node.startswith(text[:-1]))
        legend = page.evaluate(
            "() => Array.from(document.querySelectorAll('#chart-legend .legend-item'))"
            ".map(e => e.textContent)"
        )
        assert HOSTILE in legend

        # And in the node view: its title, its callers and callees.
        node_button(page, "#nodes-body", HOSTILE).click()
        page.wait_for_selector("#node-view:not([hidden]) #node-hits g.bucket")
        assert page.text_content("#node-title") == HOSTILE
        assert peers(page, "#node-callers") == [(START, 2)]
        assert peers(page, "#node-callees") == [(markup, 1)]
        node_button(page, "#node-callees", markup).click()
        page.wait_for_function(
            "markup => document.getElementById('node-title').textContent === markup", arg=markup
        )
        page.wait_for_selector("#node-view #node-hits g.bucket")
        assert peers(page, "#node-callers") == [(HOSTILE, 1)]

        assert page.evaluate("() => document.querySelectorAll('img').length") == 0
        assert page.evaluate("() => document.getElementById('injected')") is None
        assert page.evaluate("() => document.querySelectorAll('main script').length") == 0
        assert page.evaluate("() => window.__ran === undefined") is True
    assert watched.dialogs == []
    assert watched.errors == []


# Run before the page's own scripts: every load or script the policy refuses, kept.
RECORD_VIOLATIONS_JS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
    e => window.__violations.push([e.effectiveDirective, e.blockedURI]));"""

# What the browser reports when the page tries to run an inline script or style.
REFUSED_JS = """kind => new Promise(resolve => {
    document.addEventListener("securitypolicyviolation",
        e => resolve([e.effectiveDirective, e.originalPolicy]), {once: true});
    if (kind === "script") {
        const script = document.createElement("script");
        script.textContent = "window.__inline = true";
        document.head.append(script);
    } else {
        document.body.setAttribute("style", "color: red");
    }
})"""


def test_the_page_loads_under_its_policy_header_which_is_the_one_in_force(
    watched: Watched, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    page = watched.page
    page.add_init_script(RECORD_VIOLATIONS_JS)
    with serve(mounted(metrics)) as base:
        response = page.goto(f"{base}/pymetrix/")
        try:
            assert response is not None
            policy = response.headers["content-security-policy"]
            # Its script ran and its stylesheet applies, with nothing refused.
            wait_for_row(page, "Home", 1)
            wait_until_live(page)
            assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == (
                "flex"
            )
            assert page.evaluate("window.__violations") == []
            # The node view draws within it too.
            node_button(page, "#nodes-body", "Home").click()
            wait_for_node_view(page, "Home")
            assert page.evaluate("window.__violations") == []
            assert watched.errors == []
            # The header is the page's only policy, and the one the browser enforces.
            assert page.locator("meta[http-equiv]").count() == 0
            assert page.evaluate(REFUSED_JS, "script") == ["script-src-elem", policy]
            assert page.evaluate("window.__inline === undefined") is True
            assert page.evaluate(REFUSED_JS, "style") == ["style-src-attr", policy]
        finally:
            page.goto("about:blank")


def test_clicking_the_hits_header_sorts_ascending_then_descending(
    watched: Watched, metrics: Metrics
) -> None:
    for node, hits in (("Home", 5), ("Blog", 2), ("Post", 9), ("About", 1)):
        for _ in range(hits):
            metrics.hit(node, caller=None)
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        wait_for_row(page, "Post", 9)
        assert [name for name, _ in table(page)] == ["Post", "Home", "Blog", "About"]
        page.click('#nodes th[data-key="hits"]')
        assert [name for name, _ in table(page)] == ["About", "Blog", "Home", "Post"]
        assert page.get_attribute('#nodes th[data-key="hits"]', "aria-sort") == "ascending"
        page.click('#nodes th[data-key="hits"]')
        assert [name for name, _ in table(page)] == ["Post", "Home", "Blog", "About"]
    assert watched.errors == []


def test_the_time_range_selector_filters_what_is_shown(watched: Watched) -> None:
    now = datetime.now(timezone.utc)
    # Hits are recorded in time order, as a real clock gives them.
    clock = ManualClock(now - timedelta(days=3))
    with Metrics("shop", clock=clock) as metrics:
        metrics.hit("Ancient", caller=None)
        clock.set(now - timedelta(hours=2))
        for _ in range(3):
            metrics.hit("Old", caller=None)
        clock.set(now)
        metrics.hit("New", caller=None)
        metrics.hit("New", caller="Old")
        with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
            wait_for_row(page, "New", 2)
            # The default range is the last 15 minutes.
            assert dict(table(page)) == {"New": 2}

            page.select_option("#range", "86400")
            wait_for_row(page, "Old", 3)
            assert dict(table(page)) == {"New": 2, "Old": 3}
            assert chart_scale(page, "#chart")[1] == 900  # 24 hours in quarter-hours
            # Kept in the URL: a reload shows the same range.
            assert page.url.endswith("/pymetrix/?range=86400")
            page.reload()
            wait_for_row(page, "Old", 3)
            assert page.input_value("#range") == "86400"
            assert dict(table(page)) == {"New": 2, "Old": 3}

            page.select_option("#range", "604800")
            wait_for_row(page, "Ancient", 1)
            assert dict(table(page)) == {"New": 2, "Old": 3, "Ancient": 1}
            page.wait_for_function(f"() => ({BAR_TOTALS_JS})().reduce((a, b) => a + b, 0) === 6")
            assert chart_scale(page, "#chart")[1] == 7200  # 7 days in 2-hour buckets

            # A custom range, typed in the browser's local time.
            page.select_option("#range", "custom")
            since = now - timedelta(hours=3)
            until = now - timedelta(hours=1)
            page.fill("#since", page.evaluate(LOCAL_INPUT_JS, since.timestamp() * 1000))
            page.fill("#until", page.evaluate(LOCAL_INPUT_JS, until.timestamp() * 1000))
            wait_for_table(page, {"Old": 3})
            page.wait_for_function(f"() => ({BAR_TOTALS_JS})().reduce((a, b) => a + b, 0) === 3")
            # A range that ended has nothing live to follow.
            page.wait_for_selector('#live[data-state="paused"]')
    assert watched.errors == []


def test_the_dashboard_works_with_the_token_given_in_its_url(
    watched: Watched, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    with (
        serve(mounted(metrics, token="s3cret-token")) as base,
        dashboard(watched, f"{base}/pymetrix/?token=s3cret-token") as page,
    ):
        wait_for_row(page, "Home", 1)
        wait_until_live(page)
        metrics.hit("Home", caller=None)
        wait_for_row(page, "Home", 2, timeout=LIVE_DEADLINE_MS)
    assert watched.errors == []


def test_opening_the_dashboard_with_the_token_takes_it_out_of_the_address_bar(
    watched: Watched, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    with (
        serve(mounted(metrics, token="s3cret-token")) as base,
        dashboard(watched, f"{base}/pymetrix/?range=3600&token=s3cret-token") as page,
    ):
        wait_for_row(page, "Home", 1)
        assert page.url == f"{base}/pymetrix/?range=3600"
        wait_until_live(page)
        metrics.hit("Home", caller=None)
        wait_for_row(page, "Home", 2, timeout=LIVE_DEADLINE_MS)
        # Reloaded without the token in its URL, the page is let in by its cookie.
        page.reload()
        wait_for_row(page, "Home", 2)
        wait_until_live(page)
        assert page.url == f"{base}/pymetrix/?range=3600"
        assert page.evaluate("document.getElementById('range').value") == "3600"
    assert watched.errors == []


def test_a_link_with_the_token_followed_from_another_site_opens_the_dashboard(
    watched: Watched, metrics: Metrics
) -> None:
    # A SameSite=Strict cookie set by the first response is not sent with a request the
    # other site's navigation led to: the page must be served to the token in its URL.
    async def elsewhere(request: StarletteRequest) -> HTMLResponse:
        target = f"http://127.0.0.1:{request.url.port}/pymetrix/?token=s3cret-token"
        return HTMLResponse(
            f'<link rel="icon" href="data:,"><a id="stats" href="{target}">stats</a>'
        )

    metrics.hit("Home", caller=None)
    app = Starlette(
        routes=[
            Route("/elsewhere", elsewhere),
            Mount("/pymetrix", app=stats_app(metrics, token="s3cret-token")),
        ]
    )
    with serve(app) as base:
        page = watched.page
        # localhost and 127.0.0.1 are different sites to the browser.
        page.goto(base.replace("127.0.0.1", "localhost") + "/elsewhere")
        try:
            page.click("#stats")
            wait_for_row(page, "Home", 1)
            assert page.url == f"{base}/pymetrix/"
            wait_until_live(page)
            page.reload()
            wait_for_row(page, "Home", 1)
        finally:
            page.goto("about:blank")
    assert watched.errors == []


def recorded_host(metrics: Metrics, framework: str) -> Any:
    """A host app mounting the stats app at /pymetrix, its every request recorded."""
    if framework == "litestar":
        return Litestar(
            route_handlers=[stats_mount("/pymetrix", stats_app(metrics))],
            plugins=[PymetrixPlugin(metrics=metrics)],
        )
    app = mounted(metrics)
    app.add_middleware(PymetrixMiddleware, metrics=metrics)
    return app


@pytest.mark.parametrize("framework", ["starlette", "litestar"])
def test_the_dashboard_beside_the_recording_middleware_loads_and_settles(
    watched: Watched, metrics: Metrics, framework: str
) -> None:
    for _ in range(3):
        metrics.hit("Home")
    with (
        serve(recorded_host(metrics, framework)) as base,
        dashboard(watched, f"{base}/pymetrix") as page,
    ):
        wait_for_table(page, {"Home": 3})
        wait_until_live(page)
        calls = api_calls(page)
        # Its own requests are not hits: nothing changes, so nothing is fetched again.
        page.wait_for_timeout(2000)
        assert calls == []
        assert table(page) == [("Home", 3)]
    assert watched.errors == []
    assert {row["id"]: row["hits"] for row in metrics.aggregate()} == {"Home": 3}


def test_the_dashboard_included_in_django_beside_its_middleware_loads_and_settles(
    watched: Watched, metrics: Metrics, serve_wsgi: Any
) -> None:
    if not settings.configured:
        settings.configure(SECRET_KEY="pymetrix-tests", INSTALLED_APPS=[], MIDDLEWARE=[])
        django.setup()
    for _ in range(3):
        metrics.hit("Home")
    urls = types.ModuleType("pymetrix_test_urls_browser")
    urls.urlpatterns = [path("pymetrix/", include(stats_urls(metrics)))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    clear_url_caches()
    try:
        with override_settings(
            ROOT_URLCONF=urls.__name__,
            ALLOWED_HOSTS=["127.0.0.1"],
            MIDDLEWARE=[
                "pymetrix.integrations.django.PymetrixMiddleware",
                "django.middleware.common.CommonMiddleware",
            ],
            PYMETRIX={"metrics": metrics},
        ):
            server = serve_wsgi(WSGIHandler())
            with dashboard(watched, f"http://127.0.0.1:{server.port}/pymetrix") as page:
                wait_for_table(page, {"Home": 3})
                wait_until_live(page)
                calls = api_calls(page)
                page.wait_for_timeout(2000)
                assert calls == []
                assert table(page) == [("Home", 3)]
    finally:
        del sys.modules[urls.__name__]
        clear_url_caches()
    assert watched.errors == []
    assert {row["id"]: row["hits"] for row in metrics.aggregate()} == {"Home": 3}


# The chart legend as shown: {node: its swatch's colour}.
LEGEND_COLOURS_JS = """() => Object.fromEntries(Array.from(
    document.querySelectorAll('#chart-legend .legend-item')).map(
        b => [b.getAttribute('data-node'),
              getComputedStyle(b.querySelector('.swatch')).backgroundColor]))"""


def test_a_node_keeps_its_colour_when_the_busiest_nodes_change(
    watched: Watched, metrics: Metrics
) -> None:
    for node, hits in {"Home": 5, "Blog": 3, "Cart": 1}.items():
        for _ in range(hits):
            metrics.hit(node, caller=None)
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        page.wait_for_function(
            f"() => Object.keys(({LEGEND_COLOURS_JS})()).length === 3", timeout=10_000
        )
        before = page.evaluate(LEGEND_COLOURS_JS)
        assert len(set(before.values())) == 3

        # New hits turn the ranking over: a new busiest node, the least busy one second.
        for _ in range(20):
            metrics.hit("Search", caller=None)
        for _ in range(10):
            metrics.hit("Cart", caller=None)
        page.select_option("#range", "3600")
        page.wait_for_function(
            f"() => Object.keys(({LEGEND_COLOURS_JS})()).length === 4", timeout=10_000
        )
        after = page.evaluate(LEGEND_COLOURS_JS)
        assert {node: after[node] for node in before} == before
        assert len(set(after.values())) == 4
    assert watched.errors == []


# The value axis of a chart as drawn: [label, its left edge - the chart's left edge].
VALUE_LABELS_JS = """selector => { const root = document.querySelector(selector + ' svg');
    const left = root.getBoundingClientRect().left;
    return Array.from(root.querySelectorAll('g.axis text[text-anchor="end"]')).map(
        t => [t.textContent, t.getBoundingClientRect().left - left]); }"""


def test_the_value_axis_ends_near_the_peak_and_shows_its_widest_label_whole(
    watched: Watched,
) -> None:
    clock = ManualClock(datetime.now(timezone.utc) - timedelta(minutes=1))
    with Metrics("shop", clock=clock) as metrics:
        for _ in range(105):
            metrics.hit("Home", caller=None)
        with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
            page.wait_for_function(f"() => ({BAR_TOTALS_JS})().includes(105)", timeout=10_000)
            labels = page.evaluate(VALUE_LABELS_JS, "#chart")
            # 1-2-2.5-5 steps: 105 hits get an axis to 120, not 200.
            assert [label for label, _ in labels] == ["0", "20", "40", "60", "80", "100", "120"]

            # A wider font than this machine's (as some browsers show): the labels
            # take the room they need, whatever their font.
            page.evaluate(
                "() => { const sheet = document.styleSheets[0]; sheet.insertRule("
                "'.axis text { font-size: 14px !important; }', sheet.cssRules.length); }"
            )
            for _ in range(100_000 - 105):
                metrics.hit("Home", caller=None)
            page.wait_for_function(f"() => ({BAR_TOTALS_JS})().includes(100000)", timeout=10_000)
            labels = page.evaluate(VALUE_LABELS_JS, "#chart")
            assert labels[-1][0] == "100,000"
            assert all(left >= 0 for _, left in labels), labels
    assert watched.errors == []


def test_every_time_on_the_page_is_written_one_way(watched: Watched) -> None:
    now = datetime.now(timezone.utc)
    clock = ManualClock(now - timedelta(days=3))
    with Metrics("shop", clock=clock) as metrics:
        metrics.hit("Old", caller=None)
        clock.set(now - timedelta(minutes=1))
        metrics.hit("Home", caller=None)
        with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
            wait_for_row(page, "Home", 1)
            page.wait_for_function(
                "() => /\\d/.test(document.getElementById('updated').textContent)"
            )
            clock_re = r"^\d\d:\d\d(:\d\d)?$"
            date_re = r"^\d{4}-\d\d-\d\d$"
            assert page.evaluate(
                "re => new RegExp(re).test(document.getElementById('updated').textContent)",
                r"^\d\d:\d\d:\d\d$",
            ), page.text_content("#updated")
            times = page.eval_on_selector_all(
                '#chart g.axis text[text-anchor="middle"]', "ts => ts.map(t => t.textContent)"
            )
            assert times
            assert all(re.match(clock_re, t) for t in times), times
            tip = page.eval_on_selector("#chart g.bucket title", "t => t.textContent")
            assert re.match(r"^\d\d:\d\d:\d\d: 1 hits", tip), tip

            page.select_option("#range", "604800")
            wait_for_row(page, "Old", 1)
            page.wait_for_function(f"() => ({BAR_TOTALS_JS})().length === 2")
            labels = page.eval_on_selector_all(
                '#chart g.axis text[text-anchor="middle"]', "ts => ts.map(t => t.textContent)"
            )
            assert labels
            assert all(re.match(f"{clock_re}|{date_re}", t) for t in labels), labels
            assert any(re.match(date_re, t) for t in labels), labels
            tips = page.eval_on_selector_all(
                "#chart g.bucket title", "ts => ts.map(t => t.textContent)"
            )
            assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d: 1 hits", t) for t in tips), tips

            # The custom range starts from the last hour, written the same way.
            page.select_option("#range", "custom")
            for field_id in ("#since", "#until"):
                value = page.input_value(field_id)
                assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", value), value
    assert watched.errors == []


# The colour of a node's cell in the nodes table.
CELL_COLOUR_JS = """([node, cell]) => getComputedStyle(document.querySelector(
    `#nodes-body tr[data-node="${node}"] td.${cell}`)).color"""


def test_errors_turn_red_from_one_percent_of_the_hits(watched: Watched, metrics: Metrics) -> None:
    for i in range(1000):
        metrics.hit("Home", caller=None, status=500 if i < 5 else 200)
    for i in range(100):
        metrics.hit("Cart", caller="Home", status=500 if i < 2 else 200)
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        wait_for_row(page, "Cart", 100)
        plain = page.evaluate(CELL_COLOUR_JS, ["Home", "hits"])
        # 5 errors in 1,000 hits (0.5 %): shown, not raised.
        assert page.text_content('#nodes-body tr[data-node="Home"] td.errors') == "5"
        assert page.evaluate(CELL_COLOUR_JS, ["Home", "errors"]) == plain
        # 2 in 100 (2 %): red.
        assert page.evaluate(CELL_COLOUR_JS, ["Cart", "errors"]) != plain
        # 7 in 1,100 over the range (0.6 %): the KPI is not red either.
        assert page.text_content("#kpi-errors") == "7 (0.6%)"
        kpi = page.eval_on_selector("#kpi-errors", "e => getComputedStyle(e).color")
        hits_kpi = page.eval_on_selector("#kpi-hits", "e => getComputedStyle(e).color")
        assert kpi == hits_kpi
    assert watched.errors == []


def test_the_flow_speaks_of_pages_and_where_visits_came_from(
    watched: Watched, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    metrics.hit("Cart", caller="Home")
    with serve(mounted(metrics)) as base, dashboard(watched, f"{base}/pymetrix/") as page:
        page.wait_for_selector('#flow g.flow-node[data-side="node"]', state="attached")
        headings = page.eval_on_selector_all(
            "#flow text.flow-heading", "ts => ts.map(t => t.textContent)"
        )
        assert headings == ["Came from", "Page"]
        assert page.text_content("#flow-note") == "came from → page, width by hits"
        # Where visits began is named as in the Mermaid and DOT drawings.
        assert START == "(start)"
        starts = page.eval_on_selector_all(
            '#flow g.flow-node.start[data-side="caller"]', "gs => gs.map(g => g.dataset.node)"
        )
        assert starts == [START]
        assert page.text_content("#flow g.flow-node.start text") == f"{START}  1"

        node_button(page, "#nodes-body", "Home").click()
        wait_for_node_view(page, "Home")
        assert page.locator("#node-view h3").all_text_contents() == [
            "Hits",
            "Latency",
            "Came from",
            "Went on to",
        ]
        assert peers(page, "#node-callers") == [(START, 1)]
    assert watched.errors == []


LONG_NODE = "/api/v1/catalogue/products/{product_id}/reviews/{review_id}"

# What a phone would cut off: the page wider than the screen, KPIs or table cells whose
# text overflows them, flow names shortened.
PHONE_CHECK_JS = """() => {
    const inside = (e, box) => { const r = e.getBoundingClientRect();
        return r.left >= box.left - 0.5 && r.right <= box.right + 0.5; };
    const clipped = e => e.scrollWidth > e.clientWidth + 1;
    const screen = {left: 0, right: window.innerWidth};
    const kpis = Array.from(document.querySelectorAll('.kpi-value')).filter(
        e => clipped(e) || !inside(e, e.parentElement.getBoundingClientRect())
            || !inside(e, screen)).map(e => e.id);
    const cells = Array.from(document.querySelectorAll('#nodes-body td, #nodes-body td button'))
        .filter(e => clipped(e) || !inside(e, screen)).map(e => e.textContent);
    const flow = Array.from(document.querySelectorAll('#flow .flow-row .flow-path'))
        .filter(e => clipped(e) || !inside(e, screen)).map(e => e.textContent);
    return {width: document.documentElement.scrollWidth, kpis, cells, flow,
            flowRows: Array.from(document.querySelectorAll('#flow .flow-row')).map(
                li => [li.dataset.caller, li.dataset.node,
                       li.querySelector('.flow-path').textContent]),
            svgFlow: document.querySelectorAll('#flow svg text').length}; }"""


def test_on_a_phone_nothing_is_cut_off_in_either_scheme_and_each_size_is_screenshot(
    browser: Browser, spread_metrics: tuple[Metrics, SpreadClock]
) -> None:
    metrics, clock = spread_metrics
    expected = browse(metrics, visits=140)
    clock.stop()
    for i in range(1_234):
        metrics.hit(
            LONG_NODE, caller="/products/{id}", duration=1.25, status=500 if i < 40 else 200
        )
    metrics.hit(HOSTILE, caller="/")
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    errors: list[str] = []
    shots: list[str] = []
    with serve(mounted(metrics)) as base:
        for (name, width, height), scheme in product(
            (("desktop", 1400, 900), ("phone", 390, 844)), ("light", "dark")
        ):
            context = browser.new_context(
                viewport={"width": width, "height": height},
                color_scheme="light" if scheme == "light" else "dark",
            )
            try:
                page = context.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(f"{base}/pymetrix/")
                wait_for_row(page, LONG_NODE, 1_234)
                wait_for_row(page, "/", expected["/"])
                page.wait_for_selector("#flow .flow-row, #flow svg g.flow-node", state="attached")
                # The highlight of rows that changed has faded.
                page.wait_for_timeout(1300)
                shot = artifacts / f"dashboard-{name}-{scheme}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots.append(shot.name)
                assert shot.stat().st_size > 10_000
                background = page.evaluate("getComputedStyle(document.body).backgroundColor")
                assert background == (
                    "rgb(245, 246, 248)" if scheme == "light" else "rgb(15, 17, 21)"
                )
                if name == "phone":
                    seen = page.evaluate(PHONE_CHECK_JS)
                    assert seen["width"] <= 390, seen["width"]
                    assert seen["kpis"] == []
                    assert seen["cells"] == []
                    assert seen["flow"] == []
                    assert page.text_content("#kpi-top") == LONG_NODE
                    # The flow is a list on a phone, each name whole.
                    assert seen["svgFlow"] == 0
                    assert ["/products/{id}", LONG_NODE, f"/products/{{id}} → {LONG_NODE}"] in (
                        seen["flowRows"]
                    )
                    # Each number of the table is named by its column.
                    labels = page.eval_on_selector_all(
                        f'#nodes-body tr[data-node="{LONG_NODE}"] td[data-label]',
                        "tds => tds.map(td => getComputedStyle(td, '::before').content)",
                    )
                    assert labels == ['"Hits"', '"p50"', '"p95"', '"Errors"']
                    # A hostile id stays text in the list too.
                    assert ["/", HOSTILE, f"/ → {HOSTILE}"] in seen["flowRows"]
                    assert page.locator("img").count() == 0

                    # The node view fits the screen as well.
                    node_button(page, "#nodes-body", LONG_NODE).click()
                    wait_for_node_view(page, LONG_NODE)
                    page.wait_for_selector("#node-hits svg g.bucket", state="attached")
                    page.screenshot(
                        path=str(artifacts / f"dashboard-phone-node-{scheme}.png"),
                        full_page=True,
                    )
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390
                    # Its name whole.
                    assert page.eval_on_selector(
                        "#node-title", "h => h.scrollWidth <= h.clientWidth + 1"
                    )
            finally:
                context.close()
    assert errors == []
    assert shots == [
        "dashboard-desktop-light.png",
        "dashboard-desktop-dark.png",
        "dashboard-phone-light.png",
        "dashboard-phone-dark.png",
    ]


def test_opening_the_dashboard_without_its_token_shows_a_page_asking_for_it(
    watched: Watched, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    with serve(mounted(metrics, token="s3cret-<b>&token")) as base:
        page = watched.page
        try:
            response = page.goto(f"{base}/pymetrix/?range=3600")
            assert response is not None
            assert response.status == 401
            assert response.headers["content-type"].startswith("text/html")
            assert "form-action 'self'" in response.headers["content-security-policy"]
            assert page.locator("#token").get_attribute("type") == "password"
            assert "need a token" in (page.text_content("#why") or "")
            # Its own style, allowed by its hash alone, applies.
            assert page.eval_on_selector("main", "m => getComputedStyle(m).borderRadius") == "12px"

            # A wrong token: asked again, said so.
            page.fill("#token", HOSTILE)
            page.click("button[type=submit]")
            page.wait_for_selector("#token")
            assert "not accepted" in (page.text_content("#why") or "")
            assert page.locator("img").count() == 0

            # The right one opens the dashboard, and takes it out of the address bar.
            page.fill("#token", "s3cret-<b>&token")
            page.click("button[type=submit]")
            wait_for_row(page, "Home", 1)
            assert page.url == f"{base}/pymetrix/"
            wait_until_live(page)
        finally:
            page.goto("about:blank")

        # The API keeps its JSON answer, whatever the caller accepts.
        asked = urllib.request.Request(
            f"{base}/pymetrix/api/aggregate", headers={"Accept": "text/html,*/*"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(asked, timeout=10)
        assert refused.value.code == 401
        assert refused.value.headers["content-type"] == "application/json"
        assert _json.loads(refused.value.read())["response"] == 401
    assert watched.dialogs == []
    assert [e for e in watched.errors if "401" not in e] == []
