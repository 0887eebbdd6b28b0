"""gzip: every compressible answer of the stats app is compressed for a client that
accepts it, through real servers (uvicorn for ASGI, wsgiref for WSGI); live streams never."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from pymetrix import Metrics
from pymetrix.web import stats_app, wsgi_app

from .conftest import Reply

GZIP = {"Accept-Encoding": "gzip, deflate"}
# A path of each compressible kind the app serves.
PATHS = [
    "/api/aggregate?stats=1",
    "/api/time_series",
    "/api/nothing",  # an error, in its JSON envelope
    "/",
    "/static/app.js",
    "/static/style.css",
    "/metrics",
]


@pytest.fixture
def recorded(metrics: Metrics) -> Metrics:
    for i in range(50):
        metrics.hit("Home", duration=0.010)
        metrics.hit("Blog", caller="Home", duration=0.020, status=200 if i % 5 else 500)
    return metrics


@pytest.fixture(params=["asgi", "wsgi"])
def server(request: pytest.FixtureRequest, recorded: Metrics) -> Any:
    if request.param == "asgi":
        return request.getfixturevalue("serve")(stats_app(recorded))
    return request.getfixturevalue("serve_wsgi")(wsgi_app(recorded))


def vary(reply: Reply) -> set[str]:
    return {v.strip().lower() for v in (reply.headers.get("vary") or "").split(",")}


def assert_gzipped_copy_of(compressed: Reply, plain: Reply) -> None:
    assert compressed.status == plain.status
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["content-type"] == plain.headers["content-type"]
    assert int(compressed.headers["content-length"]) == len(compressed.body)
    assert gzip.decompress(compressed.body) == plain.body
    assert "accept-encoding" in vary(compressed)


@pytest.mark.parametrize("path", PATHS)
def test_compressible_answers_are_gzipped_for_a_client_that_accepts_gzip(
    server: Any, path: str
) -> None:
    plain = server.get(path)
    # The exposition reads hits once per scrape: compare two scrapes of nothing new.
    compressed = server.get(path, GZIP)
    if path == "/metrics":
        plain = server.get(path)
    assert_gzipped_copy_of(compressed, plain)
    # gzip's header and trailer make a body of a hundred bytes slightly larger.
    assert len(compressed.body) < len(plain.body) or len(plain.body) < 200


@pytest.mark.parametrize("accept_encoding", [None, "identity", "gzip;q=0", "br", "deflate, *;q=0"])
def test_answers_stay_uncompressed_for_a_client_that_does_not_accept_gzip(
    server: Any, accept_encoding: str | None
) -> None:
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    reply = server.get("/api/aggregate", headers)
    assert reply.status == 200
    assert "content-encoding" not in reply.headers
    assert reply.json()["message"][0]["id"] == "Home"
    # A cache must not serve this answer to a client that accepts gzip, nor the reverse.
    assert "accept-encoding" in vary(reply)


@pytest.mark.parametrize("accept_encoding", ["x-gzip", "*", "br;q=1.0, gzip;q=0.5"])
def test_gzip_is_recognised_however_the_client_accepts_it(
    server: Any, accept_encoding: str
) -> None:
    reply = server.get("/api/aggregate", {"Accept-Encoding": accept_encoding})
    assert reply.headers["content-encoding"] == "gzip"


def test_metrics_vary_on_accept_and_accept_encoding(server: Any) -> None:
    reply = server.get("/metrics", GZIP)
    assert {"accept", "accept-encoding"} <= vary(reply)


def test_head_announces_the_compressed_length_without_a_body(server: Any) -> None:
    full = server.get("/api/aggregate", GZIP)
    head = server.get("/api/aggregate", GZIP, method="HEAD")
    assert head.body == b""
    assert head.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == full.headers["content-length"]


def test_live_streams_are_sent_uncompressed_as_events_come(server: Any, recorded: Metrics) -> None:
    reader = server.stream("/api/stream?interval=0.05", GZIP)
    try:
        assert reader.status == 200
        assert "content-encoding" not in reader.response.headers
        recorded.hit("Live")
        event = reader.next_data()
        while event.json()["message"]["id"] != "Live":
            event = reader.next_data()
    finally:
        reader.close()
