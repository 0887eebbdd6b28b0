"""How a persistent store meets SIGTERM, each case in a fresh process of its own.

The servers themselves are in ``tests/integrations/test_uvicorn_workers.py``; here the
edges: no uvicorn, a SIGTERM uvicorn did not raise, several stores under one handler.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from pymetrix import Metrics

WITHOUT_UVICORN = """
import signal, sys
from pymetrix import Metrics
metrics = Metrics("Test", store=sys.argv[1])
print("uvicorn.server" in sys.modules, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""

STRAY_SIGTERM = """
import signal, sys, time
import uvicorn
from pymetrix import Metrics
metrics = Metrics("Test", store=sys.argv[1])
metrics.hit("home")
print(signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, flush=True)
time.sleep(60)
"""

SIGTERM_DURING_SERVE = """
import signal, sys
import uvicorn
from pymetrix import Metrics
server = uvicorn.Server(uvicorn.Config("app:app"))
with server.capture_signals():
    first = Metrics("First", store=sys.argv[1])
    handler = signal.getsignal(signal.SIGTERM)
    second = Metrics("Second", store=sys.argv[1])
    print(handler is signal.getsignal(signal.SIGTERM), handler != server.handle_exit)
    first.hit("home")
    second.hit("home")
    signal.raise_signal(signal.SIGTERM)
    print(server.should_exit, server._captured_signals)
print("serve returned", flush=True)
"""


def run(script: str, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, store], capture_output=True, text=True, timeout=30
    )


def test_without_uvicorn_sigterm_keeps_its_default_handler(tmp_path: Path) -> None:
    done = run(WITHOUT_UVICORN, f"sqlite:///{tmp_path / 'hits.db'}")
    assert (done.returncode, done.stdout) == (0, "False True\n"), done.stderr


def test_a_sigterm_uvicorn_did_not_raise_ends_the_process_at_once(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hits.db'}?flush_interval=30"
    command = [sys.executable, "-c", STRAY_SIGTERM, store]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "True\n"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == -signal.SIGTERM
        finally:
            process.kill()


def test_sigterm_during_serve_ends_the_process_once_every_store_is_written(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'hits.db'}"
    done = run(SIGTERM_DURING_SERVE, f"{store}?flush_interval=30")
    # uvicorn's handler is wrapped once, starts the shutdown, and no longer raises
    # SIGTERM when serve() ends: the process goes on to exit, then ends by SIGTERM.
    assert done.stdout == "True True\nTrue []\nserve returned\n", done.stderr
    assert done.returncode == -signal.SIGTERM
    for app in ("First", "Second"):
        with Metrics(app, store=store) as reader:
            assert reader.aggregate() == [{"id": "home", "hits": 1}]
