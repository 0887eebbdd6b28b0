"""The Django middleware on a real Django project, through Django's test client."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import include, path, re_path

from pymetrix import InvalidArgument, ManualClock, Metrics
from pymetrix.integrations import UNMATCHED

from ._helpers import details, edges, hits

MIDDLEWARE = ["pymetrix.integrations.django.PymetrixMiddleware"]


class ViewError(Exception):
    pass


observed: dict[str, Any] = {}
current: dict[str, Metrics] = {}


def post(request: HttpRequest, post_id: int) -> JsonResponse:
    return JsonResponse(current["metrics"].track("render")(lambda: {"post": post_id})())


async def lookup(item_id: int) -> dict[str, int]:
    return {"item": item_id}


async def async_item(request: HttpRequest, item_id: int) -> JsonResponse:
    return JsonResponse(await current["metrics"].track("lookup")(lookup)(item_id))


def archive(request: HttpRequest, year: str) -> HttpResponse:
    return HttpResponse(year)


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


def boom(request: HttpRequest) -> HttpResponse:
    raise ViewError("view failed")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        start = time.perf_counter()
        yield b"a,"
        yield b"b,"
        observed["hits_before_last_chunk"] = hits(current["metrics"]).get("/stream/", 0)
        observed["span"] = time.perf_counter() - start
        yield b"c"

    return StreamingHttpResponse(body())


blog_urls = [
    path("<int:post_id>/", post, name="post"),
    re_path(r"^archive/(?P<year>[0-9]{4})/$", archive, name="archive"),
]
urls = types.ModuleType("pymetrix_test_urls")
urls.urlpatterns = [  # type: ignore[attr-defined]
    path("", home, name="home"),
    path("health/", home),
    path("boom/", boom),
    path("stream/", stream),
    path("blog/", include(blog_urls)),
    path("async/<int:item_id>/", async_item),
]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=urls,
        # Only this module's tests run the middleware (see the fixture): others in the
        # same process share these settings.
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


@pytest.fixture
def configure(metrics: Metrics) -> Iterator[Any]:
    """Configure ``settings.PYMETRIX`` for one test: call it with the options."""
    overrides: list[Any] = []

    def apply(metrics: Metrics = metrics, **options: Any) -> Client:
        current["metrics"] = metrics
        override = override_settings(
            PYMETRIX={"metrics": metrics, **options}, ROOT_URLCONF=urls, MIDDLEWARE=MIDDLEWARE
        )
        override.enable()
        overrides.append(override)
        return Client()

    yield apply
    for override in reversed(overrides):
        override.disable()
    current.clear()


def test_each_request_is_one_hit_on_its_url_pattern(configure: Any, metrics: Metrics) -> None:
    client = configure()
    for post_id in (1, 2):
        assert client.get(f"/blog/{post_id}/").json() == {"post": post_id}
    assert client.get("/blog/archive/2024/").content == b"2024"
    assert client.get("/").content == b"home"
    assert hits(metrics) == {
        "render": 2,
        "/blog/<int:post_id>/": 2,
        "/blog/archive/(?P<year>[0-9]{4})/": 1,
        "/": 1,
    }
    assert edges(metrics)[("/blog/<int:post_id>/", "render")] == 2
    ((caller, duration, status), *_) = details(metrics, "/blog/<int:post_id>/")
    assert (caller, status) == (None, 200)
    assert duration is not None


def test_unmatched_requests_count_under_one_node(configure: Any, metrics: Metrics) -> None:
    client = configure()
    for n in range(20):
        assert client.get(f"/nothing/{n}/").status_code == 404
    assert hits(metrics) == {UNMATCHED: 20}


def test_method_option_and_url_names_through_the_name_function(
    configure: Any, metrics: Metrics
) -> None:
    client = configure(method=True, name=lambda info: info.view)
    client.get("/blog/1/")
    client.get("/health/")
    assert hits(metrics) == {"render": 1, "post": 1, "GET /health/": 1}


def test_excluded_paths_are_not_recorded(configure: Any, metrics: Metrics) -> None:
    client = configure(exclude=["/health/"])
    client.get("/health/")
    client.get("/")
    assert hits(metrics) == {"/": 1}


def test_same_origin_referer_becomes_the_caller_pattern(configure: Any, metrics: Metrics) -> None:
    client = configure()
    client.get("/", HTTP_REFERER="http://testserver/blog/3/")
    client.get("/", HTTP_REFERER="http://evil.test/blog/3/")
    client.get("/", HTTP_REFERER="http://testserver/blog/<script>/")
    assert edges(metrics) == {("/blog/<int:post_id>/", "/"): 1, (None, "/"): 2}
    assert "script" not in repr(metrics.time_series())


def test_visitor_cookie_links_a_visitors_requests(configure: Any) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0))
    with Metrics("web", clock=clock) as metrics:
        client = configure(metrics, visitor="cookie", referer=False)
        first = client.get("/")
        cookie = first.cookies["pymetrix_vid"]
        assert cookie["httponly"]
        assert cookie["max-age"] == 1800
        client.get("/health/")
        clock.advance(31 * 60)
        client.get("/health/")
        flow = edges(metrics)
    assert flow == {(None, "/"): 1, ("/", "/health/"): 1, (None, "/health/"): 1}


def test_exception_in_view_is_recorded_as_500_and_reraised_unchanged(
    configure: Any, metrics: Metrics
) -> None:
    client = configure()
    with pytest.raises(ViewError, match="view failed"):
        client.get("/boom/")
    assert [status for _, _, status in details(metrics, "/boom/")] == [500]


def test_streaming_response_is_timed_to_its_last_byte(configure: Any, metrics: Metrics) -> None:
    client = configure()
    response = client.get("/stream/")
    assert b"".join(response.streaming_content) == b"a,b,c"
    response.close()
    assert observed["hits_before_last_chunk"] == 0
    ((_, duration, status),) = details(metrics, "/stream/")
    assert status == 200
    assert duration is not None
    assert duration >= observed["span"]


def test_missing_metrics_setting_is_a_clear_configuration_error(configure: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from pymetrix.integrations.django import PymetrixMiddleware

    with override_settings(PYMETRIX={}), pytest.raises(ImproperlyConfigured, match="metrics"):
        PymetrixMiddleware(lambda request: HttpResponse())


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"methd": True}, r"settings.PYMETRIX option 'methd': expected one of method, name"),
        ({"visitor": "ip"}, r"settings.PYMETRIX visitor 'ip': expected None, 'cookie' or 'hash'"),
        ({"exclude": [42]}, r"settings.PYMETRIX exclude \[42\]"),
    ],
)
def test_invalid_options_in_settings_are_configuration_errors_naming_the_key(
    metrics: Metrics, setting: dict[str, Any], message: str
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from pymetrix.integrations.django import InvalidSetting, PymetrixMiddleware, PymetrixSettings

    config: PymetrixSettings = {"metrics": metrics, **setting}  # type: ignore[typeddict-item]
    with override_settings(PYMETRIX=config), pytest.raises(InvalidSetting, match=message) as raised:
        PymetrixMiddleware(lambda request: HttpResponse())
    assert isinstance(raised.value, ImproperlyConfigured)
    assert isinstance(raised.value, InvalidArgument)


def test_settings_typed_as_pymetrix_settings_configure_the_middleware(
    configure: Any, metrics: Metrics
) -> None:
    from pymetrix.integrations.django import PymetrixMiddleware, PymetrixSettings

    config: PymetrixSettings = {"metrics": metrics, "method": True, "exclude": ["/health/"]}
    with override_settings(PYMETRIX=config):
        middleware = PymetrixMiddleware(lambda request: HttpResponse())
    assert middleware.recorder.method
    assert middleware.recorder.excluded("/health/")


def test_async_views_under_the_async_handler_are_recorded(configure: Any, metrics: Metrics) -> None:
    configure()

    async def visit() -> tuple[int, int]:
        client = AsyncClient()
        found = await client.get("/async/5/", headers={"referer": "http://testserver/blog/2/"})
        missing = await client.get("/nothing/")
        return found.status_code, missing.status_code

    assert asyncio.run(visit()) == (200, 404)
    assert hits(metrics) == {"lookup": 1, "/async/<int:item_id>/": 1, UNMATCHED: 1}
    flow = edges(metrics)
    assert flow[("/async/<int:item_id>/", "lookup")] == 1
    assert flow[("/blog/<int:post_id>/", "/async/<int:item_id>/")] == 1
