"""Search and paging as a user of ``GET /api/items`` sees them, on the real app and SQLite.

Each test states a behaviour of the full-text search (prefixes, tags, ranking,
accents, every word required, keyset paging) or of its input checks, as seen
through HTTP.
"""

from __future__ import annotations

import base64
import json

import pytest
from starlette.testclient import TestClient

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
