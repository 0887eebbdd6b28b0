"""A mergeable latency sketch with a bounded relative error: DDSketch's log buckets.

Why this one (Masson, Rim and Lee, "DDSketch", VLDB 2019): a duration ``x`` lands in
bucket ``ceil(log_gamma(x))`` with ``gamma = (1 + a) / (1 - a)``; every value of a
bucket is within the relative accuracy ``a`` of the bucket's representative
``2 gamma^i / (gamma + 1)``, so any quantile read from the buckets is within ``a`` of
the exact nearest-rank value, whatever the distribution. Merging two sketches adds
their bucket counts, exactly and in any order (t-digest's results depend on merge
order); that is what lets a rollup of a minute merge into an hour, and rows written by
several processes into one answer. Web latencies from a microsecond to an hour take at
most ~1,000 buckets at 1 %, and a node's latencies usually a few dozen. HDR histograms
would do too, but need their range fixed up front.

Durations are seconds. Below one microsecond (the precision Pymetrix keeps) a duration
counts in a zero bucket, read back as 0.

The stored encoding (``encode``/``decode``), documented in docs/storage.md, is for SQL:
a little-endian sequence of ``(int32 index, int64 count)`` pairs in ascending index
order; the zero bucket has index -2147483648. A bucket's representative value is
``2 * 1.0202...^index / (1.0202... + 1)`` seconds.
"""

from __future__ import annotations

import math
import os
import struct
from bisect import bisect_left
from collections.abc import Sequence
from functools import cache
from itertools import accumulate, chain

__all__ = [
    "ACCURACY",
    "GAMMA",
    "ZERO",
    "Sketch",
    "decode",
    "encode",
    "grouped_quantiles",
    "grouped_quantiles_py",
    "has_numpy",
    "quantiles_of",
]

ACCURACY = 0.01
"""The relative accuracy of every quantile a sketch gives."""

GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
_SCALE = 1 / _LOG_GAMMA
ZERO = -(1 << 31)
"""The index of the bucket of durations below one microsecond."""
_MIN = 1e-6
_PAIR = struct.Struct("<iq")


def index_of(seconds: float) -> int:
    """The bucket of a duration."""
    if seconds < _MIN:
        return ZERO
    return math.ceil(math.log(seconds) * _SCALE)


def sketch_indexes(durations: list[float]) -> list[int]:
    """The bucket of each duration (none below a microsecond: see ``index_of``)."""
    log, ceil, scale, zero = math.log, math.ceil, _SCALE, ZERO
    return [ceil(log(d) * scale) if d >= _MIN else zero for d in durations]


def value_of(index: int) -> float:
    """The value a bucket stands for: within ``ACCURACY`` of every value in it."""
    if index == ZERO:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


class Sketch:
    """Bucket counts of durations; ``add``, ``merge`` and ``quantiles``.

    A sketch read from storage stays encoded until its buckets are needed, and merging
    such sketches only gathers their encodings: :func:`quantiles_of` then reads the
    quantiles of many merged sketches in one pass (numpy's when it is there).
    """

    __slots__ = ("_bins", "_encoded")

    def __init__(self, bins: dict[int, int] | None = None) -> None:
        # A plain dict, taken as given: sketches are made by the thousand per read.
        self._bins: dict[int, int] = {} if bins is None else bins
        # No encodings: the empty tuple, shared, not a list of each sketch's own (one
        # object fewer per sketch for the collector); a list once there are some.
        self._encoded: list[bytes] | tuple[()] = ()

    @property
    def bins(self) -> dict[int, int]:
        """Count by bucket index (decoding what is still encoded)."""
        if self._encoded:
            bins = self._bins
            get = bins.get
            for data in self._encoded:
                for index, count in _PAIR.iter_unpack(data):
                    bins[index] = get(index, 0) + count
            self._encoded = ()
        return self._bins

    @property
    def empty(self) -> bool:
        return not self._bins and not self._encoded

    @property
    def count(self) -> int:
        return sum(self.bins.values())

    def add(self, seconds: float, count: int = 1) -> None:
        bins = self.bins
        index = index_of(seconds)
        bins[index] = bins.get(index, 0) + count

    def merge(self, other: Sketch) -> None:
        """Add ``other``'s counts to this sketch."""
        if other._encoded:
            if isinstance(self._encoded, list):
                self._encoded.extend(other._encoded)
            else:
                self._encoded = list(other._encoded)
        bins = self._bins
        if not bins:
            bins.update(other._bins)
            return
        get = bins.get
        for index, count in other._bins.items():
            bins[index] = get(index, 0) + count

    def parts(self) -> list[bytes]:
        """This sketch as encodings that add up to it."""
        return [*self._encoded, _encode(self._bins)] if self._bins else list(self._encoded)

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """The nearest-rank quantiles ``qs`` (ascending), by bisecting cumulative counts."""
        if len(self._encoded) >= _NUMPY_MIN_BLOBS:
            return quantiles_of([self], qs)[0]
        bins = self.bins
        indexes = sorted(bins)
        return _quantiles(indexes, list(accumulate(map(bins.__getitem__, indexes))), qs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sketch):
            return NotImplemented
        return {i: n for i, n in self.bins.items() if n} == {
            i: n for i, n in other.bins.items() if n
        }

    def __repr__(self) -> str:
        return f"Sketch({dict(sorted(self.bins.items()))})"


def quantiles_of(sketches: Sequence[Sketch], qs: Sequence[float]) -> list[list[float | None]]:
    """The quantiles ``qs`` of each of ``sketches``, merging what each holds encoded in
    one pass over them all."""
    blobs: list[bytes] = []
    groups: list[int] = []
    for group, sketch in enumerate(sketches):
        parts = sketch.parts()
        blobs += parts
        groups += [group] * len(parts)
    return grouped_quantiles(blobs, groups, len(sketches), qs)


def _quantiles(
    indexes: Sequence[int], cumulative: Sequence[int], qs: Sequence[float]
) -> list[float | None]:
    """The nearest-rank quantiles ``qs`` of buckets ``indexes`` (ascending) given their
    cumulative counts: for each ``q`` the first bucket whose cumulative count reaches
    ``max(1, ceil(q * total))``, never before the previous one's; none past the last
    bucket (``q`` > 1)."""
    total = cumulative[-1] if cumulative else 0
    if not total:
        return [None] * len(qs)
    out: list[float | None] = []
    at = 0
    end = len(cumulative)
    for q in qs:
        at = bisect_left(cumulative, max(1, math.ceil(q * total)), at)
        if at == end:
            break
        out.append(value_of(indexes[at]))
    return out


def grouped_quantiles(
    blobs: Sequence[bytes | memoryview | None],
    groups: Sequence[int],
    ngroups: int,
    qs: Sequence[float],
) -> list[list[float | None]]:
    """For each group ``0 .. ngroups - 1``, the quantiles ``qs`` of the merge of the
    encoded sketches ``blobs[k]`` with ``groups[k]`` equal to it, exactly as
    :meth:`Sketch.quantiles` of the merged sketch gives them; numpy's when it is there."""
    if has_numpy() and len(blobs) >= _NUMPY_MIN_BLOBS:
        from ._rollup_np import grouped_quantiles_np

        return grouped_quantiles_np(blobs, groups, ngroups, qs)
    return grouped_quantiles_py(blobs, groups, ngroups, qs)


def grouped_quantiles_py(
    blobs: Sequence[bytes | memoryview | None],
    groups: Sequence[int],
    ngroups: int,
    qs: Sequence[float],
) -> list[list[float | None]]:
    """:func:`grouped_quantiles` in pure Python: each group's sketches merged, then its
    :meth:`Sketch.quantiles`."""
    merged: list[dict[int, int]] = [{} for _ in range(ngroups)]
    for blob, group in zip(blobs, groups):
        if blob:
            bins = merged[group]
            get = bins.get
            for index, count in _PAIR.iter_unpack(blob):
                bins[index] = get(index, 0) + count
    return [Sketch(bins).quantiles(qs) for bins in merged]


_NUMPY_MIN_BLOBS = 8
"""From how many sketches :func:`grouped_quantiles` takes numpy's way."""
_NO_NUMPY = os.environ.get("PYMETRIX_NO_NUMPY", "") == "1"


@cache
def has_numpy() -> bool:
    """Whether the numpy fast paths run: numpy imports, and ``PYMETRIX_NO_NUMPY`` was
    not ``1`` when Pymetrix was imported."""
    if _NO_NUMPY:
        return False
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def encode(sketch: Sketch) -> bytes:
    """The stored form: ``(int32 index, int64 count)`` pairs, little-endian, by index."""
    return _encode(sketch.bins)


def _encode(bins: dict[int, int]) -> bytes:
    pairs = [pair for pair in sorted(bins.items()) if pair[1]]
    return struct.pack(f"<{'iq' * len(pairs)}", *chain.from_iterable(pairs))


def decode(data: bytes | memoryview | None) -> Sketch:
    """A sketch of the stored form, decoded when its buckets are needed."""
    sketch = Sketch()
    if data:
        sketch._encoded = [bytes(data)]
    return sketch
