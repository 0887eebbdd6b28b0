"""Chunks: a batch of hits packed into one blob and back."""

from __future__ import annotations

import math
from array import array

import pytest

from pymetrix import StoreError
from pymetrix.store._chunks import Chunk, decode, decode_bases, encode, encode_bases


def test_chunk_round_trips_every_column() -> None:
    chunk = Chunk(
        times=array("q", [1, 2, 2**62]),
        keys=array("q", [0, (3 + 1) << 32 | 7, 5]),
        durations=array("d", [math.nan, 0.25, 1e6]),
        statuses=array("H", [0, 200, 599]),
    )
    back = decode(encode(chunk), 3)
    assert back.times == chunk.times
    assert back.keys == chunk.keys
    assert math.isnan(back.durations[0])
    assert list(back.durations[1:]) == [0.25, 1e6]
    assert back.statuses == chunk.statuses


def test_chunk_of_the_wrong_size_is_refused() -> None:
    data = encode(Chunk(array("q", [1]), array("q", [2]), array("d", [0.5]), array("H", [1])))
    with pytest.raises(StoreError, match="damaged chunk"):
        decode(data + b"\0", 1)


def test_bases_round_trip_in_order() -> None:
    bases = {7: 0, 2: 41, 2**31: 2**40}
    assert list(decode_bases(encode_bases(bases)).items()) == list(bases.items())
