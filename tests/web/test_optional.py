"""Optional dependencies: pymetrix.web works without them and names the extra to install."""

from __future__ import annotations

import importlib
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
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


# -- what the extras install ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
# The extras a user installs, by use case (the others are for this project's own tests).
USER_EXTRAS = [
    "fast", "prometheus", "postgres", "web", "fastapi", "starlette", "litestar", "flask", "django",
]  # fmt: skip


def extra_modules(extra: str) -> set[str]:
    """The top-level modules of the packages an extra of pyproject.toml installs."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = project["project"]["optional-dependencies"][extra]
    return {re.split(r"[\[<>=~! ]", requirement)[0].lower() for requirement in requirements}


def without_other_extras(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``pymetrix ARGS`` in a process where only the ``web`` extra's packages import."""
    blocked = set().union(*(extra_modules(e) for e in USER_EXTRAS)) - extra_modules("web")
    code = (
        "import sys\n"
        f"for name in {sorted(blocked)!r}: sys.modules[name] = None\n"
        "from pymetrix.cli import main\n"
        "raise SystemExit(main())\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def test_serve_needs_nothing_beyond_the_web_extra(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hits.db"
    with Metrics("shop", store=url) as metrics:
        metrics.hit("Home", duration=0.01)
    process = without_other_extras(tmp_path, "serve", "--store", url, "--port", "0")
    assert process.stdout is not None
    try:
        base = process.stdout.readline().split(": ", 1)[1].strip()
        answers = {}
        for path in ("", "api/aggregate", "metrics"):
            with urllib.request.urlopen(base + path, timeout=10) as reply:
                answers[path] = (reply.status, reply.headers["content-type"], reply.read())
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert answers[""][:2] == (200, "text/html; charset=utf-8")
    assert answers["api/aggregate"][0] == 200
    # /metrics answers 501 without prometheus_client: the web extra brings it.
    assert answers["metrics"][0] == 200
    assert b'pymetrix_hits_total{app="shop",node="Home"} 1.0' in answers["metrics"][2]


def test_the_demo_needs_nothing_beyond_the_web_extra(tmp_path: Path) -> None:
    process = without_other_extras(tmp_path, "demo", "--port", "0", "--duration", "2")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Stopped after" in out
    assert (tmp_path / "pymetrix-demo.db").is_file()
