"""A Flask app for the gunicorn test: every worker records into one SQLite file.

Served as ``_gunicorn_app:app``; the store URL comes from ``PYMETRIX_TEST_STORE``.
"""

from __future__ import annotations

import os

from flask import Flask, Response

from pymetrix import Metrics
from pymetrix.integrations.flask import PymetrixFlask

metrics = Metrics("gunicorn", store=os.environ["PYMETRIX_TEST_STORE"])
app = Flask(__name__)


@app.get("/items/<int:item_id>")
def item(item_id: int) -> Response:
    response = Response(str(item_id))
    response.headers["X-Worker"] = str(os.getpid())
    return response


@app.get("/ready")
def ready() -> str:
    return "ok"


PymetrixFlask(app, metrics=metrics, exclude="/ready")
