"""A Starlette app for the uvicorn shutdown tests, recording into a persistent store.

Served as ``_uvicorn_starlette:app``; the store URL comes from ``PYMETRIX_TEST_STORE``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pymetrix import Metrics
from pymetrix.integrations.asgi import PymetrixMiddleware

metrics = Metrics("uvicorn", store=os.environ["PYMETRIX_TEST_STORE"])


async def item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(request.path_params["item_id"]), headers=worker())


async def ready(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers=worker())


def worker() -> dict[str, str]:
    return {"X-Worker": str(os.getpid())}


app = Starlette(
    routes=[Route("/items/{item_id:int}", item), Route("/ready", ready)],
    middleware=[Middleware(PymetrixMiddleware, metrics=metrics, exclude="/ready")],
)
