"""uvicorn stopped by a signal, in one process or several: every queued hit is written.

Each test runs a real uvicorn on a free loopback port, with a SQLite store; at
``flush_interval=30`` every hit is still queued when the signal comes. uvicorn ends a
process by raising SIGTERM again after its graceful shutdown, which skips exit handlers:
unless the stores hold that signal back, these hits are lost.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pymetrix import Metrics
from pymetrix.testing import wait_until

from ._helpers import hits

HERE = Path(__file__).parent
STARLETTE = "_uvicorn_starlette:app"
DJANGO = "_uvicorn_django:application"
ROUTES = {STARLETTE: "/items/{item_id:int}", DJANGO: "/items/<int:item_id>"}
QUEUED = "?flush_interval=30"

Command = Callable[[int], list[str]]
"""The arguments to ``python`` that serve on the listening socket with the given fd."""


def uvicorn_cli(app: str, *options: str) -> Command:
    return lambda fd: ["-m", "uvicorn", f"--fd={fd}", "--log-level=warning", *options, app]


def gunicorn_uvicorn_workers(app: str, workers: int) -> Command:
    """gunicorn with uvicorn's worker class: forked workers, each running ``serve()``."""
    options = ["--worker-class=uvicorn.workers.UvicornWorker", "--log-level=warning"]
    return lambda fd: ["-m", "gunicorn", *options, f"--workers={workers}", f"--bind=fd://{fd}", app]


def uvicorn_supervisor(app: str, workers: int) -> Command:
    """uvicorn's own ``--workers`` supervisor, which then prints its workers' exit codes."""
    return lambda fd: ["-m", "_uvicorn_supervisor", app, str(fd), str(workers)]


@dataclass
class Served:
    base: str
    store: str
    process: subprocess.Popen[str]

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Sends ``signum`` and waits for the end; returns the exit code and stdout."""
        self.process.send_signal(signum)
        out, _ = self.process.communicate(timeout=20)
        return self.process.returncode, out

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: SIGINT to the whole process group, supervisor and workers alike."""
        os.killpg(self.process.pid, signal.SIGINT)
        out, _ = self.process.communicate(timeout=20)
        return self.process.returncode, out


@contextlib.contextmanager
def serve(tmp_path: Path, command: Command, options: str) -> Iterator[Served]:
    """Runs ``command`` with the store ``sqlite:///.../hits.db{options}`` until it is ready.

    The listening socket is bound here and handed over, so no port can be taken in
    between. The server runs in a process group of its own, killed after the test.
    """
    store = f"sqlite:///{tmp_path / 'hits.db'}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "PYMETRIX_TEST_STORE": store + options,
        "PYTHONPATH": os.pathsep.join(path),
    }
    process = subprocess.Popen(
        [sys.executable, *command(sock.fileno())],
        env=env,
        pass_fds=(sock.fileno(),),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    sock.close()
    try:
        wait_until(lambda: process.poll() is not None or ready(base), timeout=30)
        assert process.poll() is None, "the server exited at start"
        yield Served(base, store, process)
    finally:
        # Whatever of the group is left, workers the server left behind included.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def load(base: str, requests: int, clients: int = 8) -> set[int]:
    """GETs ``requests`` items from ``clients`` threads; returns the pids that answered.

    Every request has a connection of its own, so that every worker gets some.
    """

    def fetch(first: int) -> set[int]:
        pids = set()
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, limits=no_reuse) as client:
            for n in range(first, requests, clients):
                response = client.get(f"/items/{n}")
                assert response.status_code == 200
                pids.add(int(response.headers["X-Worker"]))
        return pids

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return set().union(*pool.map(fetch, range(clients)))


def stored(store: str) -> dict[str, int]:
    with Metrics("uvicorn", store=store) as reader:
        return hits(reader)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("app", [STARLETTE, DJANGO])
def test_workers_write_every_queued_hit_when_uvicorn_stops_on_sigterm(
    tmp_path: Path, app: str
) -> None:
    with serve(tmp_path, uvicorn_cli(app, "--workers=2"), QUEUED) as served:
        workers = load(served.base, 100)
        assert len(workers) == 2
        code, _ = served.stop()
    assert code == 0
    assert not any(alive(pid) for pid in workers)
    assert stored(served.store) == {ROUTES[app]: 100}


def test_workers_still_end_by_sigterm_once_their_hits_are_written(tmp_path: Path) -> None:
    with serve(tmp_path, uvicorn_supervisor(STARLETTE, 2), QUEUED) as served:
        load(served.base, 100)
        code, out = served.stop()
    assert code == 0
    assert json.loads(out) == [-signal.SIGTERM, -signal.SIGTERM]
    assert stored(served.store) == {ROUTES[STARLETTE]: 100}


def test_workers_write_every_hit_of_a_load_cut_by_sigterm_beside_a_busy_neighbour(
    tmp_path: Path,
) -> None:
    # The default flush interval, a neighbour spinning on a core, and requests until the
    # workers stop answering: the hits of their last half second are still queued.
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with (
            serve(tmp_path, uvicorn_cli(STARLETTE, "--workers=2"), "") as served,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            answered: list[int] = []
            clients = [pool.submit(fetch_until_refused, served.base, answered) for _ in range(8)]
            wait_until(lambda: len(answered) >= 300)
            code, _ = served.stop()
            for client in clients:
                client.result()
    finally:
        neighbour.kill()
        neighbour.wait()
    assert code == 0
    assert not any(alive(pid) for pid in answered)
    assert stored(served.store) == {ROUTES[STARLETTE]: len(answered)}


def fetch_until_refused(base: str, answered: list[int]) -> None:
    """GETs items, a connection each, until the server is gone; appends each answer's pid."""
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, limits=no_reuse) as client:
        for n in itertools.count():
            try:
                response = client.get(f"/items/{n}")
            except httpx.TransportError:
                return
            assert response.status_code == 200
            answered.append(int(response.headers["X-Worker"]))


def test_workers_write_every_queued_hit_on_ctrl_c(tmp_path: Path) -> None:
    with serve(tmp_path, uvicorn_cli(STARLETTE, "--workers=2"), QUEUED) as served:
        workers = load(served.base, 100)
        code, _ = served.interrupt()
    assert code == 0
    assert not any(alive(pid) for pid in workers)
    assert stored(served.store) == {ROUTES[STARLETTE]: 100}


def test_gunicorn_with_uvicorn_workers_writes_every_queued_hit_on_sigterm(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, gunicorn_uvicorn_workers(STARLETTE, 2), QUEUED) as served:
        workers = load(served.base, 100)
        code, _ = served.stop()
    assert code == 0
    assert not any(alive(pid) for pid in workers)
    assert stored(served.store) == {ROUTES[STARLETTE]: 100}


@pytest.mark.parametrize("app", [STARLETTE, DJANGO])
def test_one_process_writes_every_queued_hit_and_still_ends_by_sigterm(
    tmp_path: Path, app: str
) -> None:
    with serve(tmp_path, uvicorn_cli(app), QUEUED) as served:
        load(served.base, 50)
        code, _ = served.stop()
    assert code == -signal.SIGTERM
    assert stored(served.store) == {ROUTES[app]: 50}


def test_one_process_writes_every_queued_hit_on_sigint(tmp_path: Path) -> None:
    # SIGINT needs no help: uvicorn raises it again as KeyboardInterrupt, which it
    # catches, and the process exits normally, running its exit handlers.
    with serve(tmp_path, uvicorn_cli(STARLETTE), QUEUED) as served:
        load(served.base, 50)
        code, _ = served.stop(signal.SIGINT)
    assert code == 0
    assert stored(served.store) == {ROUTES[STARLETTE]: 50}
