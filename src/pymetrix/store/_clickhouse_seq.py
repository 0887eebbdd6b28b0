"""Hit numbers in the ClickHouse store: one order for every process writing an app.

A live stream resumes from a hit's number (``seq``), so numbers must be dense, given
once, and read in the order they were given, whichever process wrote the hits.

**Claims.** Before it inserts a batch, the writer inserts a claim: one row in
``pymetrix_claims`` with the batch's hits per node. On a server, a MergeTree part gets
its block number under the table's lock at the moment it becomes visible, so whoever
sees a claim also sees every claim with a lower block number. A batch's hits are
numbered on from the hits of all those claims, which every writer adds up alike: no two
batches get the same numbers, and none is skipped. A claim is inserted under the batch's
deduplication token, so a batch retried after a lost reply finds its own claim and the
same numbers. ``pymetrix_marks`` keeps, now and then, the totals up to a claim, so that
a writer adds up the claims made since the newest mark, not all of them; once an hour a
writer deletes the claims below a mark, and the written ranges settled an hour before.

**Settled.** A claimed range is written a moment later, and writers finish out of
order, so a subscriber must not read past a range still being written. A view keeps
each inserted block's range of numbers in ``pymetrix_written``; the numbers up to the
first hole in those ranges are settled. A hole whose next range was written
``SETTLE_SECONDS`` ago is given up (its writer died or is still retrying), and the
subscribers count its hits as dropped.

On a cluster the claims are replicated tables, whose block numbers are only in order on
each replica, and each shard records the range of its own part of a batch: there, live
streams are not exact (counts, flows and rollups are).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SETTLE_SECONDS", "Numbering", "settled"]

SETTLE_SECONDS = 10.0
"""How long a subscriber waits for a claimed range to be written before giving it up."""

_MARK_EVERY = 60.0  # seconds between marks written by a writer
_TRUST = 1800.0  # a writer's previous claim is a start for its next for this long
_PRUNE_EVERY = 3600.0  # seconds between deletes of claims below a mark
_CLAIM_SETTINGS = {"insert_deduplicate": 1}


@dataclass
class _Mark:
    """The app's hits (in all and per node) in every claim up to block ``block``."""

    block: int = 0
    hits: int = 0
    nodes: dict[str, int] = field(default_factory=dict)


class Numbering:
    """Claims numbers for one app's batches (on the writer thread of one store)."""

    def __init__(
        self, table: Callable[[str], str], delete_from: Callable[[str], str], app: str
    ) -> None:
        self._table = table
        self._delete_from = delete_from  # the table to DELETE from (a cluster's local one)
        self._app = app
        self._last = _Mark()
        self._last_at = 0.0  # when ``_last`` was claimed (monotonic)
        self._marked_at = -_MARK_EVERY
        self._mark_block = 0  # a mark stored at the last prune
        self._settled = 0  # settled at the last prune
        self._pruned_at = time.monotonic()

    def reset(self) -> None:
        """Forget what this process knew (after a fork: the parent's writer is not ours)."""
        self._last = _Mark()
        self._marked_at = -_MARK_EVERY

    def claim(self, client: Any, batch_id: int, nodes: Sequence[str]) -> dict[str, int]:
        """The app's hits per node claimed before this batch: its numbers follow them.

        Inserts the batch's claim (or finds it, when the batch is retried) and adds up
        the claims below it: those since this writer's previous claim (one query), or
        since the newest mark when that is an hour old or more. Raises the driver's
        errors.
        """
        counts = Counter(nodes)
        client.insert(
            self._table("pymetrix_claims"),
            [[self._app], [batch_id], [len(nodes)], [dict(counts)]],
            column_names=("app", "batch", "hits", "nodes"),
            column_oriented=True,
            settings={**_CLAIM_SETTINGS, "insert_deduplication_token": f"claim-{batch_id}"},
        )
        now = time.monotonic()
        start = self._last
        base = None
        if start.block and now - self._last_at < _TRUST:
            base = self._since(client, batch_id, start)
        if base is None:  # no claim of ours to start from, or a retry of our newest
            base = self._since(client, batch_id, self._stored_mark(client, batch_id))
            assert base is not None
        totals = dict(base.nodes)
        for node, count in counts.items():
            totals[node] = totals.get(node, 0) + count
        self._last = _Mark(base.block, base.hits + len(nodes), totals)
        self._last_at = now
        if now - self._marked_at >= _MARK_EVERY:
            self._mark(client, now)
        return base.nodes  # a dict of its own: the caller counts on in it

    def _mine(self) -> str:
        """A scalar subquery: the block number of claim ``{batch}``."""
        return (
            f"(SELECT min(_block_number) FROM {self._table('pymetrix_claims')} "
            "WHERE app = {app:String} AND batch = {batch:UInt64})"
        )

    def _since(self, client: Any, batch_id: int, start: _Mark) -> _Mark | None:
        """The totals below claim ``batch_id``, adding the claims after ``start`` to it;
        None if ``start`` is not below that claim."""
        rows = client.query(
            f"WITH {self._mine()} AS mine "
            "SELECT mine, toUInt64(sum(hits)), sumMap(nodes) "
            f"FROM {self._table('pymetrix_claims')} WHERE app = {{app:String}} "
            "AND _block_number > {low:UInt64} AND _block_number < mine",
            parameters={"app": self._app, "batch": batch_id, "low": start.block},
        ).result_rows
        mine, hits, nodes = int(rows[0][0]), int(rows[0][1]), rows[0][2]
        if mine <= start.block:
            return None
        totals = dict(start.nodes)
        for node, count in nodes.items():
            totals[node] = totals.get(node, 0) + int(count)
        return _Mark(mine, start.hits + hits, totals)

    def _stored_mark(self, client: Any, batch_id: int) -> _Mark:
        """The newest mark below claim ``batch_id`` (none: the start)."""
        stored = client.query(
            f"SELECT block, hits, nodes FROM {self._table('pymetrix_marks')} "
            f"WHERE app = {{app:String}} AND block < {self._mine()} "
            "ORDER BY block DESC LIMIT 1",
            parameters={"app": self._app, "batch": batch_id},
        ).result_rows
        if not stored:
            return _Mark()
        block, hits, nodes = stored[0]
        return _Mark(int(block), int(hits), dict(nodes))

    def _mark(self, client: Any, now: float) -> None:
        """Store the totals up to this writer's newest claim (the newest mark is the one
        kept); once an hour, delete what is no longer read."""
        last = self._last
        client.insert(
            self._table("pymetrix_marks"),
            [[self._app], [last.block], [last.hits], [last.nodes]],
            column_names=("app", "block", "hits", "nodes"),
            column_oriented=True,
        )
        self._marked_at = now
        if now - self._pruned_at >= _PRUNE_EVERY:
            self._pruned_at = now
            self.prune(client)
            self._mark_block = last.block

    def prune(self, client: Any) -> None:
        """Delete the claims below the mark this writer stored at the last prune, and the
        written ranges below what was settled then: an hour later, no writer or
        subscriber reads them any more."""
        params = {"app": self._app, "below": self._mark_block, "settled": self._settled}
        if self._mark_block:
            client.command(
                f"DELETE FROM {self._delete_from('pymetrix_claims')} "
                "WHERE app = {app:String} AND _block_number < {below:UInt64}",
                parameters=params,
            )
        if self._settled:
            client.command(
                f"DELETE FROM {self._delete_from('pymetrix_written')} "
                "WHERE app = {app:String} AND last < {settled:UInt64}",
                parameters=params,
            )
        self._settled = settled(client, self._table, self._app, 0, SETTLE_SECONDS)


def settled(client: Any, table: Callable[[str], str], app: str, start: int, settle: float) -> int:
    """The highest number up to which every hit of ``app`` is written or given up,
    from ``start`` (known settled) on."""
    written = table("pymetrix_written")
    params: dict[str, Any] = {"app": app, "start": start, "settle": settle}
    # Below a range written ``settle`` ago, every hole is given up.
    old = client.query(
        f"SELECT last FROM {written} WHERE app = {{app:String}} "
        "AND at <= now64(3) - toIntervalMillisecond(toInt64({settle:Float64} * 1000)) "
        "ORDER BY last DESC LIMIT 1",
        parameters=params,
    ).result_rows
    if old:
        start = max(start, int(old[0][0]))
    rows = client.query(
        f"SELECT first, last FROM {written} WHERE app = {{app:String}} "
        "AND last > {start:UInt64} ORDER BY first",
        parameters={**params, "start": start},
    ).result_rows
    for first, last in rows:
        if first > start + 1:
            break
        start = max(start, int(last))
    return start
