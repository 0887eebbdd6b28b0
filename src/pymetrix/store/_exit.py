"""SIGTERM under uvicorn: the stores write what they hold before the process ends.

uvicorn's ``Server.serve()`` takes SIGINT and SIGTERM over for a graceful shutdown; once
it is over, it puts back the handlers it found and raises the signal again, so that the
process ends as the signal asks. For SIGTERM the handler it finds is the default one: the
process dies on the spot, no ``atexit`` handler or multiprocessing finalizer runs, and
the hits a persistent store still holds in memory (up to ``flush_interval`` of them, in
every worker) are lost. SIGINT alone needs nothing: its default handler raises
``KeyboardInterrupt``, the process exits normally and its exit handlers close the stores.
(Ctrl-C on ``uvicorn --workers`` also has the supervisor send its workers SIGTERM.)

So when a store comes under management on the main thread, SIGTERM's handler is looked at:

- uvicorn's own (each ``--workers`` or ``--reload`` worker imports the app inside
  ``serve()``): it is wrapped. uvicorn still begins its graceful shutdown, but the signal
  is taken off the list it raises again and kept here. The process runs on to its normal
  exit, where the stores are closed; then the signal is raised with the default handler,
  so the process still ends by SIGTERM, as its supervisor expects. Exit handlers that
  would run after ours are skipped, as uvicorn's own raise skipped them all.
- the default one, in a process that has loaded uvicorn (``uvicorn app:app`` imports the
  app before ``serve()``; a script opens its store before calling ``uvicorn.run(app)``):
  a handler is installed, which uvicorn finds and puts back. Raised by uvicorn after its
  shutdown (from ``capture_signals``), it closes the stores and ends the process by
  SIGTERM. Raised from anywhere else it does what the default does, at once: a signal
  interrupts the main thread at any point, maybe while it holds a lock a store needs to
  close, and a flush there could hang a process that was told to stop. A Python handler
  for SIGTERM is nothing new to a process that runs uvicorn, whose own is one; in any
  other process the default stays: a library does not change how a process answers
  SIGTERM for a server that is not there.
- anything else (the application's own handler): left alone.

What is probed of uvicorn (``Server.handle_exit``, ``_captured_signals``,
``capture_signals``) is probed here only; anything unexpected means nothing is done.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["end_by_deferred_signal", "watch_sigterm"]

_deferred: int | None = None
"""The signal uvicorn was kept from raising, raised at exit once the stores are closed."""


def watch_sigterm(close_all: Callable[[], None]) -> None:
    """Have the stores written before uvicorn ends this process by SIGTERM.

    Args:
        close_all: closes every managed store; run just before the process ends.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set a handler
    handler = signal.getsignal(signal.SIGTERM)
    if isinstance(handler, (_DeferUvicornRaise, _CloseBeforeDefault)):
        return
    captured = _uvicorn_captured_signals(handler)
    replacement: Callable[[int, FrameType | None], None]
    if captured is not None and callable(handler):
        replacement = _DeferUvicornRaise(handler, captured)
    elif handler is signal.SIG_DFL and "uvicorn.server" in sys.modules:
        replacement = _CloseBeforeDefault(close_all)
    else:
        return
    with contextlib.suppress(OSError, ValueError):
        signal.signal(signal.SIGTERM, replacement)


def end_by_deferred_signal() -> None:
    """Raise the signal uvicorn was kept from raising, with the default handler, if any."""
    if _deferred is None:
        return
    with contextlib.suppress(OSError, ValueError):
        signal.signal(_deferred, signal.SIG_DFL)
    signal.raise_signal(_deferred)


class _DeferUvicornRaise:
    """Wraps uvicorn's SIGTERM handler: the shutdown begins, the raise after it waits."""

    def __init__(
        self, handle_exit: Callable[[int, FrameType | None], Any], captured: list[int]
    ) -> None:
        self._handle_exit = handle_exit
        self._captured = captured

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        global _deferred
        self._handle_exit(signum, frame)
        self._captured[:] = [captured for captured in self._captured if captured != signum]
        _deferred = signum


class _CloseBeforeDefault:
    """Stands for the default SIGTERM handler; closes the stores first if uvicorn raised it."""

    def __init__(self, close_all: Callable[[], None]) -> None:
        self._close_all = close_all

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if _raised_by_uvicorn(frame):
            self._close_all()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def _uvicorn_captured_signals(handler: Any) -> list[int] | None:
    """The signals to raise again of the uvicorn server whose ``handle_exit`` ``handler`` is."""
    try:
        function = getattr(handler, "__func__", None)
        captured = getattr(getattr(handler, "__self__", None), "_captured_signals", None)
        if (
            getattr(function, "__name__", None) == "handle_exit"
            and _from_uvicorn(getattr(function, "__module__", None))
            and isinstance(captured, list)
        ):
            return captured
    except Exception:  # a handler that answers getattr oddly is not uvicorn's
        return None
    return None


def _raised_by_uvicorn(frame: FrameType | None) -> bool:
    """Whether ``frame`` is uvicorn raising a signal again after its graceful shutdown."""
    return (
        frame is not None
        and frame.f_code.co_name == "capture_signals"
        and _from_uvicorn(frame.f_globals.get("__name__"))
    )


def _from_uvicorn(module: object) -> bool:
    return isinstance(module, str) and module.partition(".")[0] == "uvicorn"
