"""The dashboard's accessibility in real headless Chromium: axe-core's rules in both colour
schemes, on a desktop and a phone, with data and without; keyboard use, focus outlines,
the table behind each chart, and the layout holding still while data arrive.

axe-core is a test-time tool, installed by ``npm ci`` from the repository's
``package-lock.json`` (``make test`` runs it); nothing of it ships in the package.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from starlette.applications import Starlette
from starlette.routing import Mount

from pymetrix import Metrics
from pymetrix.visualize import START
from pymetrix.web import stats_app
from tests.web._browser import mounted, serve
from tests.web.test_dashboard_browser import (
    LONG_NODE,
    ROOT,
    SpreadClock,
    browse,
    chart_scale,
    table,
    wait_for_node_view,
    wait_for_row,
    wait_until_live,
)

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP: ViewportSize = {"width": 1400, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")

# axe-core's WCAG 2.0/2.1/2.2 A and AA rules and its best practices, on the whole page;
# each violation as [rule, impact, the first few elements it names, its summary].
RUN_AXE_JS = """async () => {
    const result = await axe.run(document, {
        runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                         "wcag22aa", "best-practice"]},
        resultTypes: ["violations"]});
    return result.violations.map(v => [v.id, v.impact,
        v.nodes.slice(0, 5).map(n => n.target.join(" ")),
        v.nodes.slice(0, 2).map(n => n.failureSummary)]);
}"""


def axe_path() -> Path:
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci` at the repository's root"
    return AXE


@contextmanager
def opened(
    browser: Browser, url: str, viewport: ViewportSize, scheme: Scheme = "light"
) -> Iterator[Page]:
    """A new page at ``url`` in a context of that size and colour scheme; errors the page
    prints fail the test."""
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    # In every document, before its own scripts: the page's policy admits no inline script.
    context.add_init_script(path=axe_path())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url)
        yield page
        assert errors == []
    finally:
        context.close()


def artifacts() -> Path:
    """The directory the browser tests leave their screenshots in."""
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def violations(page: Page) -> list[Any]:
    """axe-core's violations on the page as it is now (its animations settled)."""
    # The highlight of rows that changed fades out in 1.2 s: axe reads colours as shown.
    page.wait_for_timeout(1300)
    found: list[Any] = page.evaluate(RUN_AXE_JS)
    for rule in found:
        print("axe:", json.dumps(rule))
    return found


@pytest.fixture
def busy_metrics() -> Iterator[Metrics]:
    """The demo site's visitors over the last 14 minutes, with a long node name and an
    error-heavy node (its numbers shown in red)."""
    clock = SpreadClock()
    with Metrics("shop", clock=clock) as metrics:
        browse(metrics, visits=140)
        for i in range(50):
            status = 500 if i < 9 else 200
            metrics.hit(LONG_NODE, caller="/products/{id}", duration=0.2, status=status)
        clock.stop()
        yield metrics


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_axe_finds_no_violation_in_the_overview_and_the_node_view(
    browser: Browser, busy_metrics: Metrics, size: str, scheme: Scheme
) -> None:
    found: dict[str, Any] = {}
    with (
        serve(mounted(busy_metrics)) as base,
        opened(browser, f"{base}/pymetrix/", SIZES[size], scheme) as page,
    ):
        wait_for_row(page, LONG_NODE, 50)
        wait_until_live(page)
        page.wait_for_selector("#flow .flow-row, #flow g.flow-node", state="attached")
        found["overview"] = violations(page)
        page.click("#chart-table-toggle")
        page.click("#flow-table-toggle")
        page.wait_for_selector("#flow-table table")
        found["overview with its tables"] = violations(page)
        page.get_by_role("button", name="/blog", exact=True).first.click()
        wait_for_node_view(page, "/blog")
        page.wait_for_selector("#node-latency svg circle.point", state="attached")
        found["node view"] = violations(page)
        page.click("#node-table-toggle")
        page.wait_for_selector("#node-table table")
        found["node view with its table"] = violations(page)
    assert found == {
        "overview": [],
        "overview with its tables": [],
        "node view": [],
        "node view with its table": [],
    }


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_axe_finds_no_violation_in_the_empty_states(
    browser: Browser, metrics: Metrics, size: str, scheme: Scheme
) -> None:
    found: dict[str, Any] = {}
    with (
        serve(mounted(metrics)) as base,
        opened(browser, f"{base}/pymetrix/", SIZES[size], scheme) as page,
    ):
        page.wait_for_selector("#nodes-empty:not([hidden])")
        wait_until_live(page)
        found["overview"] = violations(page)
        page.goto(f"{base}/pymetrix/?node=%2Fnowhere")
        page.wait_for_function(
            "() => document.getElementById('node-title').textContent === '/nowhere'"
            " && document.querySelector('#node-hits svg') !== null"
            " && !document.querySelector('#node-hits').textContent.includes('Loading')"
        )
        found["node view"] = violations(page)
    assert found == {"overview": [], "node view": []}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_no_violation_in_the_page_asking_for_the_token(
    browser: Browser, metrics: Metrics, scheme: Scheme
) -> None:
    app = Starlette(routes=[Mount("/pymetrix", app=stats_app(metrics, token="s3cret"))])
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)
    context.add_init_script(path=axe_path())
    try:
        with serve(app) as base:
            page = context.new_page()
            response = page.goto(f"{base}/pymetrix/")
            assert response is not None
            assert response.status == 401
            page.wait_for_selector("#token")
            assert violations(page) == []
    finally:
        context.close()


def test_axe_is_installed_where_the_tests_look_for_it() -> None:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    wanted = package["devDependencies"]["axe-core"]
    assert lock["packages"]["node_modules/axe-core"]["version"] == wanted
    assert "axe.run" in axe_path().read_text(encoding="utf-8")
    assert Path(ROOT / ".gitignore").read_text(encoding="utf-8").count("node_modules/") == 1


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    """A fresh Metrics on the real clock: what it records is in the page's default range."""
    with Metrics("shop") as metrics:
        yield metrics


def record_many_nodes(metrics: Metrics, nodes: int, visits: int) -> None:
    """Visits over ``nodes`` pages, a few busy and most rare (as a site's long tail)."""
    rng = random.Random(3)
    pages = [f"/section-{k % 7}/page-{k}" for k in range(nodes)]
    weights = [1 / (k + 1) for k in range(nodes)]
    for _ in range(visits):
        caller: str | None = None
        for _ in range(rng.randint(1, 4)):
            page = rng.choices(pages, weights)[0]
            metrics.hit(page, caller=caller, duration=0.01)
            caller = page
    # Every page at least once, so that the store holds all of them.
    for page in pages:
        metrics.hit(page, caller=pages[0])


# The flow's names as drawn: [side, node, left, top, right, bottom] of each label.
FLOW_LABELS_JS = """() => Array.from(document.querySelectorAll('#flow g.flow-node')).map(g => {
    const r = g.querySelector('text').getBoundingClientRect();
    return [g.dataset.side, g.dataset.node, r.left, r.top, r.right, r.bottom]; })"""

# Each link's colour and its source node's, as the browser paints them.
FLOW_COLOURS_JS = """() => Array.from(document.querySelectorAll('#flow path.flow-link')).map(p => {
    const source = Array.from(document.querySelectorAll('#flow g.flow-node[data-side="caller"]'))
        .find(g => g.dataset.node === p.dataset.caller);
    return [p.dataset.caller, getComputedStyle(p).stroke,
            getComputedStyle(source.querySelector('rect')).fill]; })"""


def test_a_flow_of_two_hundred_nodes_shows_the_busiest_and_an_other_group_readably(
    browser: Browser, metrics: Metrics
) -> None:
    record_many_nodes(metrics, nodes=200, visits=1500)
    flow = metrics.flow()
    callers = {START if e["caller"] is None else e["caller"] for e in flow}
    pages = {e["id"] for e in flow}
    assert len(pages) == 200
    with (
        serve(mounted(metrics)) as base,
        opened(browser, f"{base}/pymetrix/", DESKTOP) as page,
    ):
        page.wait_for_selector("#flow g.flow-node.other", state="attached")
        page.screenshot(path=str(artifacts() / "dashboard-flow-200.png"), full_page=True)
        labels = page.evaluate(FLOW_LABELS_JS)
        svg_box = page.eval_on_selector("#flow svg", "s => s.getBoundingClientRect().toJSON()")
        shown = {side: [node for s, node, *_ in labels if s == side] for side in ("caller", "node")}
        assert 10 <= len(shown["node"]) <= 30
        assert 10 <= len(shown["caller"]) <= 30
        # No two names overlap; each lies within the drawing.
        boxes = [box for *_, box in ((label[:2], label[2:]) for label in labels)]
        for i, (left, top, right, bottom) in enumerate(boxes):
            assert right - left > 0
            assert bottom - top > 0
            assert svg_box["left"] <= left, labels[i]
            assert right <= svg_box["right"], labels[i]
            assert svg_box["top"] <= top, labels[i]
            assert bottom <= svg_box["bottom"], labels[i]
            for j in range(i + 1, len(boxes)):
                l2, t2, r2, b2 = boxes[j]
                overlap = min(right, r2) > max(left, l2) and min(bottom, b2) > max(top, t2)
                assert not overlap, (labels[i], labels[j])

        # The rest of each column is one "other" node, naming how many pages it holds;
        # every hit of the flow is drawn.
        other_pages = 200 - (len(shown["node"]) - 1)
        assert shown["node"][-1] == f"other ({other_pages} pages)"
        other_callers = len(callers) - (len(shown["caller"]) - 1)
        assert shown["caller"][-1] == f"other ({other_callers} pages)"
        assert shown["caller"][0] == START
        drawn = page.eval_on_selector_all(
            "#flow path.flow-link", "ps => ps.map(p => Number(p.dataset.hits))"
        )
        assert sum(drawn) == sum(e["hits"] for e in flow)
        # The busiest pages are the ones shown by name.
        by_hits = Counter[str]()
        for e in flow:
            by_hits[e["id"]] += e["hits"]
        named = set(shown["node"][:-1])
        assert min(by_hits[n] for n in named) >= max(by_hits[n] for n in pages - named)

        # A link has its source's colour; the busiest callers have colours of their own.
        colours = page.evaluate(FLOW_COLOURS_JS)
        assert len(colours) > 20
        assert all(stroke == fill for _, stroke, fill in colours), colours
        assert len({stroke for caller, stroke, _ in colours if caller != START}) >= 5

        # A node's tooltip shows on the keyboard's focus as on the pointer's hover.
        busiest = shown["node"][0]
        node = page.locator(f'#flow g.flow-node[data-side="node"][data-node="{busiest}"]')
        node.focus()
        tip = page.locator("#flow-tip")
        assert tip.is_visible()
        assert tip.inner_text().splitlines()[0] == f"{busiest}: {by_hits[busiest]:,} hits"
        page.keyboard.press("Escape")
        assert tip.is_hidden()
        page.locator("#flow g.flow-node.other[data-side='node'] rect").hover()
        assert tip.is_visible()
        assert tip.inner_text().splitlines()[0].startswith(f"other ({other_pages} pages): ")
        page.mouse.move(0, 0)
        assert tip.is_hidden()
        # Enter on a page's node opens its view.
        node.focus()
        page.keyboard.press("Enter")
        wait_for_node_view(page, busiest)


def luminance(colour: str) -> float:
    """The relative luminance (WCAG 2) of a CSS colour as browsers compute it: ``rgb(r, g,
    b)``, ``rgba(...)`` at full opacity, or ``#rrggbb``."""
    colour = colour.strip()
    if colour.startswith("#"):
        channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    else:
        match = re.fullmatch(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)", colour)
        assert match is not None, colour
        assert match.group(4) in (None, "1"), f"{colour} is not opaque"
        channels = [round(float(match.group(i))) for i in (1, 2, 3)]

    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = map(linear, channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# The focused element's outline, and the colour behind it (its nearest opaque background).
FOCUS_RING_JS = """() => { const e = document.activeElement; const s = getComputedStyle(e);
    let bg = 'rgba(0, 0, 0, 0)';
    for (let p = e.parentElement; p; p = p.parentElement) {
        const c = getComputedStyle(p).backgroundColor;
        if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') { bg = c; break; } }
    return {id: e.id || e.className || e.tagName, style: s.outlineStyle,
            width: parseFloat(s.outlineWidth), colour: s.outlineColor, background: bg,
            visible: e.matches(':focus-visible')}; }"""


@pytest.mark.parametrize("scheme", SCHEMES)
def test_focus_outlines_and_small_text_stand_out_in_both_schemes(
    browser: Browser, busy_metrics: Metrics, scheme: Scheme
) -> None:
    with (
        serve(mounted(busy_metrics)) as base,
        opened(browser, f"{base}/pymetrix/", DESKTOP, scheme) as page,
    ):
        wait_for_row(page, LONG_NODE, 50)
        rings = {}
        # By keyboard, from the top of the page: the range first.
        page.keyboard.press("Tab")
        rings["range"] = page.evaluate(FOCUS_RING_JS)
        page.keyboard.press("Tab")
        rings["table toggle"] = page.evaluate(FOCUS_RING_JS)
        page.keyboard.press("Tab")
        rings["legend"] = page.evaluate(FOCUS_RING_JS)
        page.focus("#filter")
        rings["filter"] = page.evaluate(FOCUS_RING_JS)
        page.keyboard.press("Tab")
        rings["sort"] = page.evaluate(FOCUS_RING_JS)
        assert [ring["id"] for ring in rings.values()] == [
            "range",
            "chart-table-toggle",
            "legend-item",
            "filter",
            "sort",
        ]
        for name, ring in rings.items():
            assert ring["visible"], (name, ring)
            assert ring["style"] == "solid", (name, ring)
            assert ring["width"] >= 2, (name, ring)
            assert contrast(ring["colour"], ring["background"]) >= 3, (name, ring)

        # The filter's placeholder, and red numbers on a highlighted row (the row that
        # changed, as it starts to fade; the node whose view is open): 4.5:1 at least.
        card = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
        placeholder = page.eval_on_selector(
            "#filter", "e => getComputedStyle(e, '::placeholder').color"
        )
        assert contrast(placeholder, card) >= 4.5, (placeholder, card)
        highlight = page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--accent-soft')"
        )
        for cell in ("errors.errors-many", "p50"):
            colour = page.eval_on_selector(
                f'#nodes-body tr[data-node="{LONG_NODE}"] td.{cell}',
                "e => getComputedStyle(e).color",
            )
            assert contrast(colour, highlight) >= 4.5, (cell, colour, highlight)
            assert contrast(colour, card) >= 4.5, (cell, colour, card)


def test_a_sortable_header_is_a_button_the_keyboard_reaches_and_presses(
    browser: Browser, metrics: Metrics
) -> None:
    for node, hits in (("Home", 5), ("Blog", 2), ("Post", 9), ("About", 1)):
        for _ in range(hits):
            metrics.hit(node, caller=None)
    with (
        serve(mounted(metrics)) as base,
        opened(browser, f"{base}/pymetrix/", DESKTOP) as page,
    ):
        wait_for_row(page, "Post", 9)
        header = page.locator("#nodes thead")
        # Each named by its column alone: the order is the th's aria-sort.
        for name in ("Node", "Hits", "p50", "p95", "Errors"):
            assert header.get_by_role("button", name=name, exact=True).count() == 1
        # From the filter, Tab reaches the first column's button, then the second's.
        page.focus("#filter")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert (
            page.evaluate(
                "document.activeElement.closest('th').dataset.key + ':'"
                " + document.activeElement.tagName"
            )
            == "hits:BUTTON"
        )
        page.keyboard.press("Enter")
        assert [name for name, _ in table(page)] == ["About", "Blog", "Home", "Post"]
        assert page.get_attribute('#nodes th[data-key="hits"]', "aria-sort") == "ascending"
        page.keyboard.press("Space")
        assert [name for name, _ in table(page)] == ["Post", "Home", "Blog", "About"]
        assert page.get_attribute('#nodes th[data-key="hits"]', "aria-sort") == "descending"
        # Shift+Tab: the node names' column, sorted by name.
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")
        assert [name for name, _ in table(page)] == ["About", "Blog", "Home", "Post"]
        assert page.get_attribute('#nodes th[data-key="id"]', "aria-sort") == "ascending"
        assert page.get_attribute('#nodes th[data-key="hits"]', "aria-sort") is None


# Run before the page's scripts: every change to the live indicator's words, counted.
COUNT_LIVE_CHANGES_JS = """window.__liveChanges = [];
document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(records => records.forEach(
        r => window.__liveChanges.push(document.getElementById('live-text').textContent)))
        .observe(document.getElementById('live'), {subtree: true, childList: true,
                                                    characterData: true}); });"""


def test_the_live_indicator_is_a_polite_status_that_speaks_only_when_it_changes(
    browser: Browser, metrics: Metrics
) -> None:
    metrics.hit("Home", caller=None)
    with serve(mounted(metrics)) as base:
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            page.add_init_script(COUNT_LIVE_CHANGES_JS)
            page.goto(f"{base}/pymetrix/")
            wait_for_row(page, "Home", 1)
            wait_until_live(page)
            live = page.get_by_role("status")
            assert live.get_attribute("aria-live") == "polite"
            assert live.inner_text().strip() == "Live"
            assert page.evaluate("window.__liveChanges") == ["Live"]
            # Live events keep coming; the words stay, and nothing is announced.
            for hits in range(2, 5):
                metrics.hit("Home", caller=None)
                wait_for_row(page, "Home", hits)
            assert page.evaluate("window.__liveChanges") == ["Live"]
        finally:
            context.close()


# A "Show as table" table as shown: its header, then its rows, as text.
DATA_TABLE_JS = """id => Array.from(document.querySelectorAll('#' + id + ' tr')).map(
    tr => Array.from(tr.children).map(c => c.textContent))"""


def test_each_chart_shows_as_a_table_with_its_numbers(
    browser: Browser, busy_metrics: Metrics
) -> None:
    with (
        serve(mounted(busy_metrics)) as base,
        opened(browser, f"{base}/pymetrix/", DESKTOP) as page,
    ):
        wait_for_row(page, LONG_NODE, 50)
        page.wait_for_selector("#chart g.bucket", state="attached")
        toggle = page.get_by_role("button", name="Show as table").first
        assert toggle.get_attribute("aria-expanded") == "false"
        assert page.is_hidden("#chart-table")
        toggle.click()
        assert page.get_attribute("#chart-table-toggle", "aria-expanded") == "true"
        assert page.text_content("#chart-table-toggle") == "Hide table"
        head, *rows = page.evaluate(DATA_TABLE_JS, "chart-table")
        legend = page.eval_on_selector_all(
            "#chart-legend button", "bs => bs.map(b => b.dataset.node)"
        )
        assert head == ["Time", *legend, "Total"]
        # Each row is a bar of the chart: its time as the tooltips write it, each node's
        # hits, the total.
        bars = page.evaluate(
            """() => Array.from(document.querySelectorAll('#chart g.bucket')).map(g => [
                g.querySelector('title').textContent.split(': ')[0],
                Object.fromEntries(Array.from(g.querySelectorAll('rect.bar')).map(
                    r => [r.dataset.node, Number(r.dataset.hits)])),
                Number(g.dataset.total)])"""
        )
        assert len(rows) == len(bars) > 5
        for row, (when, hits, total) in zip(rows, bars, strict=True):
            assert row == [when, *(f"{hits.get(node, 0):,}" for node in legend), f"{total:,}"]
        assert sum(int(row[-1].replace(",", "")) for row in rows) == sum(
            row["hits"] for row in busy_metrics.aggregate()
        )

        # The flow's table: every link, the busiest first.
        page.click("#flow-table-toggle")
        head, *rows = page.evaluate(DATA_TABLE_JS, "flow-table")
        assert head == ["Came from", "Page", "Hits"]
        flow = busy_metrics.flow()
        assert sorted(tuple(row) for row in rows) == sorted(
            (START if e["caller"] is None else e["caller"], e["id"], f"{e['hits']:,}") for e in flow
        )
        shown = [int(hits.replace(",", "")) for *_, hits in rows]
        assert shown == sorted(shown, reverse=True)

        # A node's table: its hits, errors and percentiles per period.
        page.get_by_role("button", name=LONG_NODE, exact=True).first.click()
        wait_for_node_view(page, LONG_NODE)
        page.click("#node-table-toggle")
        head, *rows = page.evaluate(DATA_TABLE_JS, "node-table")
        assert head == ["Time", "Hits", "Errors (5xx)", "p50", "p95", "p99"]
        since, step = chart_scale(page, "#node-hits")
        series: Any = busy_metrics.series(since=since, step=step, ids=[LONG_NODE])
        (entry,) = series["nodes"]
        first = datetime.fromisoformat(since)
        when = page.evaluate(
            "ms => Array.from(ms, m => { const d = new Date(m); const p = n => String(n)"
            ".padStart(2, '0'); return `${p(d.getHours())}:${p(d.getMinutes())}:"
            "${p(d.getSeconds())}`; })",
            [
                (first + timedelta(seconds=i * step)).timestamp() * 1000
                for i in range(len(entry["hits"]))
            ],
        )
        expected = [
            [when[i], f"{hits:,}", f"{entry['errors'][i]:,}"]
            + [f"{entry[p][i] * 1000:.1f} ms" for p in ("p50", "p95", "p99")]
            for i, hits in enumerate(entry["hits"])
            if hits
        ]
        assert rows == expected
        assert sum(int(row[1]) for row in rows) == 50
        assert sum(int(row[2]) for row in rows) == 9
        # Hidden again: the chart alone.
        page.click("#node-table-toggle")
        assert page.is_hidden("#node-table")
        assert page.text_content("#node-table-toggle") == "Show as table"


# Run before the page's scripts: every layout shift, as Chromium reports it.
RECORD_SHIFTS_JS = """window.__shifts = [];
new PerformanceObserver(list => list.getEntries().forEach(e => {
    if (!e.hadRecentInput) window.__shifts.push([e.value, e.sources.map(s => {
        const n = s.node; return n ? (n.id || n.className || n.nodeName) : '?'; })]);
})).observe({type: 'layout-shift', buffered: true});"""


@pytest.mark.parametrize("size", SIZES)
def test_the_page_holds_still_while_its_data_arrive(
    browser: Browser, busy_metrics: Metrics, size: str
) -> None:
    with serve(mounted(busy_metrics)) as base:
        context = browser.new_context(viewport=SIZES[size])
        try:
            page = context.new_page()
            page.add_init_script(RECORD_SHIFTS_JS)
            page.goto(f"{base}/pymetrix/")
            wait_for_row(page, LONG_NODE, 50)
            wait_until_live(page)
            page.wait_for_timeout(1500)
            shifts = page.evaluate("window.__shifts")
        finally:
            context.close()
    # Every shift added up: more than the cumulative layout shift, which counts the
    # worst burst of them only.
    total = sum(value for value, _ in shifts)
    print(f"\n{size}: layout shift {total:.4f} {shifts}")
    assert total < 0.01, shifts
