"""Flask routes remembered per method and path give the nodes matching every time gives."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pymetrix import Metrics
from pymetrix.integrations import UNMATCHED
from pymetrix.integrations._compat import flask_routes_final
from pymetrix.integrations.flask import FlaskRoutes, PymetrixFlask

from ._helpers import hits


def call(client: FlaskClient, method: str, path: str, host: str = "localhost") -> None:
    """Send a request and read its whole body, as a server would."""
    with client.open(path, method=method, headers={"host": host}) as response:
        response.get_data()


def shop() -> Flask:
    app = Flask("shop")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return str(item_id)

    @app.post("/items")
    def create() -> str:
        return "made"

    return app


def test_repeated_requests_are_recorded_on_their_rules() -> None:
    metrics = Metrics("flask")
    app = shop()
    PymetrixFlask(app, metrics=metrics)
    client = app.test_client()
    for _ in range(3):
        call(client, "GET", "/items/7")
        call(client, "POST", "/items")
        call(client, "GET", "/nowhere")
    call(client, "GET", "/items")  # only POST there: Flask answers 405, no rule is recorded
    assert hits(metrics) == {"/items/<int:item_id>": 3, "/items": 3, UNMATCHED: 4}
    routes = app.extensions["pymetrix"].middleware._route
    assert isinstance(routes, FlaskRoutes)
    assert set(routes._found) == {
        ("GET", "", "/items/7", "http"),
        ("POST", "", "/items", "http"),
    }


def test_rules_matched_on_the_host_are_matched_on_every_request() -> None:
    metrics = Metrics("hosts")
    app = Flask("hosts", host_matching=True, static_host="static.example.com")

    @app.get("/x", host="api.example.com")
    def api() -> str:
        return "api"

    @app.get("/y", host="www.example.com")
    def www() -> str:
        return "www"

    PymetrixFlask(app, metrics=metrics)
    client = app.test_client()
    call(client, "GET", "/y", "www.example.com")
    call(client, "GET", "/y", "api.example.com")
    call(client, "GET", "/x", "api.example.com")
    assert hits(metrics) == {"/y": 1, UNMATCHED: 1, "/x": 1}
    assert app.extensions["pymetrix"].middleware._route._found == {}


def test_at_most_size_paths_are_remembered() -> None:
    app = shop()
    app.test_client().get("/items/0")
    routes = FlaskRoutes(app, size=3)
    for n in range(10):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/items/{n}", "SCRIPT_NAME": ""}
        environ |= {"SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
        assert routes(environ) == ("/items/<int:item_id>", "item")
        assert len(routes._found) <= 3


def test_flask_routes_are_final_after_the_first_request_as_the_probe_says() -> None:
    app = shop()
    assert not flask_routes_final(app)
    app.test_client().get("/items/1")
    assert flask_routes_final(app)
    with pytest.raises(AssertionError, match="first request"):
        app.add_url_rule("/late", "late", lambda: "late")
