"""Ranking items by meaning (``mode=semantic``) or by meaning and words (``hybrid``).

The rankings come from two places: the engine's full-text search (the best
``CANDIDATES`` by relevance, every word required) and the semantic collection's
nearest vectors (the best ``CANDIDATES``). Hybrid fuses them by rank
(``onebin.fuse``), so an item that has the words and the meaning comes first, and a
paraphrase that shares no word with an item still finds it by meaning alone.

A ranking is a list of ``(item_id, score)``, lower score first as with bm25, ties by
id: the same order a cursor continues in, so pages never repeat or skip an item
while the data stays the same. Both searches are bounded, so a search by meaning
pages through at most ``2 * CANDIDATES`` items: the answers past the best hundred
of either kind are a better search away, not a next page.
"""

from __future__ import annotations

from collections.abc import Sequence

from onebin import SemanticMatch, fuse
from onebin.items.listing import HYBRID, ListQuery

# The best this many of each ranking are fused. Every semantic match counts, however
# low its similarity: no threshold separates answers from noise with this model (on
# bench/search_set.json, a cut at 0.2 lost 12 of 152 right answers to paraphrases,
# while strings of nonsense reach 0.3-0.46 against some item), so a search by
# meaning always ranks the nearest items, as full-text relevance ranks the matches.
CANDIDATES = 100

Ranking = list[tuple[int, float]]


def ranking(query: ListQuery, words: Sequence[int], meaning: Sequence[SemanticMatch]) -> Ranking:
    """The order of a ``semantic`` or ``hybrid`` search, from the text ranking's ids
    (best first) and the semantic matches (best first)."""
    if query.mode == HYBRID:
        scored = [(item_id, -score) for item_id, score in fuse(words, [m.id for m in meaning])]
    else:
        scored = [(match.id, -match.score) for match in meaning]
    return sorted(scored, key=lambda entry: (entry[1], entry[0]))


def page_after(ranked: Ranking, query: ListQuery) -> Ranking:
    """The ``limit + 1`` entries after the query's cursor (to know whether more exist)."""
    entries = ranked
    if query.after is not None:
        after = query.after
        entries = [entry for entry in ranked if (entry[1], entry[0]) > after]
    return entries[: query.limit + 1]
