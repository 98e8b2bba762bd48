"""The labelled search-quality set keeps its rules, and the checker catches broken ones.

The stored set is what ``bench/search.py`` scores text, semantic and hybrid search
with; a paraphrase that quietly shares a word with its answer would flatter text
search, so the rules are tested on small made-up sets as well as on the real one.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.search_set import MIN_ITEMS, MIN_QUERIES_PER_KIND, load, problems, same_word

HAMMER = {
    "key": "claw-hammer",
    "name": "Claw hammer, 16 oz",
    "description": "Steel head and a fibreglass handle, for hanging pictures and pulling nails.",
    "tags": ["tools"],
}
BALLS = {
    "key": "tennis-balls",
    "name": "Tennis balls, 4 pack",
    "description": "Pressurised felt balls for all court surfaces, in a resealable tube.",
    "tags": ["sport"],
}
TABLE_TENNIS = {
    "key": "table-tennis-set",
    "name": "Table tennis bats and balls",
    "description": "Two bats with pimpled rubber, six balls and a clip-on net for most tables.",
    "tags": ["sport"],
}


def tiny(*queries: tuple[str, str, str], items: Any = (HAMMER, BALLS)) -> dict[str, Any]:
    return {
        "items": list(items),
        "queries": [{"text": t, "kind": k, "answer": a} for t, k, a in queries],
    }


def test_search_set_keeps_its_rules() -> None:
    data = load()
    assert problems(data) == []
    kinds = [query["kind"] for query in data["queries"]]
    assert len(data["items"]) >= MIN_ITEMS
    assert kinds.count("paraphrase") >= MIN_QUERIES_PER_KIND
    assert kinds.count("exact") >= MIN_QUERIES_PER_KIND


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("hang", "hanging"),
        ("cook", "cooking"),
        ("cups", "cup"),
        ("boxes", "box"),
        ("painted", "paint"),
        ("batteries", "battery"),
        ("knives", "knife"),
        ("bake", "baking"),
        ("cook", "cookware"),
        ("wash", "washable"),
    ],
)
def test_same_word_sees_through_endings_and_prefixes(a: str, b: str) -> None:
    assert same_word(a, b)
    assert same_word(b, a)


@pytest.mark.parametrize(("a", "b"), [("cup", "cupboard"), ("car", "card"), ("hat", "hot")])
def test_same_word_keeps_short_or_different_words_apart(a: str, b: str) -> None:
    assert not same_word(a, b)


def test_paraphrase_sharing_a_stem_with_its_answer_is_flagged() -> None:
    found = problems(tiny(("hang a photo on the wall", "paraphrase", "claw-hammer")))
    assert "paraphrase 'hang a photo on the wall' shares hang with 'claw-hammer'" in found


def test_paraphrase_sharing_only_function_words_passes() -> None:
    # "for", "and" and "a" are in the item too, but carry no meaning
    found = problems(tiny(("something for a photo and a frame", "paraphrase", "claw-hammer")))
    assert not [p for p in found if " shares " in p]


def test_exact_query_needs_the_answers_own_words() -> None:
    found = problems(
        tiny(
            ("claw hammer", "exact", "claw-hammer"),
            ("framing hammers", "exact", "claw-hammer"),
        )
    )
    assert "exact query 'framing hammers': 'claw-hammer' lacks framing, hammers" in found
    assert not [p for p in found if "'claw hammer'" in p]


def test_exact_query_another_item_matches_as_well_is_flagged() -> None:
    items = (HAMMER, BALLS, TABLE_TENNIS)
    found = problems(
        tiny(
            ("tennis balls", "exact", "tennis-balls"),
            ("felt balls", "exact", "tennis-balls"),
            ("pimpled rubber", "exact", "table-tennis-set"),
            items=items,
        )
    )
    assert "exact query 'tennis balls' matches table-tennis-set as well as the answer" in found
    assert not [p for p in found if "'felt balls'" in p or "'pimpled rubber'" in p]


def test_answers_keys_and_counts_are_checked() -> None:
    data = tiny(
        ("hang a photo", "paraphrase", "picture-hook"),
        ("claw hammer", "fuzzy", "claw-hammer"),
        items=(HAMMER, HAMMER | {"name": "Another hammer"}),
    )
    assert problems(data) == [
        "item key 'claw-hammer' appears 2 times",
        "query 'hang a photo': answer 'picture-hook' is no item's key",
        "query 'claw hammer': kind must be one of exact, paraphrase",
        f"items: 2; at least {MIN_ITEMS} are needed",
        f"exact queries: 0; at least {MIN_QUERIES_PER_KIND} are needed",
        f"paraphrase queries: 1; at least {MIN_QUERIES_PER_KIND} are needed",
    ]


def test_field_lengths_are_checked() -> None:
    item = {"key": "Hammer", "name": "Hammer", "description": "Hits nails.", "tags": ["Tools"]}
    found = problems(tiny(("a b c d e f g h i", "exact", "Hammer"), items=(item,)))
    assert found[:5] == [
        "item 'Hammer': key is not lower-case-with-hyphens",
        "item 'Hammer': name needs 2-8 words and 1-200 characters",
        "item 'Hammer': description needs 10-50 words",
        "item 'Hammer': tag 'Tools' is not a short lower-case word",
        "query 'a b c d e f g h i': needs 2-8 words",
    ]


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"items": {}, "queries": []},
        tiny(("claw hammer", "exact", "claw-hammer"), items=({"key": "x", "tags": "tools"},)),
        {"items": [HAMMER], "queries": [{"text": 3, "kind": "exact", "answer": "claw-hammer"}]},
    ],
)
def test_malformed_sets_are_reported_not_raised(data: Any) -> None:
    found = problems(data)
    assert found
    assert any("malformed" in p or "exactly two lists" in p for p in found)
