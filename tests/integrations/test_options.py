"""RecorderOptions: declared once, checked once, refused alike by every adapter."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from pymetrix import InvalidArgument, Metrics
from pymetrix.integrations import Recorder, RecorderOptions
from pymetrix.integrations._options import _CHECKS, check_options
from pymetrix.integrations.asgi import PymetrixMiddleware
from pymetrix.integrations.flask import PymetrixFlask
from pymetrix.integrations.litestar import PymetrixPlugin
from pymetrix.integrations.types import Receive, Scope, Send
from pymetrix.integrations.wsgi import PymetrixWSGIMiddleware


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    pass  # never called: only construction is tested


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    return []  # never called


# Django's adapter reads the same options from settings.PYMETRIX: see test_django.py.
ADAPTERS: dict[str, Callable[..., object]] = {
    "recorder": lambda metrics, **options: Recorder(metrics, **options),
    "asgi": lambda metrics, **options: PymetrixMiddleware(asgi_app, metrics=metrics, **options),
    "wsgi": lambda metrics, **options: PymetrixWSGIMiddleware(wsgi_app, metrics=metrics, **options),
    # Checked on construction, before init_app() is given an app.
    "flask": lambda metrics, **options: PymetrixFlask(metrics=metrics, **options),
    "litestar": lambda metrics, **options: PymetrixPlugin(metrics=metrics, **options),
}

INVALID: list[tuple[str, Any]] = [
    ("method", "yes"),
    ("name", "not callable"),
    ("exclude", [42]),
    ("exclude", 42),
    ("referer", None),
    ("visitor", "ip"),
    ("visitor_window", 0),
    ("visitor_window", float("nan")),
    ("visitor_window", float("inf")),
    ("visitor_window", True),
    ("max_visitors", 0),
    ("max_visitors", 2.5),
    ("cookie_name", "a;b"),
    ("cookie_name", ""),
]


def test_the_options_declared_are_the_options_checked() -> None:
    assert RecorderOptions.__optional_keys__ == frozenset(_CHECKS)
    assert RecorderOptions.__required_keys__ == frozenset()


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_every_adapter_refuses_an_unknown_option_by_name(metrics: Metrics, adapter: str) -> None:
    with pytest.raises(InvalidArgument, match=r"option 'methd': expected one of method, name"):
        ADAPTERS[adapter](metrics, methd=True)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(("option", "value"), INVALID)
def test_every_adapter_refuses_an_invalid_value_naming_the_option(
    metrics: Metrics, adapter: str, option: str, value: Any
) -> None:
    with pytest.raises(InvalidArgument, match=rf"^invalid {option} ") as raised:
        ADAPTERS[adapter](metrics, **{option: value})
    assert raised.value.name == option


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_every_adapter_accepts_every_option(metrics: Metrics, adapter: str) -> None:
    options: RecorderOptions = {
        "method": True,
        "name": lambda info: None,
        "exclude": ["/health", re.compile(r"/static/.*")],
        "referer": False,
        "visitor": "hash",
        "visitor_window": 60,
        "max_visitors": 5,
        "cookie_name": "vid",
    }
    ADAPTERS[adapter](metrics, **options)


def test_the_recorder_takes_the_options_and_their_defaults(metrics: Metrics) -> None:
    default = Recorder(metrics)
    assert (default.method, default.name, default.exclude) == (False, None, None)
    assert (default.referer, default.visitor, default.cookie_name) == (True, None, "pymetrix_vid")
    assert default.cookie_max_age == 1800
    chosen = Recorder(metrics, method=True, visitor="cookie", visitor_window=90.5, exclude="/x")
    assert (chosen.method, chosen.visitor, chosen.cookie_max_age) == (True, "cookie", 90)
    assert chosen.excluded("/x")
    assert not chosen.excluded("/y")


def test_a_recorder_needs_metrics_and_a_callable_error_status(metrics: Metrics) -> None:
    with pytest.raises(InvalidArgument, match="metrics"):
        Recorder("metrics")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="error_status"):
        Recorder(metrics, error_status=500)  # type: ignore[arg-type]


def test_check_options_raises_the_callers_own_error_class() -> None:
    class SettingError(InvalidArgument):
        pass

    with pytest.raises(SettingError, match="visitor"):
        check_options({"visitor": "ip"}, SettingError)
    check_options({})


def test_a_glob_ending_in_slash_star_also_excludes_its_mount_point(metrics: Metrics) -> None:
    recorder = Recorder(metrics, exclude=["/pymetrix/*"])
    for path in ("/pymetrix", "/pymetrix/", "/pymetrix/api/aggregate"):
        assert recorder.excluded(path), path
    for path in ("/pymetrixx", "/pymetri", "/", "/other/pymetrix"):
        assert not recorder.excluded(path), path
