"""The dashboard's accessibility in real headless Chromium: axe-core's rules in both colour
schemes, on a desktop and a phone, with data and without; keyboard use, focus outlines,
the table behind each chart, and the layout holding still while data arrive.

axe-core is a test-time tool, installed by ``npm ci`` from the repository's
``package-lock.json`` (``make test`` runs it); nothing of it ships in the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from pymetrix import Metrics
from tests.web.test_dashboard_browser import (
    LONG_NODE,
    ROOT,
    SpreadClock,
    browse,
    mounted,
    serve,
    wait_for_node_view,
    wait_for_row,
    wait_until_live,
)

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
SCHEMES = ("light", "dark")

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
    browser: Browser, url: str, viewport: dict[str, int], scheme: str = "light"
) -> Iterator[Page]:
    """A new page at ``url`` in a context of that size and colour scheme; errors the page
    prints fail the test."""
    context = browser.new_context(viewport=viewport, color_scheme=scheme)  # type: ignore[arg-type]
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
            metrics.hit(LONG_NODE, caller="/products/{id}", duration=0.2, status=500 if i < 9 else 200)
        clock.stop()
        yield metrics


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_axe_finds_no_violation_in_the_overview_and_the_node_view(
    browser: Browser, busy_metrics: Metrics, size: str, scheme: str
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
        page.get_by_role("button", name="/blog", exact=True).first.click()
        wait_for_node_view(page, "/blog")
        page.wait_for_selector("#node-latency svg circle.point", state="attached")
        found["node view"] = violations(page)
    assert found == {"overview": [], "node view": []}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_axe_finds_no_violation_in_the_empty_states(
    browser: Browser, metrics: Metrics, size: str, scheme: str
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


def test_axe_is_installed_where_the_tests_look_for_it() -> None:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    wanted = package["devDependencies"]["axe-core"]
    assert lock["packages"]["node_modules/axe-core"]["version"] == wanted
    assert "axe.run" in axe_path().read_text(encoding="utf-8")
    assert Path(ROOT / ".gitignore").read_text(encoding="utf-8").count("node_modules/") == 1
