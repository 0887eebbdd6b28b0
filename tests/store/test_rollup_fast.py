"""The numpy rollups and grouped quantiles give exactly what the pure-Python ones give."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
from array import array
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymetrix.store._rollup import (
    MINUTE,
    NUMPY_MIN_HITS,
    EdgeRollup,
    Indexed,
    NodeRollup,
    roll_indexed,
    roll_indexed_py,
)
from pymetrix.store._sketch import (
    _SCALE,
    GAMMA,
    ZERO,
    Sketch,
    decode,
    encode,
    grouped_quantiles,
    grouped_quantiles_py,
    value_of,
)

np_module = pytest.importorskip("pymetrix.store._rollup_np")
roll_indexed_np = np_module.roll_indexed_np
grouped_quantiles_np = np_module.grouped_quantiles_np

QS = (0.50, 0.95, 0.99)


def canonical(indexed: Indexed) -> list[Any]:
    """Everything of ``indexed`` that must match: order, types, floats to the bit."""
    nodes = [
        (
            key,
            row.hits,
            row.errors,
            row.timed,
            struct.pack("<d", row.duration_sum),
            row.first_ns,
            list(row.sketch.bins.items()),
        )
        for key, row in indexed.nodes.items()
    ]
    edges = [(key, edge.hits, edge.first_ns) for key, edge in indexed.edges.items()]
    types = {
        type(value)
        for row in indexed.nodes.values()
        for value in (row.hits, row.errors, row.timed, row.first_ns, *row.sketch.bins.items())
    } | {type(value) for edge in indexed.edges.values() for value in (edge.hits, edge.first_ns)}
    types |= {type(value) for key in [*indexed.nodes, *indexed.edges] for value in key}
    types |= {type(row.duration_sum) for row in indexed.nodes.values()}
    assert types <= {int, float, tuple}, types
    return [nodes, edges]


# -- roll_indexed ------------------------------------------------------------------------

SIZES = st.sampled_from([MINUTE, 1_000, 7, 1])
EDGES = [GAMMA**i for i in range(-700, 1000, 37)]
DURATIONS = st.one_of(
    st.just(math.nan),
    st.sampled_from([0.0, -0.0, 1e-6, 1e-7, 5e-324, -1.0, 1e30, 1e300, 2.0]),
    st.floats(min_value=-1e-3, max_value=1e-6),
    st.floats(min_value=1e-6, max_value=1e6),
    st.sampled_from(EDGES).flatmap(
        lambda edge: st.sampled_from(
            [edge, math.nextafter(edge, 0.0), math.nextafter(edge, math.inf)]
        )
    ),
)
KEYS = st.builds(
    lambda caller, node: (caller + 1) << 32 | node,
    st.integers(-1, 4),
    st.sampled_from([0, 1, 2, 3, 2**32 - 1]),
)
STATUSES = st.one_of(st.sampled_from([0, 200, 500, 599]), st.integers(0, 65535))


@st.composite
def hits(draw: st.DrawFn) -> tuple[Any, ...]:
    size = draw(SIZES)
    count = draw(st.integers(1, 300))
    near = st.builds(
        lambda bucket, offset: bucket * size + offset,
        st.integers(-4, 4),
        st.sampled_from([-1, 0, 1, size // 2]),
    )
    spread = st.integers(-(10**15), 10**15)
    times = sorted(draw(st.lists(st.one_of(near, spread), min_size=count, max_size=count)))
    keys = draw(st.lists(KEYS, min_size=count, max_size=count))
    durations = draw(st.lists(DURATIONS, min_size=count, max_size=count))
    statuses = draw(st.lists(STATUSES, min_size=count, max_size=count))
    if draw(st.booleans()):  # as the SQL writer passes them
        return (
            size,
            array("q", times),
            array("q", keys),
            array("d", durations),
            array("H", statuses),
        )
    return size, times, keys, durations, statuses


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hits(), st.booleans(), st.booleans())
def test_roll_indexed_numpy_is_python(batch: tuple[Any, ...], timed: bool, errors: bool) -> None:
    size, times, keys, durations, statuses = batch
    columns = (times, keys, durations, statuses)
    expected = roll_indexed_py(*columns, size, timed=timed, errors=errors)
    found = roll_indexed_np(*columns, size, timed=timed, errors=errors)
    assert canonical(found) == canonical(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=200))
def test_grouping_by_table_is_by_sorting(labels: list[int]) -> None:
    np = pytest.importorskip("numpy")
    array_ = np.array(labels, dtype=np.int64)
    by_table = np_module._groups(array_, 41, table=True)
    by_sorting = np_module._groups(array_, 41, table=False)
    for mine, theirs in zip(by_table, by_sorting):
        assert mine.tolist() == theirs.tolist()
    member, firsts, sizes = by_sorting
    assert firsts.tolist() == sorted({labels.index(label) for label in labels})
    assert sizes.tolist() == [labels.count(labels[first]) for first in firsts.tolist()]
    assert [labels[firsts[group]] for group in member.tolist()] == labels


def test_roll_indexed_by_hand() -> None:
    base = 10 * MINUTE
    a, b = 1, 2
    a_to_b = (a + 1) << 32 | b
    times = [base - 1, base, base + 5, base + 6, base + MINUTE]
    keys = [a, a_to_b, b, a_to_b, a]
    durations = array("d", [0.5, math.nan, 0.25, 1e-9, 2.0])
    statuses = array("H", [200, 500, 0, 503, 200])
    # ceil(log(d) / log(GAMMA)): 0.5 -> -34.66, 0.25 -> -69.31, 2.0 -> 34.66.
    expected = Indexed(
        {
            (base - MINUTE, a): NodeRollup(1, 0, 1, 0.5, base - 1, Sketch({-34: 1})),
            (base, b): NodeRollup(3, 2, 2, 0.25 + 1e-9, base, Sketch({-69: 1, ZERO: 1})),
            (base + MINUTE, a): NodeRollup(1, 0, 1, 2.0, base + MINUTE, Sketch({35: 1})),
        },
        {
            (base - MINUTE, a): EdgeRollup(1, base - 1),
            (base, a_to_b): EdgeRollup(2, base),
            (base, b): EdgeRollup(1, base + 5),
            (base + MINUTE, a): EdgeRollup(1, base + MINUTE),
        },
    )
    for roll in (roll_indexed_py, roll_indexed_np):
        found = roll(times, keys, durations, statuses, MINUTE)
        assert canonical(found) == canonical(expected), roll


@pytest.mark.parametrize("toward", [math.inf, -math.inf])
def test_sketch_index_near_edges(monkeypatch: pytest.MonkeyPatch, toward: float) -> None:
    """Where numpy's log is a bit off from Python's, Python's decides the index."""
    np = pytest.importorskip("numpy")

    def off(values: Any) -> Any:
        return np.nextafter(np.log(values), toward)

    durations = [
        near
        for edge in (GAMMA**i for i in range(-700, 1000))
        for near in (math.nextafter(edge, 0.0), edge, math.nextafter(edge, math.inf))
    ]
    naive = np.ceil(off(np.array(durations)) * _SCALE)
    assert (naive != [math.ceil(math.log(d) * _SCALE) for d in durations]).any()
    monkeypatch.setattr(np_module, "_log", off)
    count = len(durations)
    columns = ([0] * count, [1] * count, array("d", durations), array("H", [200]) * count)
    expected = roll_indexed_py(*columns, MINUTE)
    assert canonical(roll_indexed_np(*columns, MINUTE)) == canonical(expected)


def test_roll_indexed_dispatches_large_batches() -> None:
    count = NUMPY_MIN_HITS + 1
    times = list(range(0, count * 10**9, 10**9))
    keys = [(k % 3) << 32 | k % 5 for k in range(count)]
    durations = array("d", [k / 1000 if k % 4 else math.nan for k in range(count)])
    statuses = array("H", [500 if k % 7 == 0 else 200 for k in range(count)])
    expected = roll_indexed_py(times, keys, durations, statuses, MINUTE)
    assert canonical(roll_indexed(times, keys, durations, statuses, MINUTE)) == canonical(expected)
    # Bucket starts beyond int64 stay with Python.
    low = [-(2**63) + k for k in range(count)]
    found = roll_indexed(low, keys, durations, statuses, MINUTE)
    assert min(bucket for bucket, _ in found.nodes) < -(2**63)


def test_no_numpy_switch() -> None:
    code = (
        "from pymetrix.store._sketch import has_numpy; import sys; "
        "sys.exit(0 if has_numpy() is (sys.argv[1] == 'yes') else 1)"
    )
    env = {**os.environ, "PYMETRIX_NO_NUMPY": "1"}
    assert subprocess.run([sys.executable, "-c", code, "no"], env=env).returncode == 0
    env["PYMETRIX_NO_NUMPY"] = ""
    assert subprocess.run([sys.executable, "-c", code, "yes"], env=env).returncode == 0


# -- quantiles ---------------------------------------------------------------------------


def quantiles_reference(bins: dict[int, int], qs: tuple[float, ...]) -> list[float | None]:
    """``Sketch.quantiles`` as it was: one pass over the buckets."""
    total = sum(bins.values())
    if not total:
        return [None] * len(qs)
    ranks = [max(1, math.ceil(q * total)) for q in qs]
    out: list[float | None] = []
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        while len(out) < len(ranks) and seen >= ranks[len(out)]:
            out.append(value_of(index))
        if len(out) == len(ranks):
            break
    return out


INDEXES = st.one_of(
    st.integers(-700, 1000), st.just(ZERO), st.integers(-35_000, 35_000), st.integers(-3, 3)
)
COUNTS = st.one_of(st.integers(0, 5), st.integers(1, 2**40), st.integers(2**40, 2**62))
BINS = st.dictionaries(INDEXES, COUNTS, max_size=30)
QUANTILES = st.one_of(
    st.just(QS),
    st.lists(st.floats(0.0, 1.0), max_size=4).map(lambda qs: tuple(sorted(qs))),
    st.lists(st.floats(0.0, 1.5), max_size=4).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(BINS, QUANTILES)
def test_sketch_quantiles_as_before(bins: dict[int, int], qs: tuple[float, ...]) -> None:
    assert Sketch(bins).quantiles(qs) == quantiles_reference(bins, qs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 6).flatmap(
        lambda ngroups: st.tuples(
            st.just(ngroups),
            st.lists(
                st.tuples(
                    st.one_of(BINS.map(lambda bins: encode(Sketch(bins))), st.just(b"")),
                    st.integers(0, ngroups - 1),
                ),
                max_size=40,
            ),
        )
    ),
    QUANTILES,
    st.booleans(),
)
def test_grouped_quantiles_numpy_is_python(
    case: tuple[int, list[tuple[bytes, int]]], qs: tuple[float, ...], small: bool
) -> None:
    ngroups, pairs = case
    if small:  # within int64 totals, so numpy's own paths answer
        pairs = [
            (encode(Sketch({i: n % 2**40 for i, n in decode(blob).bins.items()})), group)
            for blob, group in pairs
        ]
    blobs = [blob for blob, _ in pairs]
    groups = [group for _, group in pairs]
    merged = [Sketch() for _ in range(ngroups)]
    for blob, group in pairs:
        merged[group].merge(Sketch(dict(decode(blob).bins)))
    expected = [quantiles_reference(sketch.bins, qs) for sketch in merged]
    assert grouped_quantiles_py(blobs, groups, ngroups, qs) == expected
    for method in ("auto", "dense", "sort"):
        assert grouped_quantiles_np(blobs, groups, ngroups, qs, method=method) == expected
    assert grouped_quantiles(blobs, groups, ngroups, qs) == expected


def test_grouped_quantiles_by_hand() -> None:
    one = encode(Sketch({ZERO: 2, 0: 3}))
    blobs = [
        one,
        encode(Sketch({10: 4, 0: 1})),
        one,
        None,
        b"",
        *[encode(Sketch({-5: 1}))] * 10,
        encode(Sketch({ZERO: 5, 3: 1})),
    ]
    groups = [0, 0, 1, 2, 2, *[3] * 10, 5]
    expected = [
        # {ZERO: 2, 0: 4, 10: 4}: ranks 5, 10, 10 of 10.
        [value_of(0), value_of(10), value_of(10)],
        # {ZERO: 2, 0: 3}: ranks 3, 5, 5 of 5.
        [value_of(0)] * 3,
        [None] * 3,
        [value_of(-5)] * 3,
        [None] * 3,
        # {ZERO: 5, 3: 1}: ranks 3, 6, 6 of 6.
        [0.0, value_of(3), value_of(3)],
    ]
    assert value_of(0) == 2 / (GAMMA + 1)
    for grouped in (grouped_quantiles_py, grouped_quantiles_np, grouped_quantiles):
        assert grouped(blobs, groups, 6, QS) == expected, grouped
    # A bucket of 2**40 takes every rank from p50 on.
    huge = [one, encode(Sketch({10: 4, 0: 1, 900: 2**40}))]
    for method in ("dense", "sort"):
        assert grouped_quantiles_np(huge, [0, 0], 1, QS, method=method) == [[value_of(900)] * 3]
    assert grouped_quantiles_py(huge, [0, 0], 1, QS) == [[value_of(900)] * 3]
