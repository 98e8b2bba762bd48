from __future__ import annotations

import pytest

from onebin.semantic.fusion import K, fuse


def test_an_item_high_in_both_rankings_beats_one_first_in_only_one():
    fused = [item for item, _ in fuse(["a", "b", "c"], ["b", "d", "a"])]
    assert fused[0] == "b"  # second and first
    assert fused.index("a") < fused.index("c")
    assert set(fused) == {"a", "b", "c", "d"}


def test_scores_are_reciprocal_ranks_summed():
    scores = dict(fuse(["a", "b"], ["b"]))
    assert scores["a"] == pytest.approx(1 / (K + 1))
    assert scores["b"] == pytest.approx(1 / (K + 2) + 1 / (K + 1))


def test_weights_tilt_the_fusion_toward_a_ranking():
    assert fuse(["a"], ["b"], weights=[2.0, 1.0])[0][0] == "a"
    assert fuse(["a"], ["b"], weights=[1.0, 2.0])[0][0] == "b"


def test_equal_scores_keep_the_first_ranking_first():
    assert [item for item, _ in fuse(["a"], ["b"])] == ["a", "b"]


def test_one_weight_per_ranking():
    with pytest.raises(ValueError, match="one weight per ranking"):
        fuse(["a"], ["b"], weights=[1.0])


def test_no_rankings_fuse_to_nothing():
    assert fuse([], []) == []
