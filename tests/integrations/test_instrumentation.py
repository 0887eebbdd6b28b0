"""The instrumentation API adapters build on: Metrics.record, check_id and the caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

import pymetrix.integrations
from pymetrix import InvalidNodeId, InvalidNodeType, Metrics

from ._helpers import details, edges, hits


def test_record_is_hit_with_keywords(metrics: Metrics) -> None:
    metrics.record("/a", caller="/home", duration=0.25, status=201)
    metrics.record("/a")
    assert details(metrics, "/a") == [("/home", 0.25, 201), (None, None, None)]


def test_record_takes_the_current_caller_by_default_and_none_means_none(
    metrics: Metrics,
) -> None:
    with metrics.as_caller("/page"):
        metrics.record("api")
        metrics.record("api", caller=None)
    assert edges(metrics) == {("/page", "api"): 1, (None, "api"): 1}


@pytest.mark.parametrize(
    ("node", "extra"),
    [
        ("bad\nid", {}),
        (42, {}),
        ("/a", {"status": 99}),
        ("/a", {"duration": -1.0}),
        ("/a", {"caller": ""}),
    ],
)
def test_record_logs_what_hit_would_raise_and_records_nothing(
    metrics: Metrics, caplog: pytest.LogCaptureFixture, node: object, extra: dict[str, object]
) -> None:
    metrics.record(node, **extra)  # type: ignore[arg-type]
    assert hits(metrics) == {}
    assert "could not record a hit" in caplog.text


def test_record_after_close_warns_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics("web")
    metrics.close()
    for _ in range(3):
        metrics.record("/late")
    assert caplog.text.count("came after close()") == 1


def test_check_id_returns_a_valid_id_and_raises_for_an_invalid_one() -> None:
    with Metrics("web", max_id_length=8) as metrics:
        assert metrics.max_id_length == 8
        assert metrics.check_id("/items") == "/items"
        with pytest.raises(InvalidNodeId, match="longer than 8"):
            metrics.check_id("/items/{item_id}")
        with pytest.raises(InvalidNodeId, match="control character"):
            metrics.check_id("a\x00b")
        with pytest.raises(InvalidNodeType):
            metrics.check_id(None)


def test_set_caller_holds_until_reset_and_nests(metrics: Metrics) -> None:
    outer = metrics.set_caller("/outer")
    inner = metrics.set_caller("/inner")
    metrics.hit("load")
    metrics.reset_caller(inner)
    assert metrics.current_caller == "/outer"
    metrics.reset_caller(outer)
    assert metrics.current_caller is None
    assert edges(metrics) == {("/inner", "load"): 1}


def test_the_caller_set_in_one_thread_or_task_is_not_seen_in_another(metrics: Metrics) -> None:
    seen: list[str | None] = []
    token = metrics.set_caller("/request")
    thread = threading.Thread(target=lambda: seen.append(metrics.current_caller))
    thread.start()
    thread.join()
    metrics.reset_caller(token)

    async def other_request() -> str | None:
        await asyncio.sleep(0)
        return metrics.current_caller

    async def main() -> str | None:
        task = asyncio.create_task(other_request())
        token = metrics.set_caller("/request")
        try:
            return await task
        finally:
            metrics.reset_caller(token)

    assert seen == [None]
    assert asyncio.run(main()) is None


def test_the_callers_of_two_metrics_are_independent() -> None:
    with Metrics("a") as first, Metrics("b") as second:
        token = first.set_caller("/page")
        assert second.current_caller is None
        first.reset_caller(token)


def test_the_integrations_package_exports_its_public_names_sorted() -> None:
    exported = pymetrix.integrations.__all__
    assert exported == sorted(exported, key=lambda name: (not name.isupper(), name))
    for name in exported:
        assert getattr(pymetrix.integrations, name) is not None
