"""A SQLite file that cannot be written for a while: hits wait in memory, none lost or doubled.

Read-only: file modes bind a process only when it opens a file. A WAL-mode connection
opened before ``chmod 0444`` keeps writing (to the database, its ``-wal`` and ``-shm``
alike, even with the directory made read-only too); only a connection opened afterwards
is read-only, and its first write fails with "attempt to write a readonly database". The
store opens its writer's connection at the first write and opens a new one after any
failed write, so the test makes the file read-only between the child's opening the store
and its first write. As root, file modes bind nobody: the child then runs as root without
the capabilities that override them (``setpriv``), since the interpreter lives where a
user such as ``nobody`` cannot run it.

Full disk: a real, small file system mounted for the test (tmpfs, and ext4 on a loop
device), filled up by a ballast file while the child writes, then freed. Mounting needs
root. Not covered: a disk that fills during a checkpoint or while the ``-shm`` file grows,
nor a WAL reusing the space a checkpoint freed (its commits need no new space).
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Child, Report, Spawn, assert_sqlite_intact, audit

RATE = 20_000
# How long writes keep failing: several retries, as the writer backs off.
FAILING_FOR = 1.0
OPTIONS = "flush_interval=0.05"
# Root skips file modes unless these capabilities are gone.
AS_A_USER = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]
    if os.geteuid() == 0
    else []
)


def finish(child: Child, url: str, during: Report) -> None:
    """Stop ``child`` and check that the store holds each hit it recorded, once."""
    report = child.stop()
    found = audit(url)
    print(
        f"recorded={report.recorded} pending during the fault={during.pending} "
        f"stored={found.stored} dropped={report.dropped} duplicated={found.duplicated}"
    )
    assert (report.flushed, report.dropped) == (True, 0)
    assert found.foreign([range(report.recorded)]) == []
    assert found.duplicated == 0
    assert found.stored == found.counted == report.recorded
    assert_sqlite_intact(url)


def test_read_only_file_keeps_hits_buffered_until_writable_again(
    tmp_path: Path, spawn: Spawn
) -> None:
    db = tmp_path / "faults.db"
    url = f"sqlite:///{db}?{OPTIONS}"
    child = spawn(url, 0, "--wait", "--rate", str(RATE), prefix=AS_A_USER)
    assert child.line() == "opened"
    db.chmod(0o444)
    child.send("go")
    child.wait_for_log(
        "cannot write hits, keeping them buffered and retrying: "
        "attempt to write a readonly database"
    )
    time.sleep(FAILING_FOR)
    failing = child.report()
    # Nothing written yet: every hit recorded is still held.
    assert failing.pending == failing.recorded > 0
    db.chmod(0o644)
    child.wait_for_log("writing again")
    finish(child, url, failing)


def test_file_made_read_only_under_an_open_connection_is_still_written(
    tmp_path: Path, spawn: Spawn
) -> None:
    db = tmp_path / "faults.db"
    url = f"sqlite:///{db}?{OPTIONS}"
    child = spawn(url, 0, "--rate", str(RATE), prefix=AS_A_USER)
    child.send("flush")
    assert child.expect("flushed")[1] == "True"
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), tmp_path):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        child.send("flush")
        assert child.expect("flushed")[1] == "True"
        during = child.report()
    finally:
        tmp_path.chmod(0o755)
    assert "cannot write" not in child.stderr()
    finish(child, url, during)


@pytest.fixture(params=["tmpfs", "ext4"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A small file system mounted for the test; unmounted once its children are gone."""
    where = tmp_path / "disk"
    where.mkdir()
    if request.param == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", where], check=True)
    else:
        image = tmp_path / "disk.img"
        with image.open("wb") as file:
            file.truncate(8 << 20)
        # No blocks reserved for root: the child, root here, sees the disk full too.
        subprocess.run(["mkfs.ext4", "-q", "-m", "0", image], check=True)
        subprocess.run(["mount", "-o", "loop", image, where], check=True)
    yield where
    subprocess.run(["umount", where], check=True)


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the disk is full; the bytes written."""
    written = 0
    block = bytes(64 << 10)
    with path.open("wb", buffering=0) as file:
        while True:
            try:
                written += file.write(block) or 0
                continue
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            if len(block) == 1:
                return written
            block = block[: len(block) // 2]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system needs root")
def test_full_disk_keeps_hits_buffered_until_space_is_freed(disk: Path, spawn: Spawn) -> None:
    url = f"sqlite:///{disk}/faults.db?{OPTIONS}"
    child = spawn(url, 0, "--rate", str(RATE))
    child.send("flush")
    assert child.expect("flushed")[1] == "True"
    ballast = disk / "ballast"
    fill(ballast)
    child.wait_for_log(
        "cannot write hits, keeping them buffered and retrying: database or disk is full"
    )
    time.sleep(FAILING_FOR)
    failing = child.report()
    assert failing.pending > 0
    ballast.unlink()
    child.wait_for_log("writing again")
    finish(child, url, failing)
