"""The framework-agnostic core: node ids, exclusions, referers, the visitor table and the
per-request lifecycle every adapter drives."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from pymetrix import InvalidArgument, ManualClock, Metrics
from pymetrix.integrations import UNMATCHED, Recorder, RequestHeaders, Route, RouteInfo
from pymetrix.integrations._core import VisitorTable, parse_cookie, same_origin_path
from pymetrix.integrations._options import compile_exclude

from ._helpers import details, edges, hits

MINUTE_NS = 60 * 10**9


def no_route(path: str) -> Route:
    return None, None


def items_route(path: str) -> Route:
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
            started = recorder.start("GET", path, lambda: (path, None), lambda: headers)
            assert started is not None
            started.finish(200)
            return started.cookie

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


def test_start_records_nothing_until_finish(metrics: Metrics) -> None:
    recorder = Recorder(metrics, referer=False)
    visit = recorder.start("GET", "/a", lambda: ("/a", None), lambda: pytest.fail("headers read"))
    assert visit is not None
    assert hits(metrics) == {}
    visit.finish(204)
    assert hits(metrics) == {"/a": 1}
    ((caller, duration, status),) = details(metrics, "/a")
    assert (caller, status) == (None, 204)
    assert duration is not None


def test_start_leaves_excluded_paths_alone_without_asking_the_router(metrics: Metrics) -> None:
    recorder = Recorder(metrics, exclude="/health")
    assert recorder.start("GET", "/health", lambda: pytest.fail("router asked")) is None
    assert hits(metrics) == {}


def test_a_failing_router_is_logged_and_start_gives_none(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Route:
        raise RuntimeError("router exploded")

    assert Recorder(metrics).start("GET", "/a", broken) is None
    assert "router exploded" in caplog.text


def test_within_a_visit_its_node_is_the_caller_of_hits_recorded_inside(metrics: Metrics) -> None:
    visit = Recorder(metrics).start("GET", "/items/1", lambda: ("/items/{item_id}", None))
    assert visit is not None
    with visit:
        assert metrics.current_caller == "/items/{item_id}"
        metrics.hit("load_item")
    assert metrics.current_caller is None
    visit.finish(200)
    assert edges(metrics) == {("/items/{item_id}", "load_item"): 1, (None, "/items/{item_id}"): 1}


def test_an_exception_leaving_a_visit_records_500_once_and_propagates(metrics: Metrics) -> None:
    visit = Recorder(metrics).start("GET", "/boom", lambda: ("/boom", None))
    assert visit is not None
    with pytest.raises(KeyError, match="view failed"), visit:
        raise KeyError("view failed")
    visit.finish(200)  # every later finish is a no-op: the request is recorded once
    assert [status for _, _, status in details(metrics, "/boom")] == [500]
    assert metrics.current_caller is None


def test_error_status_maps_an_escaping_exception_to_its_status(metrics: Metrics) -> None:
    class Forbidden(Exception):
        status_code = 403

    recorder = Recorder(metrics, error_status=lambda exc: getattr(exc, "status_code", 500))
    for error in (Forbidden(), ValueError()):
        visit = recorder.start("GET", "/x", lambda: ("/x", None))
        assert visit is not None
        with pytest.raises(type(error)), visit:
            raise error
    assert [status for _, _, status in details(metrics, "/x")] == [403, 500]


def test_a_base_exception_leaves_the_visit_for_the_adapter_to_finish(metrics: Metrics) -> None:
    visit = Recorder(metrics).start("GET", "/slow", lambda: ("/slow", None))
    assert visit is not None
    with pytest.raises(KeyboardInterrupt), visit:
        raise KeyboardInterrupt
    assert hits(metrics) == {}
    visit.finish(None)
    assert details(metrics, "/slow")[0][2] is None


def test_finish_untimed_records_no_duration(metrics: Metrics) -> None:
    visit = Recorder(metrics).start("GET", "/nowhere", lambda: (None, None))
    assert visit is not None
    visit.finish(404, timed=False)
    assert details(metrics, UNMATCHED) == [(None, None, 404)]


def test_finish_after_close_is_logged_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics("web")
    recorder = Recorder(metrics)
    visits = [recorder.start("GET", "/a", lambda: ("/a", None)) for _ in range(3)]
    metrics.close()
    for visit in visits:
        assert visit is not None
        visit.finish(200)
    assert caplog.text.count("came after close()") == 1
