"""Packing a batch of hits into one blob, and back, at the speed of ``array``.

Layout of a chunk of ``n`` hits, every number little-endian: ``n`` times (int64 ns),
``n`` keys (int64, ``(caller + 1) << 32 | node`` as in :class:`~pymetrix.store.HitColumns`,
caller -1 for none), ``n`` durations (float64 seconds, NaN for none), ``n`` statuses
(uint16, 0 for none).

Beside it, a chunk's ``bases``: (node, hits before this chunk) int64 pairs for every node
in it. A live subscriber counts on from them to each hit's running total, so the writer
spends nothing per hit on it. One more pair, keyed :data:`ALL_NODES` (-1, never a node),
holds the app's hits of every node before the chunk: the chunk's first hit is the app's
hit number ``that + 1``, which is the ``seq`` a subscriber resumes from.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError

__all__ = ["ALL_NODES", "Chunk", "decode", "decode_bases", "encode", "encode_bases"]

ALL_NODES = -1
"""The ``bases`` key of the app's hits of every node before a chunk."""

_LAYOUT = (
    ("times", "q"),
    ("keys", "q"),
    ("durations", "d"),
    ("statuses", "H"),
)
_SIZES = {"q": 8, "d": 8, "H": 2}
if any(array(code).itemsize != _SIZES[code] for _, code in _LAYOUT):  # pragma: no cover
    raise ImportError("pymetrix needs a 2-byte short and an 8-byte long long")
_SWAP = sys.byteorder == "big"


@dataclass(frozen=True, slots=True)
class Chunk:
    """The hits of one written batch, in columns, in time order."""

    times: array[int]
    keys: array[int]
    durations: array[float]
    statuses: array[int]

    def __len__(self) -> int:
        return len(self.times)


def encode(chunk: Chunk) -> bytes:
    parts = []
    for name, _ in _LAYOUT:
        column: array[Any] = getattr(chunk, name)
        if _SWAP:
            column = array(column.typecode, column)
            column.byteswap()
        parts.append(column.tobytes())
    return b"".join(parts)


def decode(data: bytes | memoryview, count: int) -> Chunk:
    view = memoryview(data)
    columns: list[Any] = []
    offset = 0
    for _, code in _LAYOUT:
        column = array(code)
        size = column.itemsize * count
        column.frombytes(view[offset : offset + size])
        offset += size
        if _SWAP:
            column.byteswap()
        columns.append(column)
    if offset != len(view):
        raise StoreError(f"damaged chunk: {len(view)} bytes for {count} hits")
    return Chunk(*columns)


def encode_bases(bases: dict[int, int]) -> bytes:
    pairs = array("q")
    for node, hits in bases.items():
        pairs.append(node)
        pairs.append(hits)
    if _SWAP:
        pairs.byteswap()
    return pairs.tobytes()


def decode_bases(data: bytes | memoryview) -> dict[int, int]:
    pairs = array("q")
    pairs.frombytes(data)
    if _SWAP:
        pairs.byteswap()
    return dict(zip(pairs[::2], pairs[1::2]))
