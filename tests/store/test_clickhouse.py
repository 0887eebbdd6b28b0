"""The ClickHouse store: the contract over chDB (and a real server when
``PYMETRIX_CLICKHOUSE_URL`` names one), its schema, exactly-once writes and URLs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pymetrix import Clock
from pymetrix.store import Store
from pymetrix.store.clickhouse import ClickHouseStore
from pymetrix.testing import StoreContract

SERVER_URL = os.environ.get("PYMETRIX_CLICKHOUSE_URL")


class TestClickHouseStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, chdb_client: Any, clickhouse_database: str) -> None:
        self.client = chdb_client
        self.database = clickhouse_database

    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        return ClickHouseStore(
            client=self.client,
            database=self.database,
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=0.02,
        )


@pytest.mark.skipif(SERVER_URL is None, reason="PYMETRIX_CLICKHOUSE_URL names no server")
class TestClickHouseServerStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self) -> Iterator[None]:
        assert SERVER_URL is not None
        self.database = f"pymetrix_test_{uuid.uuid4().hex[:12]}"
        yield
        import clickhouse_connect

        from pymetrix.store.clickhouse import client_settings

        settings, _ = client_settings(SERVER_URL.split("?", 1)[0])
        clickhouse_connect.get_client(**settings).command(
            f"DROP DATABASE IF EXISTS `{self.database}`"
        )

    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        assert SERVER_URL is not None
        return ClickHouseStore(
            SERVER_URL,
            database=self.database,
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=0.02,
        )
