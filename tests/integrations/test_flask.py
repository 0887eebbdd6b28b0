"""Flask through its test client, and the bare WSGI middleware."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Blueprint, Flask, Response
from flask.testing import FlaskClient

from pymetrix import ManualClock, Metrics
from pymetrix.integrations import UNMATCHED, RouteInfo
from pymetrix.integrations.flask import PymetrixFlask
from pymetrix.integrations.wsgi import PymetrixWSGIMiddleware

from ._helpers import details, edges, hits


class ViewError(Exception):
    pass


def make_app(metrics: Metrics, observed: dict[str, Any] | None = None, **options: Any) -> Flask:
    app = Flask(__name__)
    blog = Blueprint("blog", __name__, url_prefix="/blog")
    observed = {} if observed is None else observed

    @metrics.track("render")
    def render(post_id: int) -> dict[str, int]:
        return {"post": post_id}

    @blog.get("/<int:post_id>")
    def post(post_id: int) -> dict[str, int]:
        return render(post_id)

    @app.get("/")
    def home() -> str:
        return "home"

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/boom")
    def boom() -> str:
        raise ViewError("view failed")

    @app.get("/stream")
    def stream() -> Response:
        def body() -> Iterator[bytes]:
            start = time.perf_counter()
            yield b"a,"
            yield b"b,"
            observed["hits_before_last_chunk"] = hits(metrics).get("/stream", 0)
            observed["span"] = time.perf_counter() - start
            yield b"c"

        return Response(body(), mimetype="text/plain")

    app.register_blueprint(blog)
    PymetrixFlask(app, metrics=metrics, **options)
    return app


@pytest.fixture
def client(metrics: Metrics) -> FlaskClient:
    return make_app(metrics).test_client()


def get(client: FlaskClient, path: str, **kwargs: Any) -> int:
    """GET ``path`` and read the whole body, as a server would; returns the status."""
    with client.get(path, **kwargs) as response:
        response.get_data()
        return response.status_code


def test_each_request_is_one_hit_on_its_url_rule(client: FlaskClient, metrics: Metrics) -> None:
    for post_id in (1, 2, 3):
        assert get(client, f"/blog/{post_id}") == 200
    assert get(client, "/") == 200
    assert hits(metrics) == {"render": 3, "/blog/<int:post_id>": 3, "/": 1}
    ((caller, duration, status), *_) = details(metrics, "/blog/<int:post_id>")
    assert (caller, status) == (None, 200)
    assert duration is not None
    assert duration > 0


def test_tracked_functions_in_a_view_get_the_rule_as_caller(
    client: FlaskClient, metrics: Metrics
) -> None:
    get(client, "/blog/4")
    assert edges(metrics)[("/blog/<int:post_id>", "render")] == 1


def test_unmatched_requests_count_under_one_node(client: FlaskClient, metrics: Metrics) -> None:
    for n in range(30):
        assert get(client, f"/nothing/{n}") == 404
    assert get(client, "/blog/not-an-int") == 404
    assert hits(metrics) == {UNMATCHED: 31}


def test_method_option_and_name_function(metrics: Metrics) -> None:
    def name(info: RouteInfo) -> str | None:
        return "front page" if info.view == "home" else None

    client = make_app(metrics, method=True, name=name).test_client()
    get(client, "/")
    get(client, "/blog/1")
    assert hits(metrics) == {"front page": 1, "render": 1, "GET /blog/<int:post_id>": 1}


def test_excluded_paths_are_not_recorded(metrics: Metrics) -> None:
    client = make_app(metrics, exclude=["/health"]).test_client()
    assert get(client, "/health") == 200
    get(client, "/")
    assert hits(metrics) == {"/": 1}


def test_same_origin_referer_becomes_the_caller_rule(client: FlaskClient, metrics: Metrics) -> None:
    get(client, "/", headers={"Referer": "http://localhost/blog/7"})
    get(client, "/", headers={"Referer": "http://elsewhere.test/blog/7"})
    get(client, "/", headers={"Referer": "http://localhost/blog/<script>"})
    get(client, "/", headers={"Referer": "http://localhost:abc/"})
    assert edges(metrics) == {("/blog/<int:post_id>", "/"): 1, (None, "/"): 3}
    assert "script" not in repr(metrics.time_series())


def test_visitor_cookie_links_a_visitors_requests_within_thirty_minutes() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0))
    with Metrics("web", clock=clock) as metrics:
        client = make_app(metrics, visitor="cookie", referer=False).test_client()
        with client.get("/") as first:
            assert first.headers["Set-Cookie"].startswith("pymetrix_vid=")
        get(client, "/blog/1")
        clock.advance(31 * 60)
        get(client, "/blog/2")
        flow = edges(metrics)
    assert flow == {
        (None, "/"): 1,
        ("/", "/blog/<int:post_id>"): 1,
        ("/blog/<int:post_id>", "render"): 2,
        (None, "/blog/<int:post_id>"): 1,
    }


def test_visitor_hash_links_requests_by_ip_and_user_agent(metrics: Metrics) -> None:
    client = make_app(metrics, visitor="hash", referer=False).test_client()
    get(client, "/", headers={"User-Agent": "Firefox"})
    get(client, "/blog/1", headers={"User-Agent": "Firefox"})
    get(client, "/blog/2", headers={"User-Agent": "Chrome"})
    flow = edges(metrics)
    assert flow[("/", "/blog/<int:post_id>")] == 1
    assert flow[(None, "/blog/<int:post_id>")] == 1


def test_exception_in_view_is_recorded_as_500_and_reraised_unchanged(metrics: Metrics) -> None:
    app = make_app(metrics)
    app.testing = True
    with pytest.raises(ViewError, match="view failed"):
        app.test_client().get("/boom")
    assert [status for _, _, status in details(metrics, "/boom")] == [500]


def test_exception_in_view_gives_the_client_a_500(client: FlaskClient, metrics: Metrics) -> None:
    assert get(client, "/boom") == 500
    assert [status for _, _, status in details(metrics, "/boom")] == [500]


def test_streaming_response_is_timed_to_its_last_byte(metrics: Metrics) -> None:
    observed: dict[str, Any] = {}
    client = make_app(metrics, observed).test_client()
    with client.get("/stream") as response:
        assert hits(metrics) == {}
        assert response.get_data() == b"a,b,c"
    assert observed["hits_before_last_chunk"] == 0
    ((_, duration, status),) = details(metrics, "/stream")
    assert status == 200
    assert duration is not None
    assert duration >= observed["span"]


def test_failure_inside_pymetrix_is_logged_and_the_request_proceeds(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fine"]

    def broken(environ: dict[str, Any]) -> tuple[str | None, str | None]:
        raise RuntimeError("router exploded")

    wrapped = PymetrixWSGIMiddleware(app, metrics=metrics, route=broken)
    statuses: list[str] = []
    body = wrapped({"PATH_INFO": "/x"}, lambda status, headers: statuses.append(status))
    assert list(body) == [b"fine"]
    assert statuses == ["200 OK"]
    assert "router exploded" in caplog.text
    assert hits(metrics) == {}


def test_bare_wsgi_middleware_records_on_close_with_its_route_function(metrics: Metrics) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("201 Created", [])
        return Body()

    def route(environ: dict[str, Any]) -> tuple[str | None, str | None]:
        path = environ["PATH_INFO"]
        return ("/things/{id}", None) if path.startswith("/things/") else (None, None)

    wrapped = PymetrixWSGIMiddleware(app, metrics=metrics, route=route)
    environ = {"PATH_INFO": "/things/1", "REQUEST_METHOD": "POST", "HTTP_HOST": "h"}
    body = wrapped(environ, lambda status, headers: None)
    assert hits(metrics) == {}
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
    referred = {"PATH_INFO": "/other", "HTTP_HOST": "h", "HTTP_REFERER": "http://h/things/9"}
    list(wrapped(referred, lambda status, headers: None))
    assert edges(metrics) == {(None, "/things/{id}"): 1, ("/things/{id}", UNMATCHED): 1}
    assert [status for _, _, status in details(metrics, "/things/{id}")] == [201]
