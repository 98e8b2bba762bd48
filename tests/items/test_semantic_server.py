"""Search by meaning through ``GET /api/items`` and ``/api/items/{id}/similar`` on a real
``onebin serve``, whose job runner embeds what the API writes, on each engine."""

from __future__ import annotations

import httpx
import pytest

from tests.semantic.catalogue import CATALOGUE
from tests.support import ServerProcess, wait_until


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    env = {}
    if request.param == "postgresql":  # the server and its token command both use it
        env["ONEBIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with ServerProcess(tmp_path / "data", env=env) as running:
        yield running


@pytest.fixture
def api(server):
    token = server.token()
    with httpx.Client(
        base_url=f"{server.url}/api", headers={"authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def create(api: httpx.Client, catalogue=CATALOGUE) -> dict[str, int]:
    ids = {}
    for name, description, tags in catalogue:
        response = api.post("/items", json={"name": name, "description": description, "tags": tags})
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


def names(api: httpx.Client, **params: str) -> list[str]:
    response = api.get("/items", params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def embedded(api: httpx.Client, name: str) -> None:
    """Wait for the background job to have embedded ``name`` (found by meaning)."""
    wait_until(
        lambda: name in names(api, q=name, mode="semantic", limit="100"),
        what=f"{name!r} to be embedded",
    )


def test_a_paraphrase_sharing_no_word_finds_the_item_first(api):
    create(api)
    embedded(api, CATALOGUE[-1][0])
    assert names(api, q="carpentry gear to bang in nails")[0] == "Claw hammer, 16 oz"
    assert names(api, q="a morning cup of joe", mode="semantic")[0] == "Espresso machine"
    assert names(api, q="carpentry gear to bang in nails", mode="text") == []


def test_hybrid_keeps_exact_words_first(api):
    create(api)
    embedded(api, CATALOGUE[-1][0])
    assert names(api, q="bread knife")[0] == "Bread knife"
    assert names(api, q="hammock")[0] == "Hammock"
    assert names(api, q="hammock", mode="text") == ["Hammock"]


@pytest.mark.parametrize("mode", ["text", "semantic", "hybrid"])
def test_the_cursor_pages_through_every_mode_without_repeats(api, mode):
    create(api)
    embedded(api, CATALOGUE[-1][0])
    q = "kitchen" if mode == "text" else "tools for the kitchen and garden"
    everything = names(api, q=q, mode=mode, limit="100")
    seen, cursor = [], None
    while True:
        params = {"q": q, "mode": mode, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/items", params=params).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert len(seen) == len(set(seen)) >= 3


def test_similar_items_are_nearest_in_meaning_and_leave_the_item_out(api):
    ids = create(api)
    embedded(api, CATALOGUE[-1][0])
    chef = ids["Chef's knife"]
    response = api.get(f"/items/{chef}/similar", params={"limit": "3"})
    assert response.status_code == 200
    body = response.json()
    assert body["limit"] == 3
    similar = [item["name"] for item in body["items"]]
    assert "Chef's knife" not in similar
    assert similar[0] == "Bread knife"


def test_a_change_is_searched_by_its_new_meaning(api):
    ids = create(api)
    embedded(api, CATALOGUE[-1][0])
    item_id = ids["Desk lamp"]
    patched = api.patch(
        f"/items/{item_id}",
        json={
            "name": "Tent",
            "description": "Two-person tent for camping trips.",
            "tags": ["outdoor"],
        },
    )
    assert patched.status_code == 200
    wait_until(
        lambda: names(api, q="sleeping outdoors in the woods", mode="semantic")[:1] == ["Tent"],
        what="the changed item to be embedded again",
    )
    assert api.delete(f"/items/{item_id}").status_code == 204
    wait_until(
        lambda: "Tent" not in names(api, q="sleeping outdoors in the woods", mode="semantic"),
        what="the deleted item to leave semantic search",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "knife", "mode": "fuzzy"}, "mode must be one of text, semantic, hybrid"),
        ({"q": "knife", "mode": "semantic", "sort": "name"}, "sort=relevance or mode=text"),
        ({"q": "knife", "mode": "semantic", "cursor": "bad"}, "cursor is not valid"),
    ],
)
def test_bad_search_parameters_are_400_with_a_reason(api, params, message):
    response = api.get("/items", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_similar_of_a_missing_item_is_404_and_a_bad_limit_400(api):
    assert api.get("/items/999999/similar").status_code == 404
    ids = create(api, CATALOGUE[:1])
    item_id = next(iter(ids.values()))
    for bad in ("0", "101", "x"):
        response = api.get(f"/items/{item_id}/similar", params={"limit": bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_query"
    assert api.get(f"/items/{item_id}/similar", params={"other": "1"}).status_code == 400
