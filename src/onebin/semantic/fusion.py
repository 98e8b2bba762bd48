"""Reciprocal rank fusion: one ranking from several, by rank alone.

Full-text scores (bm25, ts_rank) and vector similarities are on scales that cannot
be compared or added, and the scale of bm25 changes with every query. Fusing by
rank needs no calibration: an item gets ``weight / (k + rank)`` from each ranking it
appears in, so one found near the top of both beats one found first by only one,
and ``k`` (60, as in Cormack, Clarke and Büttcher, SIGIR 2009) keeps the first few
places from dominating.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = 60
Id = TypeVar("Id", bound=Hashable)


def fuse(
    *rankings: Sequence[Id], weights: Sequence[float] | None = None, k: int = K
) -> list[tuple[Id, float]]:
    """The ids of all ``rankings`` (each best first) with their fused scores, best first.

    ``weights`` (one per ranking, default 1) tilt the fusion toward a ranking; equal
    scores keep the order in which the ids first appear, rankings taken in turn.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("fuse needs one weight per ranking")
    scores: dict[Id, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
