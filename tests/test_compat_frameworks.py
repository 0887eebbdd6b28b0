"""The original README's framework examples, run unchanged on the real frameworks."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Dict  # noqa: UP035 - as the original example wrote it

import django
import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import clear_url_caches, path

from pymetrix import endpoints, flow, metrics

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="pymetrix-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        ROOT_URLCONF="pymetrix_test_urls_compat",
    )
    django.setup()


def test_original_fastapi_example_counts_and_serves_the_aggregate() -> None:
    from fastapi import FastAPI, status
    from fastapi.responses import JSONResponse
    from fastapi.testclient import TestClient

    app = FastAPI()
    metricman = metrics.Metrics(loc="Test")

    @app.get("/home", status_code=status.HTTP_200_OK, response_class=JSONResponse)
    async def home() -> dict[str, object]:
        node1: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/home", id=home), name="Home"
        )
        metricman.add_to_analytics(node1)
        return {"response": status.HTTP_200_OK, "message": "This is the home page"}

    @app.get("/blog", status_code=status.HTTP_200_OK, response_class=JSONResponse)
    async def blog() -> dict[str, object]:
        node5: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/blog", id=blog), name="Blog"
        )
        metricman.add_to_analytics(node5)
        return {"response": status.HTTP_200_OK, "message": "This is the blog page"}

    @app.get("/statistics", status_code=status.HTTP_200_OK, response_class=JSONResponse)
    async def get_statistics() -> dict[str, object]:
        return {"response": status.HTTP_200_OK, "message": metricman.aggregate()}

    with TestClient(app) as client:
        for url in ("/home", "/blog", "/home", "/home"):
            assert client.get(url).status_code == 200
        body = client.get("/statistics").json()
    assert body == {
        "response": 200,
        "message": [{"id": "Home", "hits": 3}, {"id": "Blog", "hits": 1}],
    }


# Litestar advises on the example's synchronous handlers; the example stays as written.
@pytest.mark.filterwarnings("ignore:Use of a synchronous callable")
def test_original_starlite_example_runs_on_litestar() -> None:
    from litestar import Litestar, get
    from litestar.testing import TestClient

    metricman = metrics.Metrics(loc="Test")

    @get(path="/home")
    def home() -> Dict:  # type: ignore[type-arg]  # noqa: UP006
        node1: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/home", id=home), name="Home"
        )
        metricman.add_to_analytics(node1)
        return {"response": 200, "message": "Home Page Works"}

    @get(path="/statistics")
    def statistics() -> Dict:  # type: ignore[type-arg]  # noqa: UP006
        return {"response": 200, "message": metricman.time_series()}

    app = Litestar(route_handlers=[home, statistics])
    with TestClient(app=app) as client:
        client.get("/home")
        client.get("/home")
        body = client.get("/statistics").json()
    message = body["message"]
    assert message["id"] == "Test"
    assert [(n["id"], n["hits"], len(n["callers"])) for n in message["nodes"]] == [("Home", 2, 2)]
    assert message["nodes"][0]["callers"][0]["caller"] is None


@pytest.fixture
def django_client() -> Iterator[tuple[Client, metrics.Metrics]]:
    from django.http import HttpResponse

    metricman = metrics.Metrics(loc="Test")  # Initialize the Pymetrix Metrics object

    def blog(request: object) -> HttpResponse:
        node2: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/blog", id=blog), name="Blog"
        )
        metricman.add_to_analytics(
            node2
        )  # Add the function to the graph corresponding to the metricman object
        return HttpResponse("<h1>Blog works!</h1>")

    def home(request: object) -> HttpResponse:
        node1: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/home1", id=home), name="Home"
        )
        metricman.add_to_analytics(node1)
        return HttpResponse("<h1>Home works!</h1>")

    urls = types.ModuleType("pymetrix_test_urls_compat")
    urls.urlpatterns = [path("home/", home), path("blog/", blog)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    clear_url_caches()
    with override_settings(ROOT_URLCONF=urls.__name__):
        yield Client(), metricman
    clear_url_caches()
    del sys.modules[urls.__name__]


def test_original_django_views_count_per_name(
    django_client: tuple[Client, metrics.Metrics],
) -> None:
    client, metricman = django_client
    for url in ("/home/", "/blog/", "/blog/"):
        response = client.get(url)
        assert response.status_code == 200
    assert client.get("/blog/").content == b"<h1>Blog works!</h1>"
    assert metricman.aggregate() == [{"id": "Home", "hits": 1}, {"id": "Blog", "hits": 3}]
