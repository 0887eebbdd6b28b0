"""Server-Sent Events: a live stream framed as a ``text/event-stream`` body.

Every event's ``data:`` is one JSON object, the API's envelope:
``{"message": <one time-series node record | the aggregate | the flow>, "response": 200}``.
A storage fault arrives as ``{"message": "<what failed>", "response": 503}`` and the
stream carries on. Time-series events carry an ``id:`` (the hit's ``seq``, or
``<time_ns>-<ordinal>`` for stores without one), so a client reconnecting with
``Last-Event-ID`` gets every hit after it that the store still holds. Comment lines
(``: heartbeat``) keep idle connections open through proxies.

The events themselves come from :class:`~pymetrix.pipeline.LiveStream`, as for every
live output; this module only frames them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .._json import dumps
from ..pipeline import LiveEvent, LiveFault, LiveStream

__all__ = ["HEARTBEAT", "EventStream", "format_event"]

HEARTBEAT = b": heartbeat\n\n"


def format_event(data: Any, event_id: str | None = None) -> bytes:
    """One SSE event whose ``data:`` is ``data`` as JSON (a single line)."""
    head = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"data: " + dumps(data) + b"\n\n"


def _frame(events: list[LiveEvent[Any] | LiveFault]) -> bytes:
    return b"".join(
        format_event({"message": event.message, "response": 503})
        if isinstance(event, LiveFault)
        else format_event({"message": event.data, "response": 200}, event.id)
        for event in events
    )


class EventStream:
    """A live stream as an SSE body, iterable synchronously (WSGI) and asynchronously (ASGI).

    Args:
        stream: the events to send; closing this body closes it.
        heartbeat: seconds of silence after which a comment line is sent.
        retry: milliseconds a browser waits before reconnecting, sent first.
    """

    def __init__(self, stream: LiveStream[Any], *, heartbeat: float, retry: int) -> None:
        self._stream = stream
        self._heartbeat = heartbeat
        self._retry = retry

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def close(self) -> None:
        """End the stream and release what it holds. Idempotent."""
        self._stream.close()

    def _silence(self, last_sent: float) -> float:
        """Seconds until a heartbeat is due."""
        return max(0.0, last_sent + self._heartbeat - time.monotonic())

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield f"retry: {self._retry}\n\n".encode()
            last_sent = time.monotonic()
            while not self.closed:
                chunk = _frame(self._stream.read(self._silence(last_sent)))
                if chunk:
                    yield chunk
                    last_sent = time.monotonic()
                elif not self.closed and self._silence(last_sent) <= 0:
                    yield HEARTBEAT
                    last_sent = time.monotonic()
        finally:
            self.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            yield f"retry: {self._retry}\n\n".encode()
            last_sent = time.monotonic()
            while not self.closed:
                chunk = _frame(await self._stream.read_async(self._silence(last_sent)))
                if chunk:
                    yield chunk
                    last_sent = time.monotonic()
                elif not self.closed and self._silence(last_sent) <= 0:
                    yield HEARTBEAT
                    last_sent = time.monotonic()
        finally:
            self.close()
