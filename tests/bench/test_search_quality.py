"""Scoring a search by where its answer comes: reciprocal rank, top-1 and MRR."""

from __future__ import annotations

from bench.search_quality import Score, reciprocal_rank, score


def test_reciprocal_rank_is_one_over_the_answers_place():
    assert reciprocal_rank([7, 3, 9], 7) == 1.0
    assert reciprocal_rank([7, 3, 9], 9) == 1 / 3


def test_reciprocal_rank_of_an_answer_not_found_is_zero():
    assert reciprocal_rank([7, 3, 9], 4) == 0.0
    assert reciprocal_rank([], 4) == 0.0


def test_score_counts_firsts_for_top1_and_averages_reciprocal_ranks():
    assert score([1.0, 0.5, 0.0, 1.0]) == Score(queries=4, top1=0.5, mrr=0.625)


def test_score_of_no_queries_is_zero_not_a_division_error():
    assert score([]) == Score(queries=0, top1=0.0, mrr=0.0)
