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

    Watches the file, and its directory for the file being made anew (SQLite removes
    the ``-wal`` file when its last connection closes), so that writes to the
    directory's other files never wake it.
    With ``native=False``, or where inotify is missing, the file's identity, size and
    modification time are compared every 5 ms instead.
    """

    def __init__(self, path: str, *, native: bool = True) -> None:
        self._path = os.path.abspath(path)
        self._name = os.path.basename(self._path).encode()
        self._inotify = _Inotify.open() if native else None
        self._poll: select.poll | None = None
        self._file_watch = -1
        directory = os.path.dirname(self._path)
        if (
            self._inotify is not None
            and self._inotify.add(directory, _IN_CREATE | _IN_MOVED_TO) < 0
        ):
            self._inotify.close()  # an unwatchable directory: compare stats instead
            self._inotify = None
        if self._inotify is not None:
            self._file_watch = self._inotify.add(self._path, _IN_MODIFY)
            self._poll = select.poll()
            self._poll.register(self._inotify.fd, select.POLLIN)
        self._seen = self._stat()

    @property
    def native(self) -> bool:
        """Whether the kernel wakes this watch (inotify), rather than a stat poll."""
        return self._inotify is not None

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
        assert self._inotify is not None
        written = False
        for watch, mask, name in self._inotify.read():
            if mask & _IN_Q_OVERFLOW or (watch == self._file_watch and mask & _IN_MODIFY):
                written = True
            elif name == self._name and mask & (_IN_CREATE | _IN_MOVED_TO):
                # A new file under the name: follow its writes from now on.
                self._file_watch = self._inotify.add(self._path, _IN_MODIFY)
                written = True
        return written

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def close(self) -> None:
        if self._inotify is not None:
            inotify, self._inotify, self._poll = self._inotify, None, None
            inotify.close()


class _Inotify:
    """An inotify instance (Linux), through libc."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc = libc
        self.fd = fd

    @classmethod
    def open(cls) -> _Inotify | None:
        """A new instance, or None where inotify is missing."""
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return None if fd < 0 else cls(libc, int(fd))

    def add(self, path: str, mask: int) -> int:
        """Watch ``path`` for ``mask``; the watch's id, or -1 (it does not exist)."""
        return int(self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask))

    def read(self) -> list[tuple[int, int, bytes]]:
        """``(watch, mask, name)`` of every event waiting."""
        events: list[tuple[int, int, bytes]] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(data):
                watch, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                events.append((watch, mask, data[start : start + length].rstrip(b"\0")))
                offset = start + length

    def close(self) -> None:
        os.close(self.fd)
