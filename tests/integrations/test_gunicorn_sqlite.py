"""Flask under gunicorn with 4 worker processes sharing one SQLite store: exact totals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pymetrix import Metrics
from pymetrix.integrations import UNMATCHED
from pymetrix.testing import wait_until

from ._helpers import hits

HERE = Path(__file__).parent


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """gunicorn serving the test app with 4 workers on a free loopback port.

    Yields the base URL and the SQLite store URL; the listening socket is bound here
    and handed to gunicorn, so no port can be taken in between.
    """
    store = f"sqlite:///{tmp_path / 'hits.db'}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    env = {**os.environ, "PYMETRIX_TEST_STORE": store}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers=4",
        f"--bind=fd://{fd}",
        f"--pythonpath={HERE}",
        "--log-level=warning",
        "--graceful-timeout=10",
        "_gunicorn_app:app",
    ]
    process = subprocess.Popen(command, env=env, pass_fds=(fd,))
    sock.close()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _ready(base), timeout=30)
        assert process.poll() is None, "gunicorn exited at start"
        yield base, store
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_four_workers_count_every_request_exactly_once(gunicorn: tuple[str, str]) -> None:
    base, store = gunicorn

    def fetch(batch: int) -> set[str]:
        workers = set()
        with httpx.Client(base_url=base) as client:
            for n in range(50):
                response = client.get(f"/items/{batch * 1000 + n}")
                assert response.status_code == 200
                workers.add(response.headers["X-Worker"])
            for n in range(10):
                assert client.get(f"/missing/{batch}/{n}").status_code == 404
        return workers

    with ThreadPoolExecutor(max_workers=8) as pool:
        workers = set().union(*pool.map(fetch, range(8)))
    assert len(workers) > 1

    expected = {"/items/<int:item_id>": 400, UNMATCHED: 80}
    with Metrics("gunicorn", store=store) as reader:
        wait_until(lambda: hits(reader) == expected, timeout=30)
        assert hits(reader) == expected
