"""A Django project in one module for the uvicorn shutdown tests, served through ASGI.

Served as ``_uvicorn_django:application``; the store URL comes from
``PYMETRIX_TEST_STORE``. As in a real project, the middleware imports the ``Metrics``
named in ``settings.PYMETRIX`` when Django builds its handler.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

from pymetrix import Metrics

settings.configure(
    DEBUG=False,
    SECRET_KEY="pymetrix-tests",
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=[],
    MIDDLEWARE=["pymetrix.integrations.django.PymetrixMiddleware"],
    ROOT_URLCONF=__name__,
    PYMETRIX={"metrics": f"{__name__}.metrics", "exclude": ["/ready"]},
)

metrics = Metrics("uvicorn", store=os.environ["PYMETRIX_TEST_STORE"])


def item(request: HttpRequest, item_id: int) -> HttpResponse:
    return HttpResponse(str(item_id), headers=worker())


def ready(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", headers=worker())


def worker() -> dict[str, str]:
    return {"X-Worker": str(os.getpid())}


urlpatterns = [path("items/<int:item_id>", item), path("ready", ready)]
application = get_asgi_application()
