"""The SQLite store: one file shared by every process on a host, no server.

Paths are spelled as SQLAlchemy spells them: ``sqlite:///pymetrix.db`` is relative to the
working directory, ``sqlite:////var/lib/app/pymetrix.db`` (four slashes) absolute;
``sqlite:p.db`` and ``sqlite://data/p.db`` are relative too. ``sqlite:/p.db`` (one slash)
is refused, as it could mean either. Options in the query string:
``flush_interval`` (seconds), ``batch_size``, ``max_buffer`` (hits), ``overflow``
(``drop`` or ``block``) and ``busy_timeout`` (seconds).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from ..clock import Clock
from ..errors import InvalidArgument, StoreError
from ._dialect import Dialect
from ._filewatch import FileWatch
from ._options import WRITER_OPTIONS, seconds, split_options
from ._schema import SCHEMA_VERSION, SQLITE_DDL, too_new, upgrade
from ._sql import SqlStore

__all__ = ["SQLiteDialect", "SQLiteStore", "open_sqlite"]


class SQLiteDialect(Dialect[sqlite3.Connection]):
    """SQLite's ways: a file in WAL mode, the file's write lock, its WAL file watched."""

    kind = "sqlite"
    driver_errors = (sqlite3.Error,)
    # Locked, busy, full, read-only, I/O errors are OperationalError: worth a retry.
    refused_errors = (
        sqlite3.IntegrityError,
        sqlite3.DataError,
        sqlite3.ProgrammingError,
        sqlite3.InterfaceError,
        sqlite3.NotSupportedError,
    )

    def __init__(self, path: str, busy_timeout: float, url: str, create: bool = True) -> None:
        super().__init__(create)
        self.path = path
        self.busy_timeout = busy_timeout
        self.url = url

    def connect(self, factory: type[sqlite3.Connection] = sqlite3.Connection) -> sqlite3.Connection:
        # mode=rw opens a file that exists, never creating one.
        target = self.path if self.create else f"file:{quote(os.path.abspath(self.path))}?mode=rw"
        conn = sqlite3.connect(
            target,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=not self.create,
            factory=factory,
        )
        try:
            # WAL mode is a property of the file: switch it once, when first made.
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            if mode != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives a crash of the process (kill -9) and
            # only a power loss can take the last transactions.
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def open(self) -> sqlite3.Connection:
        # Processes starting together race to create the file; SQLite does not call
        # its busy handler for every step of that (switching to WAL among them).
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return self._open_once()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _open_once(self) -> sqlite3.Connection:
        self._check_file()
        conn = self.connect()
        try:
            if not self.create:
                # Only to read: take no write lock unless the schema needs an upgrade.
                version = _schema_version(conn)
                if version is None:
                    raise StoreError("not a Pymetrix database: it holds no Pymetrix data", self.url)
                if version == SCHEMA_VERSION:
                    return conn
            with self._immediate(conn):
                version = _schema_version(conn)
                if version is None:
                    for statement in SQLITE_DDL:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO pymetrix_meta (key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                elif version > SCHEMA_VERSION:
                    raise too_new(version, self.url)
                elif version < SCHEMA_VERSION:
                    upgrade(conn, version, "?", "BLOB")
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_file(self) -> None:
        """Refuse, without writing to it, a file that is not a Pymetrix database."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            if self.create:
                return  # missing: it will be created
            raise StoreError(
                f"no SQLite database at {os.path.abspath(self.path)}: the file does not exist",
                self.url,
            ) from None
        if size == 0:
            if self.create:
                return
            raise StoreError("not a Pymetrix database: it holds no Pymetrix data", self.url)
        try:
            conn = sqlite3.connect(
                f"file:{quote(os.path.abspath(self.path))}?mode=ro",
                uri=True,
                timeout=self.busy_timeout,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite file: {exc}", self.url) from exc
        try:
            try:
                tables = {
                    name
                    for (name,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    )
                }
                version = _schema_version(conn) if "pymetrix_meta" in tables else None
            except sqlite3.DatabaseError as exc:
                raise StoreError(
                    f"not a Pymetrix database: the file is not SQLite or is damaged ({exc})",
                    self.url,
                ) from exc
        finally:
            conn.close()
        if "pymetrix_meta" not in tables and tables - {"sqlite_sequence"}:
            raise StoreError(
                "not a Pymetrix database: the file holds another program's tables "
                f"({', '.join(sorted(tables))}); give Pymetrix a file of its own",
                self.url,
            )
        if version is not None and version > SCHEMA_VERSION:
            raise too_new(version, self.url)

    def register_app(self, conn: sqlite3.Connection, name: str) -> int:
        with self._immediate(conn):
            conn.execute("INSERT OR IGNORE INTO pymetrix_apps (name) VALUES (?)", (name,))
            (app_id,) = conn.execute(
                "SELECT id FROM pymetrix_apps WHERE name = ?", (name,)
            ).fetchone()
        return int(app_id)

    @contextlib.contextmanager
    def read_txn(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def write_txn(
        self, conn: sqlite3.Connection, app: int
    ) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._immediate(conn)

    @staticmethod
    @contextlib.contextmanager
    def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the file's write lock first: the counts read to number the
        # batch's hits cannot change before it commits.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def latest_id(self, conn: sqlite3.Connection, app: int) -> int:
        # One writer at a time and AUTOINCREMENT: ids are committed in order, so the
        # newest id of the file bounds what every app has committed.
        (latest,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM pymetrix_chunks").fetchone()
        return int(latest)

    def unreachable(self, exc: BaseException) -> bool:
        # Other processes held the file's write lock for all of busy_timeout (a busy
        # machine, a long import): the application starts, its hits wait for the lock.
        return isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)
        )

    def is_stored_batch(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "pymetrix_chunks.batch" in str(exc)

    def watch_connect(self) -> sqlite3.Connection:
        conn = self.connect(_WatchedConnection)
        assert isinstance(conn, _WatchedConnection)
        try:
            conn.follow(f"{self.path}-wal")
        except BaseException:
            conn.close()
            raise
        return conn

    def watch_wait(self, conn: sqlite3.Connection, timeout: float) -> None:
        # A commit writes the WAL file, then publishes itself in the shared-memory
        # index, which moves the connection's data_version. Waking on the write and
        # confirming with data_version (a read of shared memory, no I/O) delivers a
        # commit within a millisecond or two, while the database itself is still
        # queried at most twenty times a second when nothing happens.
        assert isinstance(conn, _WatchedConnection)
        conn.wait_for_commit(min(timeout, _WATCH_POLL))


_WATCH_POLL = 0.05  # seconds between looks at the database when nothing wakes the watcher
# After the WAL file is written: how long, and how often, to look for the commit.
_COMMIT_GRACE = 0.02
_COMMIT_STEP = 0.0005


class _WatchedConnection(sqlite3.Connection):
    """A connection that waits for other connections' commits (see ``watch_wait``)."""

    _watch: FileWatch | None = None
    _version = -1

    def follow(self, wal: str) -> None:
        self._watch = FileWatch(wal)
        self._version = self._data_version()

    def _data_version(self) -> int:
        (version,) = self.execute("PRAGMA data_version").fetchone()
        return int(version)

    def wait_for_commit(self, timeout: float) -> None:
        """Return soon after another connection commits, or after ``timeout`` seconds."""
        assert self._watch is not None
        deadline = time.monotonic() + timeout
        while self._watch.wait(deadline - time.monotonic()):
            # The write may come just before the commit is published: look again briefly.
            grace = min(deadline, time.monotonic() + _COMMIT_GRACE)
            while True:
                version = self._data_version()
                if version != self._version:
                    self._version = version
                    return
                if time.monotonic() >= grace:
                    break
                time.sleep(_COMMIT_STEP)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        super().close()


class SQLiteStore(SqlStore):
    """Hits in a SQLite file (WAL mode), written in batches by a background thread.

    Args:
        path: the database file; created with its tables if missing.
        app: the app whose hits these are; apps share a file without mixing.
        clock: the clock retention is measured against.
        retention: per-hit data older than this is deleted (counts stay exact).
        rollup_retention: rollups older than this are deleted (default: kept; each
            tier also has a bound of its own, see ``_rollup``).
        flush_interval: seconds between writes of queued hits.
        batch_size: hits written per transaction at most.
        max_buffer: hits kept in memory at most while the file cannot be written.
        overflow: with ``max_buffer`` hits queued, ``"drop"`` newer ones (counted in
            ``dropped``) or ``"block"`` recording until the database catches up.
        busy_timeout: seconds to wait for another process's write lock.
        url: the store as named in messages (default: a URL made from ``path``).
        read_only: only read a database that exists: a missing file is a ``StoreError``
            instead of being created, the app is not registered, hits are refused.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        app: str = "default",
        clock: Clock | None = None,
        retention: timedelta | None = None,
        flush_interval: float = 0.5,
        batch_size: int = 50_000,
        max_buffer: int = 1_000_000,
        overflow: str = "drop",
        rollup_retention: timedelta | None = None,
        busy_timeout: float = 5.0,
        url: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            raise InvalidArgument("SQLite path", self.path, "a file path")
        url = url or f"sqlite:///{self.path}"  # absolute paths give the four slashes
        super().__init__(
            SQLiteDialect(self.path, busy_timeout, url, create=not read_only),
            url,
            app=app,
            clock=clock,
            retention=retention,
            flush_interval=flush_interval,
            batch_size=batch_size,
            max_buffer=max_buffer,
            overflow=overflow,
            rollup_retention=rollup_retention,
            read_only=read_only,
        )


def _schema_version(conn: sqlite3.Connection) -> int | None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pymetrix_meta'"
    ).fetchone()
    if exists is None:
        return None
    row = conn.execute("SELECT value FROM pymetrix_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


_SQLITE_OPTIONS = {**WRITER_OPTIONS, "busy_timeout": seconds(0, 3600)}


def open_sqlite(url: str, options: Any) -> SQLiteStore:
    """The ``sqlite://`` scheme's factory for :func:`pymetrix.store.open_store`."""
    rest = url[len("sqlite:") :]
    if rest.startswith("/") and not rest.startswith("//"):
        # urlsplit parses sqlite:/p.db as sqlite:///p.db (relative), while it looks
        # like the absolute /p.db: refuse to guess which was meant.
        raise InvalidArgument(
            "store URL",
            url,
            f"sqlite://{rest} (relative to the working directory) or sqlite:///{rest} (absolute)",
        )
    bare, settings = split_options(url, url, _SQLITE_OPTIONS, keep_unknown=False)
    parts = urlsplit(bare)
    path = parts.netloc + parts.path
    if path.startswith("//"):
        path = "/" + path.lstrip("/")  # sqlite:////abs/path
    elif not parts.netloc and path.startswith("/"):
        path = path[1:]  # sqlite:///relative/path
    if not path:
        raise InvalidArgument("store URL", url, "sqlite:///path/to/file.db")
    if path.lstrip("/") == ":memory:":
        raise InvalidArgument("SQLite path", ":memory:", "a file path (use memory:// instead)")
    return SQLiteStore(
        path,
        app=options.app,
        clock=options.clock,
        retention=options.retention,
        rollup_retention=options.rollup_retention,
        url=url,
        read_only=options.read_only,
        **settings,
    )
