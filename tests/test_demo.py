"""``pymetrix demo`` end to end: a real server, real visitors over HTTP, real dashboard."""

from __future__ import annotations

import html
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pymetrix import InvalidArgument
from pymetrix.demo import ENTRIES, PAGES, run
from pymetrix.testing import wait_until

CLI = "from pymetrix.cli import main; raise SystemExit(main())"
# The site's route templates, and a regex for each, written here rather than taken from
# the site's router: the test checks what the middleware made of the paths it saw.
TEMPLATES = set(PAGES)
PATTERNS = {route: re.compile(re.sub(r"\{[a-z_]+\}", "[^/]+", route)) for route in TEMPLATES}
ENTRY_ROUTES = {route for route, _ in ENTRIES}
# Every caller -> node a visitor can produce by following the site's links.
FOLLOWED = {(route, target) for route, page in PAGES.items() for target, _ in page.next}
HREF = re.compile(r'<a href="([^"]*)"')


@dataclass
class Demo:
    """A ``pymetrix demo`` process, with the lines it printed so far."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def wait_for_line(self, prefix: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if line.strip().startswith(prefix):
                    return line.strip()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line starting with {prefix!r} in {self.seen!r}")
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue

    def url(self, label: str) -> str:
        return self.wait_for_line(label).split()[-1]


@contextmanager
def demo(*args: str, cwd: Path | None = None) -> Iterator[Demo]:
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "demo", "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Demo(process)
    assert process.stdout is not None

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(10)
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["content-type"], response.read().decode()


def api(base: str, data: str) -> Any:
    status, content_type, body = get(f"{base}api/{data}")
    assert status == 200
    assert content_type.startswith("application/json")
    envelope = json.loads(body)
    assert envelope["response"] == 200
    return envelope["message"]


def template_of(path: str) -> str | None:
    """The route template ``path`` matches, or None."""
    found = [route for route, pattern in PATTERNS.items() if pattern.fullmatch(path)]
    assert len(found) <= 1, f"{path} matches several routes: {found}"
    return found[0] if found else None


def status_of(url: str) -> int:
    """The status ``url`` answers with, error statuses included."""
    try:
        return get(url)[0]
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def read_page(url: str, attempts: int = 100) -> str:
    """A page of the site; its deliberate failures (status 500) are retried."""
    for _ in range(attempts):
        try:
            return get(url)[2]
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code != 500:
                raise
    raise AssertionError(f"{url} failed {attempts} times")


def test_demo_serves_site_and_dashboard_records_visitor_flows_and_stops_after_duration() -> None:
    with demo("--store", "memory://", "--duration", "8") as running:
        dashboard = running.url("dashboard:")
        site = running.url("sample site:")
        assert dashboard.endswith("/pymetrix/")
        assert running.url("store:") == "memory://"

        status, content_type, page = get(dashboard)
        assert status == 200
        assert content_type.startswith("text/html")
        assert 'src="static/app.js"' in page
        assert get(dashboard + "static/app.js")[0] == 200
        # The bare mount point redirects to itself with a slash, where relative URLs work.
        status, _, again = get(dashboard.rstrip("/"))
        assert (status, again) == (200, page)

        status, _, home = get(site)
        assert status == 200
        assert "<h1>Home</h1>" in home

        def followed_links() -> list[Any]:
            edges = api(dashboard, "flow")
            # Posts too: visitors reach them at several paths, all under one route.
            if not any(edge["id"] == "/blog/{slug}" for edge in edges):
                return []
            return [edge for edge in edges if edge["caller"] is not None]

        followed = wait_until(followed_links)
        edges = api(dashboard, "flow")
        recorded = {(edge["caller"], edge["id"]) for edge in edges}
        # Callers come from the Referer of the page visitors were on, resolved to its route:
        # only links the site has; no caller when a visit starts.
        assert {(caller, node) for caller, node in recorded if caller is not None} <= FOLLOWED
        assert {node for caller, node in recorded if caller is None} <= ENTRY_ROUTES
        assert all(edge["hits"] > 0 for edge in followed)

        aggregate = {row["id"]: row for row in api(dashboard, "aggregate?stats=1")}
        # Node ids are route templates, never the paths visitors asked for; the
        # dashboard's own requests are not page views.
        assert "/blog/{slug}" in aggregate
        assert set(aggregate) <= TEMPLATES
        assert all(row["p50"] is not None and row["p50"] > 0 for row in aggregate.values())
        # Every hit has one caller or none, so the flow into a node counts all its hits
        # (read a moment later, it may count more).
        later = api(dashboard, "flow")
        for name, row in aggregate.items():
            assert sum(edge["hits"] for edge in later if edge["id"] == name) >= row["hits"]

        assert running.process.wait(20) == 0
        stopped = running.wait_for_line("Stopped after")
        assert int(stopped.split()[2]) > 0
        assert running.process.stderr is not None
        # No warning, no traceback: shutting down with visitors mid-visit is normal.
        assert running.process.stderr.read() == ""


def test_demo_site_pages_link_to_the_routes_visitors_move_to() -> None:
    with demo("--store", "memory://", "--duration", "60") as running:
        site = running.url("sample site:").rstrip("/")
        links: set[tuple[str, str]] = set()
        for route, page in PAGES.items():
            for path, title in page.paths():
                body = read_page(site + path)
                assert f"<h1>{html.escape(title)}</h1>" in body
                for href in HREF.findall(body):
                    target = template_of(html.unescape(href))
                    if target is not None:
                        links.add((route, target))
        # The visitors' paths (FOLLOWED) are the links a reader of the pages can follow.
        assert links == FOLLOWED


def test_demo_records_failures_and_unknown_paths_by_route_in_sqlite_by_default(
    tmp_path: Path,
) -> None:
    with demo(cwd=tmp_path) as running:
        dashboard = running.url("dashboard:")
        site = running.url("sample site:").rstrip("/")
        assert running.url("store:") == "sqlite:///pymetrix-demo.db"
        assert (tmp_path / "pymetrix-demo.db").is_file()

        # Sign up fails now and then, on purpose: ask until it has failed a few times.
        statuses: list[int] = []
        while statuses.count(500) < 3 and len(statuses) < 500:
            statuses.append(status_of(site + "/signup"))
        assert set(statuses) <= {200, 500}
        failures = statuses.count(500)
        assert failures == 3
        # Paths the site has no page for: one bounded node for unrouted paths, and the
        # post route for an unknown post.
        assert status_of(site + "/no/such/page") == 404
        assert status_of(site + "/blog/no-such-post") == 404

        def recorded() -> dict[str, Any]:
            rows = {row["id"]: row for row in api(dashboard, "aggregate?stats=1")}
            done = (
                rows.get("/signup", {}).get("errors", 0) >= failures
                and "<unmatched>" in rows
                and "/blog/{slug}" in rows
            )
            return rows if done else {}

        rows = wait_until(recorded)
        assert set(rows) <= TEMPLATES | {"<unmatched>"}
        assert rows["<unmatched>"]["hits"] == 1
        assert rows["<unmatched>"]["errors"] == 0  # a 404 is not a server error

        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(15) == 0
        assert running.wait_for_line("Stopped after")
        assert running.process.stderr is not None
        assert running.process.stderr.read() == ""


def test_demo_stops_cleanly_on_ctrl_c() -> None:
    with demo("--store", "memory://") as running:
        dashboard = running.url("dashboard:")
        wait_until(lambda: api(dashboard, "aggregate"))
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(15) == 0
        assert running.wait_for_line("Stopped after")
        assert running.process.stderr is not None
        assert running.process.stderr.read() == ""


def test_demo_with_a_token_guards_the_dashboard_but_not_the_site() -> None:
    with demo("--store", "memory://", "--token", "demo-secret", "--duration", "30") as running:
        dashboard = running.url("dashboard:")
        assert dashboard.endswith("/pymetrix/?token=demo-secret")
        base = dashboard.split("?", 1)[0]
        with pytest.raises(urllib.error.HTTPError) as denied:
            get(base + "api/aggregate")
        assert denied.value.code == 401
        denied.value.close()
        assert get(dashboard)[0] == 200
        assert get(running.url("sample site:"))[0] == 200


def test_demo_run_refuses_an_unknown_store_url() -> None:
    with pytest.raises(InvalidArgument, match="store URL"):
        run("nosuch://x", port=0, duration=1)


def test_demo_run_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            run("memory://", port=port, duration=1)
