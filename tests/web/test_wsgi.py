"""The WSGI stats app mounted in a Flask application."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from pymetrix import Metrics
from pymetrix.store import MemoryStore
from pymetrix.web import wsgi_app


@pytest.fixture
def client(metrics: Metrics) -> Any:
    app = Flask("host")

    @app.route("/")
    def home() -> str:
        return "the host app"

    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/pymetrix": wsgi_app(metrics, token="t", heartbeat=0.05)}
    )
    return app.test_client()


AUTH = {"Authorization": "Bearer t"}


def test_flask_mount_serves_the_api_below_its_prefix(metrics: Metrics, client: Any) -> None:
    metrics.hit("Blog", caller="Home")
    assert client.get("/").data == b"the host app"
    reply = client.get("/pymetrix/api/flow", headers=AUTH)
    assert reply.status_code == 200
    assert reply.json == {"message": [{"caller": "Home", "id": "Blog", "hits": 1}], "response": 200}


def test_flask_mount_applies_the_token_and_error_envelope(client: Any) -> None:
    assert client.get("/pymetrix/api/flow").status_code == 401
    reply = client.get("/pymetrix/api/aggregate?stats=maybe", headers=AUTH)
    assert reply.status_code == 400
    assert reply.json == {"message": "invalid stats 'maybe': expected 1 or 0", "response": 400}
    assert client.get("/pymetrix/api/nope", headers=AUTH).status_code == 404


def test_flask_mount_serves_the_dashboard_and_redirects_its_mount_point(client: Any) -> None:
    page = client.get("/pymetrix/?token=t")
    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    assert "Path=/pymetrix/" in page.headers["Set-Cookie"]
    redirect = client.get("/pymetrix?token=t")
    assert redirect.status_code == 308
    assert redirect.headers["Location"].endswith("/pymetrix/?token=t")


def test_wsgi_stream_sends_events_and_closing_it_ends_the_subscription(
    metrics: Metrics, client: Any
) -> None:
    store = metrics.store
    assert isinstance(store, MemoryStore)
    response = client.get("/pymetrix/api/stream", headers=AUTH, buffered=False)
    assert response.status_code == 200
    assert response.content_type == "text/event-stream; charset=utf-8"
    chunks = iter(response.response)
    assert next(chunks) == b"retry: 2000\n\n"
    metrics.hit("Home")
    event = next(chunks)
    while event.startswith(b":"):
        event = next(chunks)
    lines = dict(line.split(b": ", 1) for line in event.strip().split(b"\n"))
    assert json.loads(lines[b"data"])["message"]["id"] == "Home"
    assert lines[b"id"] == b"1"
    heartbeat = next(chunks)
    assert heartbeat == b": heartbeat\n\n"
    response.close()
    assert not store._waiters.callbacks
    metrics.hit("Blog")
    assert list(chunks) == []
