"""The stats app's options, declared once: every entry point (ASGI, WSGI, Django) maps to them."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import ParamSpec, TypeVar

from .._validation import is_positive
from ..errors import InvalidArgument
from ..metrics import Metrics

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - depends on the Python version
    from importlib.abc import Traversable

__all__ = ["StatsConfig", "Traversable", "entry_point"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StatsConfig:
    """What the stats app serves, and to whom.

    Args:
        metrics: the :class:`~pymetrix.Metrics` whose data is served.
        token: require ``Authorization: Bearer <token>`` (or ``?token=``) on every route.
        allow_public: without a token, also serve clients that are not on loopback.
        heartbeat: seconds of silence before a live stream sends a heartbeat comment.
        retry: milliseconds a disconnected browser waits before reconnecting a stream.
        static: a directory to serve the dashboard from instead of the packaged one.
        buckets: ``/metrics`` histogram upper bounds in seconds, ascending (default:
            100 µs to 10 s, see ``pymetrix.web.prometheus.DEFAULT_BUCKETS``).
    """

    metrics: Metrics
    token: str | None = None
    allow_public: bool = False
    _: KW_ONLY
    heartbeat: float = 15.0
    retry: int = 2000
    static: Traversable | None = None
    buckets: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not is_positive(self.heartbeat):
            raise InvalidArgument("heartbeat", self.heartbeat, "a number of seconds > 0")
        if self.buckets is not None:
            bounds = tuple(self.buckets)
            if (
                not bounds
                or not all(is_positive(b) for b in bounds)
                or list(bounds) != sorted(set(bounds))
            ):
                raise InvalidArgument(
                    "buckets", self.buckets, "ascending, distinct bounds in seconds > 0"
                )
            object.__setattr__(self, "buckets", bounds)


def entry_point(
    config: Callable[P, StatsConfig],
) -> Callable[[Callable[[StatsConfig], R]], Callable[P, R]]:
    """Turn ``build(config) -> app`` into a function taking the arguments of ``config``.

    Every entry point (``stats_app``, ``wsgi_app``, ``stats_urls``) is so declared with
    :class:`StatsConfig`'s arguments, written once, there.
    """

    def decorate(build: Callable[[StatsConfig], R]) -> Callable[P, R]:
        @functools.wraps(build)
        def entry(*args: P.args, **kwargs: P.kwargs) -> R:
            return build(config(*args, **kwargs))

        # What help() and documentation tools show: the arguments taken, the app returned.
        returns = inspect.signature(build).return_annotation
        signature = inspect.signature(config).replace(return_annotation=returns)
        entry.__signature__ = signature  # type: ignore[attr-defined]
        return entry

    return decorate
