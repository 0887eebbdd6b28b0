"""Where stores meet the process: closed at exit, restarted in a forked child.

Persistent stores hold hits in memory on their way to the database, so every way a
process ends normally must close them (which writes what they hold):

- interpreter exit: ``atexit``;
- a multiprocessing child (uvicorn's workers among them), which leaves through
  ``os._exit`` after multiprocessing's own finalizers, skipping ``atexit``: a
  multiprocessing finalizer, registered again in each child since its registry is
  emptied there;
- SIGTERM under uvicorn, which would end the process before either: see ``_exit.py``.

In a forked child, locks held by the parent's threads at fork time and the threads
themselves are gone: every store registered here is told, and starts afresh (the memory
store only needs new locks; a persistent store a new writer thread and connections).
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from multiprocessing import util as multiprocessing_util
from typing import Any, Protocol

from ._exit import end_by_deferred_signal, watch_sigterm

__all__ = ["Closable", "Forkable", "after_fork", "manage"]

logger = logging.getLogger("pymetrix")


class Forkable(Protocol):
    """What :func:`after_fork` looks after: told about a fork."""

    def _after_fork_in_child(self) -> None: ...


class Closable(Forkable, Protocol):
    """What :func:`manage` looks after: closed at exit, told about a fork."""

    def close(self) -> None: ...


_managed: weakref.WeakSet[Any] = weakref.WeakSet()
_forkable: weakref.WeakSet[Any] = weakref.WeakSet()


def manage(obj: Closable) -> None:
    """Close ``obj`` whenever the process ends normally, and tell it about a fork.

    Under uvicorn, also before its SIGTERM ends the process (see ``_exit``).
    """
    _managed.add(obj)
    _forkable.add(obj)
    watch_sigterm(_close_all_at_exit)


def after_fork(obj: Forkable) -> None:
    """Call ``obj._after_fork_in_child()`` in a forked child."""
    _forkable.add(obj)


def _close_all_at_exit() -> None:
    for obj in list(_managed):
        try:
            obj.close()
        except Exception:
            logger.exception("pymetrix: could not close %r at exit", obj)
    end_by_deferred_signal()


def _restart_all_in_child() -> None:
    for obj in list(_forkable):
        obj._after_fork_in_child()


def _close_at_multiprocessing_exit(_: object = None) -> None:
    # Its registry is emptied in every new child: registered again there.
    multiprocessing_util.Finalize(None, _close_all_at_exit, exitpriority=100)


class _ForkToken:
    """Lives as long as this module: multiprocessing's after-fork hooks need an object."""


_FORK_TOKEN = _ForkToken()

atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_all_in_child)
_close_at_multiprocessing_exit()
multiprocessing_util.register_after_fork(_FORK_TOKEN, _close_at_multiprocessing_exit)
