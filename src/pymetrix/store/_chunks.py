"""Packing a batch of hits into one blob, and back, at the speed of ``array``.

Layout of a chunk of ``n`` hits, every number little-endian: ``n`` times (int64 ns),
``n`` ordinals (int64), ``n`` durations (float64 seconds, NaN for none), ``n`` nodes
(int32), ``n`` callers (int32, -1 for none), ``n`` statuses (uint16, 0 for none).
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from typing import Any

__all__ = ["Chunk", "decode", "encode"]

_LAYOUT = (
    ("times", "q"),
    ("ordinals", "q"),
    ("durations", "d"),
    ("nodes", "i"),
    ("callers", "i"),
    ("statuses", "H"),
)
_SIZES = {"q": 8, "d": 8, "i": 4, "H": 2}
if any(array(code).itemsize != _SIZES[code] for _, code in _LAYOUT):  # pragma: no cover
    raise ImportError("pymetrix needs 2-byte short, 4-byte int and 8-byte long long")
_SWAP = sys.byteorder == "big"


@dataclass(frozen=True, slots=True)
class Chunk:
    """The hits of one written batch, in columns, in time order."""

    times: array[int]
    ordinals: array[int]
    durations: array[float]
    nodes: array[int]
    callers: array[int]
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
        raise ValueError(f"damaged chunk: {len(view)} bytes for {count} hits")
    return Chunk(*columns)
