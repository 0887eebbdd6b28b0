"""Django URL patterns remembered per path give what resolving every time gives."""

from __future__ import annotations

import types
from collections.abc import Sequence

from django.conf.urls.i18n import i18n_patterns
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import path
from django.utils import translation

from pymetrix.integrations.django import DjangoRoutes

from .test_django import urls as project_urls


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("page")


def urlconf(name: str, patterns: Sequence[object]) -> types.ModuleType:
    module = types.ModuleType(name)
    module.urlpatterns = patterns  # type: ignore[attr-defined]
    return module


def test_repeated_paths_keep_their_pattern_and_a_new_urlconf_starts_over() -> None:
    routes = DjangoRoutes()
    factory = RequestFactory()
    other = urlconf("pymetrix_test_other_urls", [path("blog/<slug:name>/", page, name="b")])
    with override_settings(ROOT_URLCONF=project_urls):
        for _ in range(3):
            assert routes(factory.get("/blog/7/"), None) == ("/blog/<int:post_id>/", "post")
        assert routes(factory.get("/nowhere/"), None) == (None, None)
        assert set(routes._found) == {"/blog/7/"}
    with override_settings(ROOT_URLCONF=other):
        assert routes(factory.get("/blog/7/"), None) == ("/blog/<slug:name>/", "b")
    # A request's own urlconf (set by a middleware) is its own.
    assert routes(factory.get("/blog/7/"), project_urls)[0] == "/blog/<int:post_id>/"


def test_i18n_patterns_are_resolved_in_the_active_language_every_time() -> None:
    routes = DjangoRoutes()
    factory = RequestFactory()
    localized = urlconf("pymetrix_test_i18n_urls", i18n_patterns(path("about/", page)))
    with override_settings(
        ROOT_URLCONF=localized, USE_I18N=True, LANGUAGES=[("en", "English"), ("fr", "French")]
    ):
        with translation.override("en"):
            assert routes(factory.get("/en/about/"), None) == ("/en/about/", None)
        with translation.override("fr"):
            assert routes(factory.get("/en/about/"), None) == (None, None)
    assert routes._found == {}


def test_at_most_size_paths_are_remembered() -> None:
    routes = DjangoRoutes(size=3)
    factory = RequestFactory()
    with override_settings(ROOT_URLCONF=project_urls):
        for n in range(10):
            assert routes(factory.get(f"/blog/{n}/"), None)[0] == "/blog/<int:post_id>/"
            assert len(routes._found) <= 3
