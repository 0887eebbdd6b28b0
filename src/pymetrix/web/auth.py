"""Who may read the stats: a bearer token, or else direct loopback clients only."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote

from ..errors import InvalidArgument

__all__ = ["COOKIE", "Access", "is_loopback"]

COOKIE = "pymetrix_token"
"""The cookie a browser keeps the token in after opening the dashboard with ``?token=``."""

# Headers a proxy adds to say whom it forwards for (every ``X-Forwarded-*`` too), with
# the spelling a refusal names them in. A proxy on this machine connects from loopback,
# and servers trusting these headers (uvicorn --proxy-headers, werkzeug's ProxyFix) take
# the client's address from them, which anyone can write.
_PROXY_HEADERS = {
    name.lower(): name
    for name in (
        "Forwarded",
        "Via",
        "X-Real-IP",
        "True-Client-IP",
        "X-Client-IP",
        "CF-Connecting-IP",
    )
}
_X_FORWARDED = "x-forwarded-"


def _proxy_headers(headers: Mapping[str, str]) -> list[str]:
    """The headers of a request (lower-case names) that show it came through a proxy."""
    found = []
    for name in headers:
        if name in _PROXY_HEADERS:
            found.append(_PROXY_HEADERS[name])
        elif name.startswith(_X_FORWARDED):
            found.append("-".join(part.capitalize() for part in name.split("-")))
    return found


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine's loopback."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class Access:
    """The access rule of a stats app.

    Args:
        token: when set, every request must carry it: ``Authorization: Bearer <token>``,
            ``?token=<token>`` (EventSource cannot set headers) or the cookie set after one
            of those. Compared in constant time.
        allow_public: without a token, serve non-loopback clients too.

    Without a token, a request that carries a proxy's forwarding headers (``Forwarded``,
    ``Via``, ``X-Forwarded-*``, ``X-Real-IP`` ...) is not a loopback client's, whatever
    address it comes from.
    """

    def __init__(self, token: str | None = None, allow_public: bool = False) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise InvalidArgument("token", "***", "a non-empty str or None")
        self._token = None if token is None else token.encode()
        self.allow_public = allow_public

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def _matches(self, candidate: str | None) -> bool:
        assert self._token is not None
        if candidate is None:
            return False
        return hmac.compare_digest(candidate.encode(), self._token)

    def check(
        self,
        client: str | None,
        headers: Mapping[str, str],
        query_token: str | None,
    ) -> tuple[int, str] | None:
        """None if the request may proceed, else ``(status, message)``.

        Args:
            client: the peer's address.
            headers: request headers, lower-case names.
            query_token: the ``token`` query parameter, if any.
        """
        if self._token is None:
            if self.allow_public:
                return None
            if not is_loopback(client):
                return (
                    403,
                    "stats are served to loopback clients only: set a token, "
                    "or pass allow_public=True",
                )
            proxied = _proxy_headers(headers)
            if proxied:
                return (
                    403,
                    "stats without a token are served to direct loopback clients only; this "
                    f"request came through a proxy ({', '.join(proxied)}): set a token",
                )
            return None
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and self._matches(credentials.strip()):
            return None
        if self._matches(query_token):
            return None
        if self._matches(cookie_token(headers.get("cookie"))):
            return None
        return (401, "unauthorized: a valid bearer token is required")


def cookie_token(header: str | None) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    # The value was percent-encoded when the cookie was set.
    return None if morsel is None else unquote(morsel.value)
