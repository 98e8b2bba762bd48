"""The pages' semantic search: the search box finds items by meaning (hybrid search),
any other order than relevance turns the search into a word filter, and an item's page
lists the items most like it.

Embeddings are computed by a background job after each write, so each test waits for
them through the API (a semantic search or a similar list that shows the item) before
it opens a page: what the page shows then no longer depends on timing.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import Site
from tests.support import wait_until

pytestmark = pytest.mark.browser

# Generous: the first embeddings wait for the model to load in the server.
EMBEDDED_S = 60
# A change elsewhere reaches an open page within this (SSE, batched for 250 ms).
LIVE_MS = 5_000
# Shares no word (nor the start of one) with the dress it is meant to find.
PARAPHRASE = "clothes for a warm day"
DRESS = "Linen summer dress"


def seed_dress_among_others(site: Site) -> dict:
    """Four unrelated items; the dress is what ``PARAPHRASE`` means."""
    site.create_item("Claw hammer, 16 oz", description="Steel head, fibreglass handle, for nails")
    dress = site.create_item(DRESS, description="Light, sleeveless, knee length")
    site.create_item("Tea kettle", description="Stainless, 1.7 litres, whistles when it boils")
    site.create_item("Garden hose", description="25 m, kink-free, with a spray nozzle")
    return dress


def wait_semantic(site: Site, query: str, item: dict) -> None:
    """Until a semantic search for ``query`` finds ``item``: its embedding is stored."""

    def found() -> bool:
        response = site.api.get("/api/items", params={"q": query, "mode": "semantic"})
        response.raise_for_status()
        return item["id"] in [found["id"] for found in response.json()["items"]]

    wait_until(found, timeout=EMBEDDED_S, interval=0.2, what=f"{item['name']!r} embedded")


def wait_similar(site: Site, item: dict, neighbour: dict) -> None:
    """Until ``item``'s similar list holds ``neighbour``: both embeddings are stored."""

    def listed() -> bool:
        response = site.api.get(f"/api/items/{item['id']}/similar")
        response.raise_for_status()
        return neighbour["id"] in [found["id"] for found in response.json()["items"]]

    wait_until(listed, timeout=EMBEDDED_S, interval=0.2, what=f"{neighbour['name']!r} similar")


def search(page: Page, text: str) -> None:
    page.get_by_role("searchbox", name="Search items").fill(text)
    page.get_by_role("button", name="Search").click()


def test_search_page_finds_an_item_by_meaning(page, console, site):
    dress = seed_dress_among_others(site)
    wait_semantic(site, PARAPHRASE, dress)

    page.goto(site.url + "/")
    search(page, PARAPHRASE)
    links = page.get_by_test_id("item-link")
    expect(links.first).to_have_text(DRESS)
    expect(page.get_by_label("Sort")).to_have_value("relevance")
    expect(page).to_have_url(re.compile(r"\?q=clothes\+for\+a\+warm\+day$"))

    # The address is the search: a reload (or a shared link) shows the same result.
    page.reload()
    expect(links.first).to_have_text(DRESS)
    page.get_by_role("link", name=DRESS).click()
    expect(page.get_by_role("heading", name=DRESS, level=1)).to_be_visible()
    assert console.errors == []


def test_search_page_sorts_a_search_as_a_word_filter(page, console, site):
    site.create_item("Oak table", description="Seats six")
    site.create_item("Oak chair", description="Matches the table")
    site.create_item("Birch stool", description="A wooden seat for the kitchen")
    dress = seed_dress_among_others(site)
    wait_semantic(site, PARAPHRASE, dress)

    page.goto(site.url + "/")
    search(page, "oak")
    links = page.get_by_test_id("item-link")
    expect(links.first).to_have_text(re.compile("^Oak "))
    sort = page.get_by_label("Sort")
    sort.select_option("-name")
    expect(links).to_have_text(["Oak table", "Oak chair"])
    expect(page).to_have_url(re.compile(r"\?q=oak&sort=-name$"))
    page.reload()
    expect(sort).to_have_value("-name")
    expect(links).to_have_text(["Oak table", "Oak chair"])

    # Sorted by a column, a paraphrase finds nothing, and the page says why.
    search(page, PARAPHRASE)
    expect(page.get_by_text(f"No items match “{PARAPHRASE}”.")).to_be_visible()
    expect(page.get_by_text("sort by relevance to search by meaning too")).to_be_visible()
    sort.select_option("relevance")
    expect(links.first).to_have_text(DRESS)
    expect(page).to_have_url(re.compile(r"\?q=[^&]+$"))
    assert console.errors == []


def test_item_page_lists_similar_items_and_follows_them(page, console, site):
    chef = site.create_item("Chef's knife", description="20 cm blade for chopping vegetables")
    bread = site.create_item("Bread knife", description="Serrated blade for slicing loaves")
    site.create_item("Summer dress", description="Cotton, floral print, knee length")
    wait_similar(site, chef, bread)
    wait_similar(site, bread, chef)

    page.goto(f"{site.url}/items/{chef['id']}")
    similar = page.get_by_role("region", name="Similar items")
    links = similar.get_by_test_id("similar-link")
    expect(links.first).to_have_text("Bread knife")
    expect(similar).to_contain_text("Serrated blade for slicing loaves")
    expect(similar.get_by_role("link", name="Chef's knife")).to_have_count(0)
    shown = links.all_inner_texts()
    assert "Summer dress" not in shown or shown.index("Summer dress") > 0, shown

    # Another item's page: its own similar items, not the ones of the page before.
    links.first.click()
    expect(page).to_have_url(f"{site.url}/items/{bread['id']}")
    expect(page.get_by_role("heading", name="Bread knife", level=1)).to_be_visible()
    expect(links.first).to_have_text("Chef's knife")
    expect(similar.get_by_role("link", name="Bread knife")).to_have_count(0)
    page.go_back()
    expect(links.first).to_have_text("Bread knife")
    assert console.errors == []


def test_item_page_follows_changes_to_the_similar_items(page, console, site):
    chef = site.create_item("Chef's knife", description="20 cm blade for chopping vegetables")
    bread = site.create_item("Bread knife", description="Serrated blade for slicing loaves")
    wait_similar(site, chef, bread)
    page.goto(f"{site.url}/items/{chef['id']}")
    links = page.get_by_role("region", name="Similar items").get_by_test_id("similar-link")
    expect(links).to_have_text(["Bread knife"])
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "open")

    site.api.patch(
        f"/api/items/{bread['id']}", json={"name": "Serrated bread knife"}
    ).raise_for_status()
    expect(links).to_have_text(["Serrated bread knife"], timeout=LIVE_MS)
    site.api.delete(f"/api/items/{bread['id']}").raise_for_status()
    expect(links).to_have_count(0, timeout=LIVE_MS)
    expect(page.get_by_text("No similar items yet.")).to_be_visible()
    assert console.errors == []


def test_item_page_of_a_new_item_shows_similar_items_once_computed(page, console, site):
    chef = site.create_item("Chef's knife", description="20 cm blade for chopping vegetables")
    page.goto(site.url + "/")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "open")
    bread = site.create_item("Bread knife", description="Serrated blade for slicing loaves")
    wait_similar(site, bread, chef)
    # Opened at once, the new item's page asks before its embedding is stored: the first
    # answer is the server's "nothing yet" (made certain here), later ones its own. The
    # live stream stays open from the list, so no reconnection asks again: the page must.
    answers: list[str] = []

    def first_empty(route: Route) -> None:
        answers.append(route.request.url)
        if len(answers) == 1:
            route.fulfill(json={"items": [], "limit": 5})
        else:
            route.continue_()

    page.route(re.compile(r"/api/items/\d+/similar"), first_empty)
    page.get_by_role("link", name="Bread knife").click()
    similar = page.get_by_role("region", name="Similar items")
    expect(similar.get_by_test_id("similar-link")).to_have_text(["Chef's knife"])
    assert console.errors == []


def test_item_page_without_similar_items_says_so(page, console, site):
    lone = site.create_item("Only item", description="Nothing else is stored")
    page.goto(f"{site.url}/items/{lone['id']}")
    similar = page.get_by_role("region", name="Similar items")
    expect(similar).to_contain_text("No similar items yet.")
    expect(page.get_by_role("heading", name="Only item", level=1)).to_be_visible()
    assert console.errors == []


def test_item_page_shows_the_item_when_similar_items_fail(page, console, site):
    item = site.create_item("Chef's knife", description="20 cm blade")
    site.create_item("Bread knife", description="Serrated blade")
    # The similar list alone cannot be had (as when the network drops that request).
    page.route(re.compile(r"/api/items/\d+/similar"), lambda route: route.abort())
    page.goto(f"{site.url}/items/{item['id']}")
    expect(page.get_by_role("heading", name="Chef's knife", level=1)).to_be_visible()
    similar = page.get_by_role("region", name="Similar items")
    expect(similar).to_contain_text("Similar items could not be loaded just now.")
    # Quiet: the page's actions stay, and no alert interrupts a screen reader.
    expect(page.get_by_role("link", name="Edit")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert all("ERR_FAILED" in error for error in console.errors), console.errors


def test_item_page_with_similar_items_fits_a_phone(browser, site):
    long_words = "a rather long description of a knife " * 20
    chef = site.create_item("Chef's knife with a very long name " * 3, description=long_words)
    bread = site.create_item("Bread knife with a very long name " * 3, description=long_words)
    wait_similar(site, chef, bread)
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{site.url}/items/{chef['id']}")
        expect(page.get_by_test_id("similar-link").first).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the item page overflows by {overflow}px at 375px"
    finally:
        context.close()
