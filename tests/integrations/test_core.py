"""The framework-agnostic core: node ids, exclusions, referers and the visitor table."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from pymetrix import InvalidArgument, ManualClock, Metrics
from pymetrix.integrations import UNMATCHED, RouteInfo
from pymetrix.integrations._core import (
    Recorder,
    RequestHeaders,
    VisitorTable,
    parse_cookie,
    same_origin_path,
)
from pymetrix.integrations._options import compile_exclude

from ._helpers import edges, hits

MINUTE_NS = 60 * 10**9


def no_route(path: str) -> tuple[str | None, str | None]:
    return None, None


def items_route(path: str) -> tuple[str | None, str | None]:
    if re.fullmatch(r"/items/\d+", path):
        return "/items/{item_id}", "item"
    return None, None


def test_node_is_the_route_template_and_unmatched_requests_share_one_node(
    metrics: Metrics,
) -> None:
    recorder = Recorder(metrics)
    assert recorder.node("GET", "/items/1", "/items/{item_id}") == "/items/{item_id}"
    assert recorder.node("GET", "/random/123", None) == UNMATCHED
    assert recorder.node("POST", "/other", None) == UNMATCHED


def test_method_option_prefixes_the_template(metrics: Metrics) -> None:
    recorder = Recorder(metrics, method=True)
    assert recorder.node("GET", "/items/1", "/items/{item_id}") == "GET /items/{item_id}"
    assert recorder.node("GET", "/x", None) == UNMATCHED
    assert recorder.node("X-RANDOM-1", "/items/1", "/items/{item_id}") == "OTHER /items/{item_id}"


def test_name_function_overrides_the_node_and_none_keeps_the_default(metrics: Metrics) -> None:
    seen: list[RouteInfo] = []

    def name(info: RouteInfo) -> str | None:
        seen.append(info)
        return f"view:{info.view}" if info.view else None

    recorder = Recorder(metrics, name=name)
    assert recorder.node("GET", "/items/1", "/items/{item_id}", "item") == "view:item"
    assert recorder.node("GET", "/x", "/x") == "/x"
    assert seen[0] == RouteInfo("GET", "/items/1", "/items/{item_id}", "item")


def test_name_function_that_raises_is_logged_and_the_default_is_used(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(info: RouteInfo) -> str:
        raise KeyError("oops")

    recorder = Recorder(metrics, name=broken)
    assert recorder.node("GET", "/a", "/a") == "/a"
    assert "name= function failed" in caplog.text


def test_exclude_globs_and_regexes_match_whole_paths() -> None:
    pattern = compile_exclude(["/health", "/stats/*", re.compile(r"/internal/\d+$")])
    assert pattern is not None
    assert pattern.match("/health")
    assert not pattern.match("/healthz")
    assert pattern.match("/stats/aggregate")
    assert pattern.match("/internal/42")
    assert not pattern.match("/items/1")
    assert compile_exclude(None) is None
    assert compile_exclude([]) is None


def test_exclude_regexes_keep_their_own_flags() -> None:
    pattern = compile_exclude(["/exact", re.compile(r"/admin/", re.IGNORECASE)])
    assert pattern is not None
    assert pattern.match("/ADMIN/users")
    assert not pattern.match("/EXACT")


def test_exclude_rejects_what_is_not_a_pattern() -> None:
    with pytest.raises(InvalidArgument, match="exclude"):
        compile_exclude([42])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("referer", "host", "scheme", "expected"),
    [
        ("http://shop.test/items/1?q=2", "shop.test", "http", "/items/1"),
        ("https://shop.test/", "shop.test", "http", "/"),
        ("https://shop.test:443/a", "shop.test", "https", "/a"),
        ("http://SHOP.test:80/a", "shop.test:80", "http", "/a"),
        ("http://shop.test:8000/a", "shop.test:8000", "http", "/a"),
        ("http://shop.test:8001/a", "shop.test:8000", "http", None),
        ("http://evil.test/items/1", "shop.test", "http", None),
        ("javascript:alert(1)", "shop.test", "http", None),
        ("/items/1", "shop.test", "http", None),
        ("http://shop.test:99999/a", "shop.test", "http", None),
        ("http://[::1/a", "shop.test", "http", None),
        ("", "shop.test", "http", None),
    ],
)
def test_same_origin_path_accepts_only_the_request_host(
    referer: str, host: str, scheme: str, expected: str | None
) -> None:
    assert same_origin_path(referer, host, scheme) == expected


def test_referer_caller_maps_only_onto_known_routes(metrics: Metrics) -> None:
    recorder = Recorder(metrics)
    caller = recorder.referer_caller("http://shop.test/items/7", "shop.test", "http", items_route)
    assert caller == "/items/{item_id}"
    forged = "http://shop.test/<script>alert(1)</script>"
    assert recorder.referer_caller(forged, "shop.test", "http", items_route) is None
    cross = "http://evil.test/items/7"
    assert recorder.referer_caller(cross, "shop.test", "http", items_route) is None


def test_referer_to_an_excluded_path_gives_no_caller(metrics: Metrics) -> None:
    recorder = Recorder(metrics, exclude="/items/*")
    referer = "http://shop.test/items/7"
    assert recorder.referer_caller(referer, "shop.test", "http", items_route) is None


def test_referer_cache_stays_bounded(metrics: Metrics) -> None:
    recorder = Recorder(metrics)
    for n in range(5000):
        recorder.referer_caller(f"http://s.test/p/{n}", "s.test", "http", no_route)
    assert len(recorder._referers) <= 1024


def test_visitor_table_forgets_after_the_window_and_beyond_its_size() -> None:
    table = VisitorTable(window_ns=30 * MINUTE_NS, max_visitors=3)
    now = 10 * MINUTE_NS
    keys = [table.key([f"visitor{n}"], now) for n in range(5)]
    for n, key in enumerate(keys):
        table.remember(key, f"/page/{n}", now)
    assert len(table) == 3
    assert table.previous(keys[0], now) is None
    assert table.previous(keys[4], now) == "/page/4"
    assert table.previous(keys[4], now + 30 * MINUTE_NS) == "/page/4"
    assert table.previous(keys[4], now + 31 * MINUTE_NS) is None


def test_visitor_hash_salt_changes_every_day() -> None:
    table = VisitorTable(window_ns=30 * MINUTE_NS, max_visitors=10)
    day = 86_400 * 10**9
    first = table.key(["10.0.0.1", "Firefox"], 5 * day + 1)
    same_day = table.key(["10.0.0.1", "Firefox"], 6 * day - 1)
    next_day = table.key(["10.0.0.1", "Firefox"], 6 * day)
    assert first == same_day
    assert next_day != first
    assert b"10.0.0.1" not in first


def test_parse_cookie_finds_one_cookie_among_many() -> None:
    assert parse_cookie("a=1; pymetrix_vid=abc; b=2", "pymetrix_vid") == "abc"
    assert parse_cookie("a=1", "pymetrix_vid") is None
    assert parse_cookie('pymetrix_vid="q"', "pymetrix_vid") == "q"


def test_visitor_cookie_flow_follows_the_visitor_for_thirty_minutes() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0))
    with Metrics("web", clock=clock) as metrics:
        recorder = Recorder(metrics, visitor="cookie", referer=False)

        def visit(path: str, cookie: str | None) -> str | None:
            headers = RequestHeaders("s.test", "http", None, cookie, "10.0.0.1", "UA")
            begun = recorder.begin("GET", path, path, None, lambda: headers, no_route)
            assert begun is not None
            recorder.finish(begun, 200)
            return begun.cookie

        cookie = visit("/a", None)
        assert cookie is not None
        assert visit("/b", cookie) == cookie
        clock.advance(31 * 60)
        visit("/c", cookie)
        assert edges(metrics) == {(None, "/a"): 1, ("/a", "/b"): 1, (None, "/c"): 1}


def test_forged_visitor_cookie_is_replaced_by_a_fresh_id(metrics: Metrics) -> None:
    recorder = Recorder(metrics, visitor="cookie")
    key, cookie = recorder.visitor_key("x" * 5000, None, None)
    assert cookie is not None
    assert len(cookie) == 22
    assert key is not None


def test_hash_visitor_key_sets_no_cookie_and_stores_no_ip(metrics: Metrics) -> None:
    recorder = Recorder(metrics, visitor="hash")
    key, cookie = recorder.visitor_key(None, "203.0.113.9", "Firefox")
    assert cookie is None
    assert key is not None
    assert b"203.0.113.9" not in key
    assert recorder.visitor_key(None, "203.0.113.9", "Firefox")[0] == key
    assert recorder.visitor_key(None, "203.0.113.10", "Firefox")[0] != key


def test_begin_records_nothing_until_finish(metrics: Metrics) -> None:
    recorder = Recorder(metrics, referer=False)
    begun = recorder.begin("GET", "/a", "/a", None, lambda: pytest.fail("headers read"), no_route)
    assert begun is not None
    assert hits(metrics) == {}
    recorder.finish(begun, 204)
    assert hits(metrics) == {"/a": 1}
