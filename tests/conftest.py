"""Fixtures shared by every test.

PostgreSQL: by default a throwaway cluster is started from the machine's PostgreSQL
binaries for the test session and removed after it. Set ``PYMETRIX_TEST_POSTGRES_URL``
(e.g. ``postgresql://user:password@host:5432/postgres``) to use an existing server
instead; its user needs the right to create databases, as each test gets a new one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from .pgcluster import Cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create databases on."""
    existing = os.environ.get("PYMETRIX_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    cluster = Cluster()
    try:
        yield cluster.url
    finally:
        cluster.destroy()


def database_url(server: str, name: str) -> str:
    """``server`` with its database replaced by ``name``."""
    parts = urlsplit(server)
    return parts._replace(path=f"/{name}").geturl()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    name = f"pymetrix_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(postgres_server, name)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
