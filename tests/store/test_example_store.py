"""The store written in docs/stores.md passes the store contract, and opens by its URL."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from pymetrix import Clock, Metrics
from pymetrix.store import Store
from pymetrix.testing import StoreContract

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from jsonl_store import JsonLinesStore


class TestJsonLinesStore(StoreContract):
    def open_store(
        self, *, app: str, clock: Clock, retention: timedelta | None, place: Path
    ) -> Store:
        return JsonLinesStore(
            str(place / f"{app}.jsonl"), app=app, clock=clock, retention=retention
        )


def test_its_url_opens_it_and_hits_survive_a_reopen(tmp_path: Path) -> None:
    url = f"jsonl:///{tmp_path}/hits.jsonl"
    with Metrics("shop", store=url) as metrics:
        assert isinstance(metrics.store, JsonLinesStore)
        metrics.hit("Home")
        metrics.hit("Cart", caller="Home", duration=0.25, status=200)
    with Metrics("shop", store=url) as metrics:
        assert metrics.aggregate() == [{"id": "Home", "hits": 1}, {"id": "Cart", "hits": 1}]
        assert metrics.flow()[1] == {"caller": "Home", "id": "Cart", "hits": 1}
