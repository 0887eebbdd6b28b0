"""track: hits from decorated functions, and callers carried through the context."""

from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

from pymetrix import ManualClock, Metrics


def _callers(metrics: Metrics, node: str) -> list[str | None]:
    for entry in metrics.time_series()["nodes"]:
        if entry["id"] == node:
            return [c["caller"] for c in entry["callers"]]
    raise AssertionError(f"{node} has no hits")


def test_bare_decorator_uses_the_qualname_and_keeps_the_signature(metrics: Metrics) -> None:
    @metrics.track
    def home(name: str, times: int = 1) -> str:
        """Say hello."""
        return name * times

    assert home("ab", times=2) == "abab"
    assert home.__name__ == "home"
    assert home.__doc__ == "Say hello."
    signature = inspect.signature(home)
    assert list(signature.parameters) == ["name", "times"]
    assert signature.parameters["times"].default == 1
    assert signature.return_annotation == "str"
    qualname = "test_bare_decorator_uses_the_qualname_and_keeps_the_signature.<locals>.home"
    assert metrics.aggregate() == [{"id": qualname, "hits": 1}]


def test_named_decorator_works_on_async_functions(metrics: Metrics) -> None:
    @metrics.track("Home")
    async def home_page() -> int:
        await asyncio.sleep(0)
        return 7

    assert inspect.iscoroutinefunction(home_page)
    assert asyncio.run(home_page()) == 7
    assert metrics.aggregate() == [{"id": "Home", "hits": 1}]


def test_track_records_the_duration_and_500_on_exception() -> None:
    clock = ManualClock()
    metrics = Metrics("Test", clock=clock)

    @metrics.track("Boom")
    def boom() -> None:
        raise KeyError("original")

    @metrics.track("Fine")
    def fine() -> None:
        pass

    with pytest.raises(KeyError, match="original"):
        boom()
    fine()
    nodes = metrics.time_series(detail=True)["nodes"]
    boom_hit = nodes[0]["callers"][0]
    fine_hit = nodes[1]["callers"][0]
    assert boom_hit["status"] == 500
    assert fine_hit["status"] is None
    assert isinstance(boom_hit["duration"], float)
    assert boom_hit["duration"] >= 0
    assert metrics.aggregate(stats=True)[0]["errors"] == 1


def test_async_exception_is_recorded_as_500_and_propagates(metrics: Metrics) -> None:
    @metrics.track("Fail")
    async def fail() -> None:
        raise ValueError("as is")

    with pytest.raises(ValueError, match="as is"):
        asyncio.run(fail())
    assert metrics.time_series(detail=True)["nodes"][0]["callers"][0]["status"] == 500


def test_nested_tracked_calls_record_the_outer_as_caller(metrics: Metrics) -> None:
    @metrics.track("Inner")
    def inner() -> None:
        metrics.hit("Leaf")

    @metrics.track("Outer")
    def outer() -> None:
        inner()
        inner()

    outer()
    assert _callers(metrics, "Outer") == [None]
    assert _callers(metrics, "Inner") == ["Outer", "Outer"]
    assert _callers(metrics, "Leaf") == ["Inner", "Inner"]
    assert metrics.flow() == [
        {"caller": "Inner", "id": "Leaf", "hits": 2},
        {"caller": "Outer", "id": "Inner", "hits": 2},
        {"caller": None, "id": "Outer", "hits": 1},
    ]


def test_caller_is_carried_across_await_and_into_tasks(metrics: Metrics) -> None:
    @metrics.track("Child")
    async def child() -> None:
        await asyncio.sleep(0)

    @metrics.track("Parent")
    async def parent() -> None:
        await asyncio.sleep(0)
        await child()
        await asyncio.gather(asyncio.create_task(child()), asyncio.create_task(child()))

    asyncio.run(parent())
    assert _callers(metrics, "Child") == ["Parent", "Parent", "Parent"]


def test_concurrent_requests_do_not_see_each_others_caller(metrics: Metrics) -> None:
    both_inside = asyncio.Event

    async def main() -> None:
        ready = both_inside()
        arrived = 0

        async def handler(route: str) -> None:
            nonlocal arrived
            with metrics.as_caller(route):
                arrived += 1
                if arrived == 2:
                    ready.set()
                await ready.wait()  # both requests are now in flight at once
                metrics.hit(f"{route}.query")

        await asyncio.gather(handler("A"), handler("B"))

    asyncio.run(main())
    assert _callers(metrics, "A.query") == ["A"]
    assert _callers(metrics, "B.query") == ["B"]


def test_caller_does_not_leak_into_other_threads(metrics: Metrics) -> None:
    seen: list[str | None] = []

    @metrics.track("Outer")
    def outer() -> None:
        worker = threading.Thread(target=lambda: seen.append(metrics.current_caller))
        worker.start()
        worker.join()
        metrics.hit("SameThread")

    outer()
    assert seen == [None]
    assert _callers(metrics, "SameThread") == ["Outer"]
    assert metrics.current_caller is None


def test_caller_context_is_restored_after_an_exception(metrics: Metrics) -> None:
    @metrics.track("Fails")
    def fails() -> None:
        raise RuntimeError

    with pytest.raises(RuntimeError):
        fails()
    assert metrics.current_caller is None


def test_two_metrics_keep_separate_caller_contexts() -> None:
    first, second = Metrics("one"), Metrics("two")

    @first.track("A")
    def a() -> None:
        second.hit("X")
        first.hit("Y")

    a()
    assert second.flow() == [{"caller": None, "id": "X", "hits": 1}]
    assert [e for e in first.flow() if e["id"] == "Y"] == [{"caller": "A", "id": "Y", "hits": 1}]


def test_track_refuses_an_invalid_id_at_decoration_time(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="empty"):
        metrics.track("")
