"""Access control: a bearer token on every route, or else loopback clients only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client

from pymetrix import Metrics
from pymetrix.web import Access, is_loopback, stats_app, wsgi_app
from pymetrix.web.app import StatsApp

TOKEN = "s3cret-token"
ROUTES = ["/", "/static/app.js", "/api/aggregate", "/api/time_series", "/api/flow", "/metrics"]


def call(
    app: StatsApp, path: str, client: str | None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request through the ASGI interface, from a client address of our choosing."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": None if client is None else (client, 50000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    out_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], out_headers, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("route", ROUTES)
def test_with_a_token_every_route_refuses_a_request_without_it(
    metrics: Metrics, serve: Any, route: str
) -> None:
    server = serve(stats_app(metrics, token=TOKEN))
    reply = server.get(route)
    assert reply.status == 401
    assert reply.json() == {
        "message": "unauthorized: a valid bearer token is required",
        "response": 401,
    }
    assert reply.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("route", ROUTES)
def test_with_a_token_every_route_refuses_a_wrong_one(
    metrics: Metrics, serve: Any, route: str
) -> None:
    server = serve(stats_app(metrics, token=TOKEN))
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": "Basic " + TOKEN}):
        assert server.get(route, headers).status == 401
    assert server.get(route + "?token=" + TOKEN[:-1]).status == 401


@pytest.mark.parametrize("route", ROUTES)
def test_with_a_token_every_route_serves_the_right_one(
    metrics: Metrics, serve: Any, route: str
) -> None:
    server = serve(stats_app(metrics, token=TOKEN))
    assert server.get(route, {"Authorization": "Bearer " + TOKEN}).status == 200
    assert server.get(route, {"authorization": "bearer " + TOKEN}).status == 200


def test_the_token_is_accepted_as_a_query_parameter_for_event_source(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(stats_app(metrics, token=TOKEN))
    reader = server.stream("/api/stream?token=" + TOKEN)
    try:
        assert reader.status == 200
    finally:
        reader.close()
    assert server.get("/api/stream").status == 401


def test_opening_the_dashboard_with_the_token_lets_its_assets_load_by_cookie(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(stats_app(metrics, token=TOKEN))
    page = server.get("/?token=" + TOKEN)
    assert page.status == 200
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    pair = cookie.split(";", 1)[0]
    assert server.get("/static/app.js", {"Cookie": pair}).status == 200
    assert server.get("/api/aggregate", {"Cookie": "pymetrix_token=forged"}).status == 401


def test_the_page_opened_with_the_token_and_its_cookie_are_never_stored(
    metrics: Metrics, serve: Any
) -> None:
    server = serve(stats_app(metrics, token=TOKEN))
    page = server.get("/?token=" + TOKEN)
    assert page.status == 200
    assert page.headers["set-cookie"].startswith("pymetrix_token=")
    assert page.headers.get_all("cache-control") == ["no-store"]
    # Whatever route is asked with the token in its URL.
    for path in ("/static/app.js", "/api/flow", "/metrics"):
        reply = server.get(path + "?token=" + TOKEN)
        assert (reply.status, reply.headers.get_all("cache-control")) == (200, ["no-store"])
    assert server.get("/", {"Authorization": "Bearer " + TOKEN}).headers["cache-control"] == (
        "no-cache"
    )


def test_the_redirect_of_the_mount_point_with_the_token_is_never_stored(metrics: Metrics) -> None:
    _, headers, _ = call_root(stats_app(metrics, token=TOKEN), "", "/stats", "token=" + TOKEN)
    assert headers["location"] == "/stats/?token=" + TOKEN
    assert headers["cache-control"] == "no-store"


def test_the_token_cookie_is_secure_over_https_only(metrics: Metrics, serve: Any) -> None:
    # uvicorn takes the scheme from X-Forwarded-Proto of a proxy it trusts.
    server = serve(stats_app(metrics, token=TOKEN), proxy_headers=True, forwarded_allow_ips="*")
    over_https = server.get("/?token=" + TOKEN, {"X-Forwarded-Proto": "https"})
    over_http = server.get("/?token=" + TOKEN)
    assert over_https.headers["set-cookie"] == (
        f"pymetrix_token={TOKEN}; Path=/; HttpOnly; SameSite=Strict; Secure"
    )
    assert over_http.headers["set-cookie"] == (
        f"pymetrix_token={TOKEN}; Path=/; HttpOnly; SameSite=Strict"
    )


def test_the_wsgi_app_sets_a_secure_cookie_over_https(metrics: Metrics) -> None:
    client = Client(wsgi_app(metrics, token=TOKEN))
    for base, secure in (("https://stats.example/", True), ("http://stats.example/", False)):
        reply = client.get("/?token=" + TOKEN, base_url=base)
        assert reply.status_code == 200
        assert reply.headers["Set-Cookie"].endswith("; Secure") is secure
        assert reply.headers["Cache-Control"] == "no-store"


def test_with_a_token_non_loopback_clients_are_served(metrics: Metrics) -> None:
    app = stats_app(metrics, token=TOKEN)
    status, _, _ = call(app, "/api/aggregate", "203.0.113.9", {"Authorization": "Bearer " + TOKEN})
    assert status == 200
    assert call(app, "/api/aggregate", "203.0.113.9")[0] == 401


def test_without_a_token_loopback_clients_are_served(metrics: Metrics, serve: Any) -> None:
    server = serve(stats_app(metrics))
    assert server.get("/api/aggregate").status == 200
    app = stats_app(metrics)
    for client in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert call(app, "/api/aggregate", client)[0] == 200


@pytest.mark.parametrize(
    "client", ["203.0.113.9", "10.0.0.2", "::ffff:192.0.2.1", "2001:db8::1", None]
)
def test_without_a_token_other_clients_are_refused(metrics: Metrics, client: str | None) -> None:
    status, _, body = call(stats_app(metrics), "/api/aggregate", client)
    assert status == 403
    assert json.loads(body)["message"].startswith("stats are served to loopback clients only")


PROXIED = {
    "Forwarded": "for=127.0.0.1",
    "X-Forwarded-For": "127.0.0.1",
    "X-Real-IP": "127.0.0.1",
    "X-Forwarded-Host": "stats.example.com",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "Via": "1.1 proxy",
    "True-Client-IP": "127.0.0.1",
    "X-Client-IP": "127.0.0.1",
    "CF-Connecting-IP": "127.0.0.1",
}


def proxied_refusal(*names: str) -> str:
    return (
        "stats without a token are served to direct loopback clients only; this request "
        f"came through a proxy ({', '.join(names)}): set a token"
    )


@pytest.mark.parametrize("header", list(PROXIED))
def test_without_a_token_a_request_through_a_proxy_is_not_loopback(
    metrics: Metrics, header: str
) -> None:
    # A proxy on this machine connects from loopback whoever it forwards for.
    status, _, body = call(
        stats_app(metrics), "/api/aggregate", "127.0.0.1", {header: PROXIED[header]}
    )
    assert status == 403
    assert json.loads(body) == {"message": proxied_refusal(header), "response": 403}


def test_the_refusal_of_a_proxied_request_names_every_forwarding_header(metrics: Metrics) -> None:
    headers = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https", "Cookie": "a=b"}
    status, _, body = call(stats_app(metrics), "/", "127.0.0.1", headers)
    assert status == 403
    assert json.loads(body)["message"] == proxied_refusal("X-Forwarded-For", "X-Forwarded-Proto")


def test_a_request_through_a_proxy_is_served_with_the_token_or_allow_public(
    metrics: Metrics,
) -> None:
    for app, headers in [
        (stats_app(metrics, allow_public=True), dict(PROXIED)),
        (stats_app(metrics, token=TOKEN), {**PROXIED, "Authorization": "Bearer " + TOKEN}),
    ]:
        assert call(app, "/api/aggregate", "127.0.0.1", headers)[0] == 200
    assert call(stats_app(metrics, token=TOKEN), "/api/aggregate", "127.0.0.1", PROXIED)[0] == 401


def test_a_forwarded_for_loopback_cannot_pass_for_loopback_on_a_server_trusting_it(
    metrics: Metrics, serve: Any
) -> None:
    # uvicorn --proxy-headers --forwarded-allow-ips='*' takes the client from X-Forwarded-For.
    server = serve(stats_app(metrics), proxy_headers=True, forwarded_allow_ips="*")
    spoofed = server.get("/api/aggregate", {"X-Forwarded-For": "127.0.0.1"})
    assert (spoofed.status, spoofed.json()["message"]) == (403, proxied_refusal("X-Forwarded-For"))
    assert server.get("/api/aggregate").status == 200
    public = serve(
        stats_app(metrics, allow_public=True), proxy_headers=True, forwarded_allow_ips="*"
    )
    assert public.get("/api/aggregate", {"X-Forwarded-For": "127.0.0.1"}).status == 200
    tokened = serve(stats_app(metrics, token=TOKEN), proxy_headers=True, forwarded_allow_ips="*")
    authorised = {"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + TOKEN}
    assert tokened.get("/api/aggregate", authorised).status == 200


def test_a_wsgi_app_behind_proxy_fix_refuses_a_forwarded_loopback(metrics: Metrics) -> None:
    # werkzeug's ProxyFix sets REMOTE_ADDR from X-Forwarded-For, as uvicorn does for ASGI.
    client = Client(ProxyFix(wsgi_app(metrics), x_for=1))
    direct = {"REMOTE_ADDR": "127.0.0.1"}
    reply = client.get(
        "/api/aggregate", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base=direct
    )
    assert reply.status_code == 403
    assert json.loads(reply.data)["message"] == proxied_refusal("X-Forwarded-For")
    assert client.get("/api/aggregate", environ_base=direct).status_code == 200


def test_allow_public_serves_any_client_without_a_token(metrics: Metrics) -> None:
    app = stats_app(metrics, allow_public=True)
    assert call(app, "/api/aggregate", "203.0.113.9")[0] == 200


def test_is_loopback_knows_loopback_addresses_and_names() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "[::1]")] == [True] * 4
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com", None)] == [
        False
    ] * 5


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        Access(token="")


def test_the_mount_point_itself_redirects_to_its_trailing_slash_keeping_the_query(
    metrics: Metrics,
) -> None:
    app = stats_app(metrics)
    scope_path_variants = []
    for path in ("/stats", ""):
        # Routers pass the mount point either whole (with root_path) or already removed.
        status, headers, _ = call_root(app, path, "/stats", "token=x&ids=a")
        scope_path_variants.append((status, headers["location"]))
    assert scope_path_variants == [(308, "/stats/?token=x&ids=a")] * 2


def call_root(app: StatsApp, path: str, root: str, query: str) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": root,
        "query_string": query.encode(),
        "headers": [],
        "client": ("127.0.0.1", 50000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    out_headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], out_headers, b""


def test_a_token_with_reserved_characters_survives_the_cookie(metrics: Metrics, serve: Any) -> None:
    token = "a/b=c;d e"
    server = serve(stats_app(metrics, token=token))
    page = server.get("/?token=" + quote(token, safe=""))
    assert page.status == 200
    pair = page.headers["set-cookie"].split(";", 1)[0]
    assert server.get("/api/flow", {"Cookie": pair}).status == 200
