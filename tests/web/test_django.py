"""The stats app included in a Django project's URLconf."""

from __future__ import annotations

import gzip
import json
import sys
import types
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import clear_url_caches, include, path

from pymetrix import Metrics
from pymetrix.store import MemoryStore
from pymetrix.web.django import stats_urls

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="pymetrix-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        ROOT_URLCONF="pymetrix_test_urls",
    )
    django.setup()


@pytest.fixture
def client(metrics: Metrics) -> Iterator[Client]:
    urls = types.ModuleType("pymetrix_test_urls_web")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("pymetrix/", include(stats_urls(metrics, token="t", heartbeat=0.05)))
    ]
    sys.modules[urls.__name__] = urls
    clear_url_caches()
    try:
        with override_settings(ROOT_URLCONF=urls.__name__):
            yield Client(REMOTE_ADDR="203.0.113.9")
    finally:
        del sys.modules[urls.__name__]
        clear_url_caches()


AUTH = {"HTTP_AUTHORIZATION": "Bearer t"}


def test_django_include_serves_the_api(metrics: Metrics, client: Client) -> None:
    metrics.hit("Home")
    reply = client.get("/pymetrix/api/aggregate", **AUTH)  # type: ignore[arg-type]
    assert reply.status_code == 200
    assert reply["Content-Type"] == "application/json"
    assert json.loads(reply.content) == {"message": [{"id": "Home", "hits": 1}], "response": 200}


def test_django_include_applies_the_token_and_error_statuses(client: Client) -> None:
    assert client.get("/pymetrix/api/aggregate").status_code == 401
    reply = client.get("/pymetrix/api/aggregate?since=never", **AUTH)  # type: ignore[arg-type]
    assert reply.status_code == 400
    assert json.loads(reply.content)["message"].startswith("invalid since 'never'")
    assert client.get("/pymetrix/elsewhere", **AUTH).status_code == 404  # type: ignore[arg-type]


def test_django_include_serves_the_dashboard_and_its_files(client: Client) -> None:
    page = client.get("/pymetrix/?token=t")
    assert page.status_code == 200
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert "Path=/pymetrix/" in page["Set-Cookie"]
    script = client.get("/pymetrix/static/app.js", **AUTH)  # type: ignore[arg-type]
    assert script["Content-Type"] == "text/javascript; charset=utf-8"


def test_django_sets_a_secure_cookie_over_https_and_stores_no_page_with_the_token(
    client: Client,
) -> None:
    for secure in (True, False):
        page = client.get("/pymetrix/?token=t", secure=secure)
        assert page.status_code == 200
        assert page["Set-Cookie"].endswith("; Secure") is secure
        assert page["Cache-Control"] == "no-store"


def test_django_stream_sends_events_and_closing_it_ends_the_subscription(
    metrics: Metrics, client: Client
) -> None:
    store = metrics.store
    assert isinstance(store, MemoryStore)
    response: Any = client.get("/pymetrix/api/stream", **AUTH)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"retry: 2000\n\n"
    metrics.hit("Home")
    event = next(chunks)
    while event.startswith(b":"):
        event = next(chunks)
    assert b'"id":"Home"' in event
    response.close()
    assert not store._waiters.callbacks


@pytest.fixture
def django_server(metrics: Metrics, serve_wsgi: Any) -> Iterator[Any]:
    """The stats app included in a Django project served by a real WSGI server."""
    urls = types.ModuleType("pymetrix_test_urls_served")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("pymetrix/", include(stats_urls(metrics, heartbeat=0.05)))
    ]
    sys.modules[urls.__name__] = urls
    clear_url_caches()
    try:
        with override_settings(ROOT_URLCONF=urls.__name__, ALLOWED_HOSTS=["127.0.0.1"]):
            yield serve_wsgi(WSGIHandler())
    finally:
        del sys.modules[urls.__name__]
        clear_url_caches()


@pytest.mark.parametrize(
    "where", ["api/aggregate?stats=1", "api/time_series", "", "static/app.js", "metrics"]
)
def test_django_sends_compressible_answers_gzipped_to_a_client_that_accepts_gzip(
    metrics: Metrics, django_server: Any, where: str
) -> None:
    for i in range(20):
        metrics.hit("Home", duration=0.01)
        metrics.hit("Blog", caller="Home", status=200 if i % 4 else 500)
    plain = django_server.get("/pymetrix/" + where)
    compressed = django_server.get("/pymetrix/" + where, {"Accept-Encoding": "gzip"})
    if where == "metrics":  # the first scrape read the hits: compare two of nothing new
        plain = django_server.get("/pymetrix/" + where)
    assert plain.status == compressed.status == 200
    assert "content-encoding" not in plain.headers
    assert compressed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in compressed.headers["vary"].lower()
    assert gzip.decompress(compressed.body) == plain.body
    assert len(compressed.body) < len(plain.body)


def test_django_streams_live_events_uncompressed(metrics: Metrics, django_server: Any) -> None:
    reader = django_server.stream("/pymetrix/api/stream", {"Accept-Encoding": "gzip"})
    try:
        assert reader.status == 200
        assert "content-encoding" not in reader.response.headers
        metrics.hit("Live")
        assert reader.next_data().json()["message"]["id"] == "Live"
    finally:
        reader.close()


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


@pytest.fixture
def recorded_client(metrics: Metrics) -> Iterator[Client]:
    """The stats app included in a project that runs the Pymetrix middleware."""
    urls = types.ModuleType("pymetrix_test_urls_recorded")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("", home),
        path("pymetrix/", include(stats_urls(metrics, token="t"))),
    ]
    sys.modules[urls.__name__] = urls
    clear_url_caches()
    try:
        with override_settings(
            ROOT_URLCONF=urls.__name__,
            MIDDLEWARE=[
                "pymetrix.integrations.django.PymetrixMiddleware",
                "django.middleware.common.CommonMiddleware",
            ],
            PYMETRIX={"metrics": metrics, "visitor": "cookie"},
        ):
            yield Client()
    finally:
        del sys.modules[urls.__name__]
        clear_url_caches()


def test_django_middleware_leaves_the_included_stats_app_out(
    metrics: Metrics, recorded_client: Client
) -> None:
    client = recorded_client
    assert client.get("/").status_code == 200
    assert client.get("/pymetrix/?token=t").status_code == 200
    for where in ("api/aggregate", "api/flow", "static/app.js", "nowhere"):
        reply = client.get("/pymetrix/" + where, **AUTH)  # type: ignore[arg-type]
        assert "pymetrix_vid" not in reply.cookies
    reply = client.get("/pymetrix/api/aggregate", **AUTH)  # type: ignore[arg-type]
    assert json.loads(reply.content)["message"] == [{"id": "/", "hits": 1}]


def test_django_a_referer_in_the_stats_app_names_no_caller(
    metrics: Metrics, recorded_client: Client
) -> None:
    recorded_client.get("/", HTTP_REFERER="http://testserver/pymetrix/api/flow")
    assert [(row["caller"], row["id"]) for row in metrics.flow()] == [(None, "/")]


def test_django_redirect_of_the_stats_mount_point_is_left_out(
    metrics: Metrics, recorded_client: Client
) -> None:
    reply = recorded_client.get("/pymetrix?token=t")
    assert reply.status_code == 301
    assert reply["Location"] == "/pymetrix/?token=t"
    assert recorded_client.get("/nowhere").status_code == 404
    assert {row["id"]: row["hits"] for row in metrics.aggregate()} == {"<unmatched>": 1}
