"""Sketches read from storage stay encoded until needed: merged with decoded ones, in any
order, they count every duration once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pymetrix.store._sketch import Sketch, decode, encode, index_of, quantiles_of, value_of

durations = st.lists(st.floats(1e-7, 100.0), max_size=30)


def sketch_of(values: list[float]) -> Sketch:
    sketch = Sketch()
    for value in values:
        sketch.add(value)
    return sketch


@given(st.lists(st.tuples(st.booleans(), durations), max_size=12))
def test_encoded_and_decoded_sketches_merge_to_the_sketch_of_all_their_durations(
    parts: list[tuple[bool, list[float]]],
) -> None:
    merged = Sketch()
    for stored, values in parts:
        merged.merge(decode(encode(sketch_of(values))) if stored else sketch_of(values))
    everything = sketch_of([value for _, values in parts for value in values])
    qs = (0.5, 0.95, 0.99)
    # The quantiles read from the parts, before the buckets are decoded, then after.
    assert quantiles_of([merged], qs) == [everything.quantiles(qs)]
    assert merged.quantiles(qs) == everything.quantiles(qs)
    assert merged == everything
    assert merged.count == sum(len(values) for _, values in parts)


def test_a_decoded_sketch_merged_into_one_with_buckets_is_counted_once() -> None:
    mine = sketch_of([1.0])
    mine.merge(decode(encode(sketch_of([2.0]))))
    # Two durations: the median is the first, not the second counted twice.
    expected = [value_of(index_of(1.0)), value_of(index_of(2.0))]
    assert quantiles_of([mine], (0.5, 1.0)) == [expected]
    assert mine.quantiles((0.5, 1.0)) == expected
