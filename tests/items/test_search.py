"""Search and paging as a user of ``GET /api/items`` sees them, on the real app and SQLite.

Each test states a behaviour of the full-text search (prefixes, tags, ranking,
accents, every word required, keyset paging) or of its input checks, as seen
through HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from starlette.testclient import TestClient

from onebin import SemanticMatch
from onebin.items.listing import RANKED_CANDIDATES, parse_list_query
from onebin.items.search import page_after, ranking
from tests.items.test_api import assert_error, create


def search(client: TestClient, q: str, **params: str) -> list[str]:
    response = client.get("/api/items", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def walk(client: TestClient, params: dict[str, str]) -> list[dict]:
    """Every item of a listing, page by page through ``next_cursor``."""
    seen: list[dict] = []
    cursor = None
    for _ in range(100):
        page = client.get("/api/items", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def cursor_of(*parts: object) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_search_matches_the_start_of_each_word_in_any_order(client, token):
    create(client, token, name="Claw hammer")
    create(client, token, name="Hammock")
    create(client, token, name="Shampoo")
    assert sorted(search(client, "ham")) == ["Claw hammer", "Hammock"]
    # The beginnings of several words, in any order, as typed into a search box.
    assert search(client, "ham cla") == ["Claw hammer"]
    # A word matches from its start: the middle of "Shampoo" is not a hit.
    assert search(client, "ampoo") == []


def test_search_finds_words_in_tags(client, token):
    create(client, token, name="Trowel", tags=["garden", "hand tool"])
    create(client, token, name="Spade", description="for the garden shed")
    create(client, token, name="Kettle", tags=["kitchen"])
    assert sorted(search(client, "garden")) == ["Spade", "Trowel"]
    assert search(client, "hand") == ["Trowel"]


def test_search_ranks_a_name_hit_above_a_description_only_hit(client, token):
    create(client, token, name="Walnut desk", description="Solid wood, 140 cm.")
    # Newer, so a newest-first order would put it on top.
    create(client, token, name="Office chair", description="Fits under any walnut table.")
    assert search(client, "walnut") == ["Walnut desk", "Office chair"]


def test_search_ignores_accents_both_ways(client, token):
    create(client, token, name="Café table")
    create(client, token, name="Creme brulee torch")
    assert search(client, "cafe") == ["Café table"]
    assert search(client, "CAFÉ") == ["Café table"]
    assert search(client, "crème brûlée") == ["Creme brulee torch"]


def test_search_requires_every_word_wherever_it_is(client, token):
    create(client, token, name="Hammer", description="Forged steel head")
    create(client, token, name="Steel ruler")
    create(client, token, name="Rubber hammer")
    create(client, token, name="Chisel", description="steel", tags=["hammer-driven"])
    assert sorted(search(client, "steel hammer")) == ["Chisel", "Hammer"]
    assert search(client, "steel hammer rubber") == []


def matching_catalogue(client: TestClient, token: str) -> set[int]:
    """Items that match ``hamm`` in each field, with ties in score and in name; returns
    the ids that match."""
    ids = set()
    for number in range(9):
        # Same text three times over: equal bm25 scores, so the id breaks the tie.
        ids.add(create(client, token, name=f"Hammer {number // 3}")["id"])
    for name in ["hammer B", "Hammer b", "HAMMER b"]:  # equal names (NOCASE)
        ids.add(create(client, token, name=name)["id"])
    for number in range(5):
        ids.add(create(client, token, name=f"Nail set {number}", tags=["hammering"])["id"])
    for number in range(5):
        ids.add(create(client, token, name=f"Anvil {number}", description="hammer it flat")["id"])
    for number in range(4):
        create(client, token, name=f"Saw {number}", description="no match here")
    return ids


def test_search_relevance_pages_return_every_match_once(client, token):
    expected = matching_catalogue(client, token)
    items = walk(client, {"q": "hamm", "sort": "relevance", "limit": "4"})
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    # Name hits first, description-only hits last.
    assert items[0]["name"].lower().startswith("hammer")
    assert items[-1]["name"].startswith("Anvil")
    # The default order of a search is the same.
    assert [i["id"] for i in walk(client, {"q": "hamm", "limit": "4"})] == ids


def test_search_sorted_by_name_pages_return_every_match_once(client, token):
    expected = matching_catalogue(client, token)
    items = walk(client, {"q": "hamm", "sort": "name", "limit": "4"})
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    names = [item["name"].lower() for item in items]
    assert names == sorted(names)
    backwards = walk(client, {"q": "hamm", "sort": "-name", "limit": "4"})
    assert [item["id"] for item in backwards] == ids[::-1]


def test_sort_by_relevance_needs_a_search(client, token):
    create(client, token, name="Hammer")
    assert search(client, "hammer", sort="relevance") == ["Hammer"]
    response = client.get("/api/items", params={"sort": "relevance"})
    assert_error(response, 400, "invalid_query")
    assert "q" in response.json()["error"]["message"]


@pytest.mark.parametrize("params", [{"sort": ""}, {"sort": "", "q": "hammer"}])
def test_empty_sort_is_400(client, token, params):
    create(client, token, name="Hammer")
    assert_error(client.get("/api/items", params=params), 400, "invalid_query")


@pytest.mark.parametrize("q", ["\x00", "hammer\x00", "\x00%", "a\x1fb", "\x7f"])
def test_search_with_control_characters_is_400(client, token, q):
    create(client, token, name="Hammer")
    create(client, token, name="Saw")
    assert_error(client.get("/api/items", params={"q": q}), 400, "invalid_query")


@pytest.mark.parametrize("q", ["%", "!!!", "++", "*", '"', "-", "%_\\", "()"])
@pytest.mark.parametrize("sort", [None, "name", "-created_at"])
def test_search_made_of_punctuation_finds_nothing(client, token, q, sort):
    for name in ["100% cotton", "C++ primer", "Wow!!!", "Plain shirt"]:
        create(client, token, name=name)
    params = {"q": q, **({"sort": sort} if sort else {})}
    response = client.get("/api/items", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "cursor"),
    [
        ({"sort": "name"}, ["name", "Hammer", 2**64]),
        ({"sort": "name"}, ["name", "Hammer", 2**64 - 1]),
        ({"sort": "name"}, ["name", "Hammer", 2**63]),
        ({"sort": "name"}, ["name", "Hammer", 0]),
        ({"sort": "name"}, ["name", "Hammer", -1]),
        ({"sort": "name"}, ["name", "Hammer", -(2**63) - 1]),
        ({"sort": "name"}, ["name", "Hammer", 1e30]),
        ({"sort": "name"}, ["name", "Hammer", 1.5]),
        ({"sort": "name"}, ["name", 5, 1]),
        ({"sort": "name"}, ["name", 1.5, 1]),
        ({"sort": "name"}, ["name", None, 1]),
        ({"sort": "name"}, ["name", True, 1]),
        ({"sort": "name"}, ["name", ["Hammer"], 1]),
        ({"sort": "name"}, ["name", "Hammer"]),
        ({"q": "hammer", "sort": "name"}, ["name", "Hammer", 0]),
        ({"q": "hammer", "sort": "name"}, ["name", "Hammer", 2**63]),
        ({"q": "hammer"}, ["relevance", -1.5, 2**64]),
        ({"q": "hammer"}, ["relevance", -1.5, 0]),
        ({"q": "hammer"}, ["relevance", "Hammer", 1]),
        ({"q": "hammer"}, ["relevance", True, 1]),
        ({"q": "hammer"}, ["relevance", None, 1]),
    ],
)
def test_cursor_out_of_range_or_of_the_wrong_type_is_400(client, token, params, cursor):
    create(client, token, name="Hammer")
    response = client.get("/api/items", params={**params, "cursor": cursor_of(*cursor)})
    assert_error(response, 400, "invalid_query")


@pytest.mark.parametrize("raw", ['["relevance", 1e400, 1]', '["relevance", -1e400, 1]'])
def test_cursor_with_an_infinite_score_is_400(client, token, raw):
    create(client, token, name="Hammer")
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = client.get("/api/items", params={"q": "hammer", "cursor": cursor})
    assert_error(response, 400, "invalid_query")


def test_not_modified_carries_the_cache_control_of_the_200(client, token):
    item = create(client, token, name="Hammer")
    url = f"/api/items/{item['id']}"
    full = client.get(url)
    assert full.headers["cache-control"]
    response = client.get(url, headers={"if-none-match": full.headers["etag"]})
    assert response.status_code == 304
    assert response.headers["cache-control"] == full.headers["cache-control"]
    assert response.headers["etag"] == full.headers["etag"]


def test_search_ranks_a_name_hit_over_a_tag_hit_over_a_description_hit(client, token):
    # Created best-last, so neither newest-first nor id order would give this order.
    create(client, token, name="Anvil", description="strike it with a mallet")
    create(client, token, name="Nail set", tags=["mallet"])
    create(client, token, name="Rubber mallet")
    assert search(client, "mallet") == ["Rubber mallet", "Nail set", "Anvil"]
    assert search(client, "mall") == ["Rubber mallet", "Nail set", "Anvil"]


def test_search_splits_words_at_any_punctuation(client, token):
    """Addresses, versions and hyphenated words are words on both sides of each mark."""
    create(client, token, name="Router", description="admin page at router.example.com")
    create(client, token, name="Mail", description="write to help@shop-example.org")
    create(client, token, name="Firmware v2.10.3", tags=["hammer-driven"])
    assert sorted(search(client, "example")) == ["Mail", "Router"]
    assert search(client, "router example com") == ["Router"]
    assert search(client, "shop") == ["Mail"]
    assert search(client, "help org") == ["Mail"]
    assert search(client, "v2 10") == ["Firmware v2.10.3"]
    assert search(client, "driven") == ["Firmware v2.10.3"]


def test_search_folds_case_in_every_script(client, token):
    create(client, token, name="ΚΑΦΕΣ ελληνικός")
    create(client, token, name="ÉCOLE Žižkov")
    assert search(client, "καφ") == ["ΚΑΦΕΣ ελληνικός"]
    assert search(client, "ΕΛΛΗΝ") == ["ΚΑΦΕΣ ελληνικός"]
    assert search(client, "ecole zizkov") == ["ÉCOLE Žižkov"]


def test_search_word_of_one_character_matches_only_that_word(client, token):
    create(client, token, name="A frame")
    create(client, token, name="Apple")
    assert search(client, "a") == ["A frame"]
    assert sorted(search(client, "ap")) == ["Apple"]


def test_search_word_joined_by_underscores_is_a_phrase(client, token):
    create(client, token, name="Claw hammer")
    create(client, token, name="Hammer with a claw")
    assert search(client, "claw_ham") == ["Claw hammer"]
    assert sorted(search(client, "claw ham")) == ["Claw hammer", "Hammer with a claw"]


def seed(db, engine: str, rows: list[tuple[str, str]]) -> None:
    """Items of (name, description) straight into the table, oldest first."""
    mark = "?" if engine == "sqlite" else "%s"
    sql = (
        "INSERT INTO items (name, description, tags, created_at, updated_at) "
        f"VALUES ({mark}, {mark}, '[]', {mark}, {mark})"
    )
    start = db.read_sync(lambda conn: conn.execute("SELECT count(*) AS n FROM items").fetchone())
    stamps = [f"2026-01-01T00:00:00.{start['n'] + n:06d}Z" for n in range(len(rows))]
    values = [(name, text, stamp, stamp) for (name, text), stamp in zip(rows, stamps, strict=True)]
    # sqlite3 and psycopg both run executemany on a cursor.
    db.write_sync(lambda conn: conn.cursor().executemany(sql, values))


def test_search_relevance_ranks_the_newest_matches_only(client, db, engine):
    old_name_hits = [(f"Mallet {n}", "") for n in range(10)]
    description_hits = [(f"Anvil {n}", "strike with a mallet") for n in range(RANKED_CANDIDATES)]
    seed(db, engine, old_name_hits + description_hits[:-10])
    # Every match is ranked: the name hits come first, however old.
    assert search(client, "mallet", limit="10") == [f"Mallet {n}" for n in range(10)]
    seed(db, engine, description_hits[-10:])
    # Now the newest RANKED_CANDIDATES matches are all description hits: the old
    # name hits are past the bound, and only another order reaches them.
    first = search(client, "mallet", limit="100")
    assert all(name.startswith("Anvil") for name in first)
    assert search(client, "mallet", sort="-name", limit="1") == ["Mallet 9"]


def test_search_finds_text_stored_with_decomposed_accents(client, token):
    name = "Cre\u0300me bru\u0302le\u0301e torch"  # NFD, as some keyboards send it
    create(client, token, name=name)
    assert search(client, "creme brulee") == [name]
    assert search(client, "crème") == [name]


# How semantic and hybrid searches order and page (onebin.items.search), without a model.


def test_hybrid_puts_an_item_found_both_ways_first():
    query = parse_list_query({"q": "hammer"})
    meaning = [SemanticMatch(3, 0.9), SemanticMatch(1, 0.8), SemanticMatch(9, 0.5)]
    order = [item_id for item_id, _ in ranking(query, [1, 2], meaning)]
    assert order[0] == 1  # first by words, second by meaning
    assert set(order) == {1, 2, 3, 9}


def test_semantic_ranks_by_similarity_alone():
    query = parse_list_query({"q": "hammer", "mode": "semantic"})
    meaning = [SemanticMatch(3, 0.9), SemanticMatch(1, 0.4), SemanticMatch(9, 0.05)]
    assert ranking(query, [7], meaning) == [(3, -0.9), (1, -0.4), (9, -0.05)]


def test_pages_of_a_ranking_follow_the_cursor_without_repeats():
    query = parse_list_query({"q": "hammer", "mode": "semantic", "limit": "2"})
    meaning = [SemanticMatch(n, 1 - n / 100) for n in range(1, 8)]
    ranked = ranking(query, [], meaning)
    seen, after = [], None
    while True:
        chosen = page_after(ranked, dataclasses.replace(query, after=after))
        seen += [item_id for item_id, _ in chosen[:2]]
        if len(chosen) <= 2:
            break
        item_id, score = chosen[1]
        after = (score, item_id)
    assert seen == list(range(1, 8))


def test_equal_scores_are_ordered_by_id():
    query = parse_list_query({"q": "hammer", "mode": "semantic"})
    meaning = [SemanticMatch(5, 0.5), SemanticMatch(2, 0.5)]
    assert [item_id for item_id, _ in ranking(query, [], meaning)] == [2, 5]
