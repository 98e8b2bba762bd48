from __future__ import annotations

import os
import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebin.semantic.nearest import MIN_BLOCK, VectorIndex, block_size, top_k


def brute_force(scores: list[float], k: int) -> list[tuple[float, int]]:
    return sorted(((score, at) for at, score in enumerate(scores)), key=lambda p: (-p[0], p[1]))[:k]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-50, 50).map(float), max_size=40 * MIN_BLOCK + 7),
    st.integers(0, 40),
)
def test_top_k_is_the_k_largest_whatever_the_data(scores, k):
    found = top_k(memoryview(array("d", scores)), k)
    assert found == brute_force(scores, k)


def test_top_k_over_many_blocks_with_the_best_in_one_block():
    size = block_size(100_000, 25)
    scores = [0.0] * 100_000
    for at in range(5 * size, 5 * size + 30):
        scores[at] = 1.0 + at
    found = top_k(memoryview(array("d", scores)), 25)
    assert found == brute_force(scores, 25)


def test_top_k_of_random_scores_at_scale():
    rng = random.Random(3)
    scores = [float(rng.randrange(-20000, 20000)) for _ in range(200_000)]
    for k in (1, 10, 100):
        assert top_k(memoryview(array("d", scores)), k) == brute_force(scores, k)


def unit(vector: list[int]) -> bytes:
    return array("b", vector).tobytes()


def test_nearest_ranks_by_dot_product_and_leaves_out_the_excluded_row():
    index = VectorIndex(4)
    index.apply(
        [(10, unit([100, 0, 0, 0])), (11, unit([70, 70, 0, 0])), (12, unit([0, 0, 100, 0]))]
    )
    assert [row for row, _ in index.nearest(unit([100, 0, 0, 0]), 3)] == [10, 11, 12]
    assert index.nearest(unit([100, 0, 0, 0]), 1) == [(10, 10000)]
    assert [row for row, _ in index.nearest(unit([100, 0, 0, 0]), 2, exclude=10)] == [11, 12]


def test_updates_and_removals_keep_ids_and_vectors_together():
    rng = random.Random(7)
    index = VectorIndex(8)
    expected: dict[int, bytes] = {}
    for _ in range(3000):
        row_id = rng.randrange(200)
        if rng.random() < 0.3:
            index.apply([(row_id, None)])
            expected.pop(row_id, None)
        else:
            vector = os.urandom(8)
            index.apply([(row_id, vector)])
            expected[row_id] = vector
    assert len(index) == len(expected)
    for row_id in range(200):
        assert index.vector(row_id) == expected.get(row_id)
    query = os.urandom(8)
    dots = {
        row_id: sum(a * b for a, b in zip(array("b", query), array("b", vector), strict=True))
        for row_id, vector in expected.items()
    }
    best = index.nearest(query, 5)
    assert [dot for _, dot in best] == sorted(dots.values(), reverse=True)[:5]
    assert all(dots[row_id] == dot for row_id, dot in best)


def test_a_vector_of_another_size_is_never_compared():
    index = VectorIndex(4)
    index.apply([(1, b"\x01\x02\x03")])
    assert len(index) == 0
    with pytest.raises(ValueError, match="4 dimensions"):
        index.nearest(b"\x01", 1)


def test_an_empty_index_finds_nothing():
    assert VectorIndex(4).nearest(unit([1, 2, 3, 4]), 5) == []
