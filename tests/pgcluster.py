"""A throwaway PostgreSQL cluster for tests and benchmarks.

Made from the machine's PostgreSQL binaries (``initdb`` into a temporary directory,
listening on a free loopback port); as root it runs as the ``postgres`` user, since
PostgreSQL refuses to run as root. Set ``PYMETRIX_PG_BIN`` to another binaries folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg

__all__ = ["Cluster", "benchmark_database", "find_bin", "running_cluster"]


def find_bin() -> str:
    """The folder of PostgreSQL's server binaries (the newest installed)."""
    configured = os.environ.get("PYMETRIX_PG_BIN")
    if configured:
        return configured
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[-3]),
    )
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError(
        "PostgreSQL server binaries not found: install them (Debian: apt-get install "
        "postgresql) or set PYMETRIX_TEST_POSTGRES_URL to an existing server"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL cluster in a temporary directory; ``stop()`` and ``start()`` again."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.bin = find_bin()
        self.root = tempfile.mkdtemp(prefix="pymetrix-pg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self.port = _free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=200",
        ]
        if not fsync:
            # Tests check what a client keeps, not what a server survives.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._options = " ".join(options)
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        command = [os.path.join(self.bin, tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", self._options, "-w", "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, fsync: bool = False) -> Iterator[Cluster]:
    cluster = Cluster(fsync=fsync)
    try:
        yield cluster
    finally:
        cluster.destroy()


@contextlib.contextmanager
def benchmark_database() -> Iterator[str]:
    """The database a benchmark measures: ``PYMETRIX_BENCH_POSTGRES_URL``, else one in a
    new cluster (fsync on), removed afterwards."""
    existing = os.environ.get("PYMETRIX_BENCH_POSTGRES_URL")
    if existing:
        yield existing
        return
    with running_cluster(fsync=True) as cluster:
        yield cluster.create_database("bench")


@contextlib.contextmanager
def postgres_databases(url: str, names: list[str]) -> Iterator[dict[str, str]]:
    """Databases created beside ``url``'s, by name, dropped afterwards."""
    parts = urlsplit(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {name: urlunsplit(parts._replace(path=f"/{name}")) for name in names}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
