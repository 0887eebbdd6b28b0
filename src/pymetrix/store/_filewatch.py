"""Waking when a file is written: inotify on Linux, a cheap ``stat`` elsewhere.

SQLite has no way to notify another process of a commit, but every commit in WAL mode
writes the ``-wal`` file: a reader that wakes on that write learns of new rows within
a millisecond or two, where polling the database would have to run hundreds of times a
second to match.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import sys
import time

__all__ = ["FileWatch"]

_IN_MODIFY = 0x002
_IN_CREATE = 0x100
_IN_MOVED_TO = 0x080
_IN_Q_OVERFLOW = 0x4000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
# Without inotify: how often the file's size and time are looked at.
_STAT_EVERY = 0.005


class FileWatch:
    """Waits until ``path`` is written (or created), or for a timeout.

    Watches the file's directory, so that a file deleted and created again (SQLite
    removes the ``-wal`` file when its last connection closes) is still followed.
    With ``native=False``, or where inotify is missing, the file's identity, size and
    modification time are compared every 5 ms instead.
    """

    def __init__(self, path: str, *, native: bool = True) -> None:
        self._path = os.path.abspath(path)
        self._name = os.path.basename(self._path).encode()
        self._fd = _inotify(os.path.dirname(self._path)) if native else None
        self._poll: select.poll | None = None
        if self._fd is not None:
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)
        self._seen = self._stat()

    @property
    def native(self) -> bool:
        """Whether the kernel wakes this watch (inotify), rather than a stat poll."""
        return self._fd is not None

    def wait(self, timeout: float) -> bool:
        """True when the file was written, False after ``timeout`` seconds without."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._poll is None:
                time.sleep(min(left, _STAT_EVERY))
                now = self._stat()
                if now != self._seen:
                    self._seen = now
                    return True
                continue
            if self._poll.poll(left * 1000) and self._written():
                return True

    def _written(self) -> bool:
        assert self._fd is not None
        written = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return written
            offset = 0
            while offset < len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].rstrip(b"\0")
                offset = start + length
                if mask & _IN_Q_OVERFLOW or name == self._name:
                    written = True

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._poll = self._fd, None, None
            os.close(fd)


def _inotify(directory: str) -> int | None:
    """An inotify descriptor watching ``directory`` for writes, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    mask = _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO
    if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
        os.close(fd)
        return None
    return int(fd)
