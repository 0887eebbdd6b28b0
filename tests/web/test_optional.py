"""Optional dependencies: pymetrix.web works without them and names the extra to install."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import pytest

from pymetrix import Metrics, MissingDependency
from pymetrix.web import stats_app


def block(monkeypatch: pytest.MonkeyPatch, missing: str, adapter: str) -> None:
    """Make importing ``missing`` fail as if not installed; ``adapter`` is imported anew."""
    for name in list(sys.modules):
        if name in (missing, adapter) or name.startswith(missing + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)


def test_metrics_route_without_prometheus_client_answers_501_naming_the_extra(
    metrics: Metrics, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    block(monkeypatch, "prometheus_client", "pymetrix.web.prometheus")
    server = serve(stats_app(metrics))
    reply = server.get("/metrics")
    assert reply.status == 501
    assert reply.json()["message"] == (
        "prometheus_client is required for this feature: pip install 'pymetrix[prometheus]'"
    )
    assert server.get("/api/aggregate").status == 200


def test_the_prometheus_module_without_prometheus_client_raises_missing_dependency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block(monkeypatch, "prometheus_client", "pymetrix.web.prometheus")
    with pytest.raises(MissingDependency) as caught:
        importlib.import_module("pymetrix.web.prometheus")
    assert caught.value.extra == "prometheus"


def test_the_django_module_without_django_raises_missing_dependency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block(monkeypatch, "django", "pymetrix.web.django")
    with pytest.raises(MissingDependency) as caught:
        importlib.import_module("pymetrix.web.django")
    assert caught.value.extra == "django"


def test_serve_without_uvicorn_exits_2_naming_the_extra() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from pymetrix.cli import main\n"
        "raise SystemExit(main(['serve', '--store', 'memory://', '--port', '0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pymetrix serve: error: uvicorn is required for this feature: pip install 'pymetrix[web]'"
    )
