from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Response, expect

pytestmark = pytest.mark.browser

# Chromium logs every 4xx a fetch receives as a console error, even when the app
# handles it; these are the ones a test provokes on purpose.
EXPECTED_412 = "the server responded with a status of 412"


def save_token(page: Page, token: str) -> None:
    page.get_by_label("Write token").fill(token)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("token-set")).to_be_visible()


def test_browser_creates_edits_and_deletes_an_item(page, console, site, artifacts):
    scripts: list[Response] = []
    page.on(
        "response",
        lambda response: scripts.append(response) if response.url.endswith(".js") else None,
    )

    page.goto(site.url + "/")
    expect(page.get_by_text("No items yet")).to_be_visible()
    save_token(page, site.token)

    page.get_by_role("link", name="New item").click()
    page.get_by_label("Name").fill("Walnut desk")
    page.get_by_label("Description").fill("Solid wood, 140 cm.")
    page.get_by_label("Tags").fill("furniture, office")
    page.get_by_role("button", name="Create item").click()
    expect(page).to_have_url(re.compile(r"/items/\d+$"))
    item_url = page.url

    page.get_by_role("link", name="All items").click()
    expect(page.get_by_test_id("item-link")).to_have_text(["Walnut desk"])
    page.screenshot(path=artifacts / "list.png", full_page=True)

    page.get_by_role("link", name="Walnut desk").click()
    expect(page).to_have_url(item_url)
    expect(page.get_by_role("heading", name="Walnut desk")).to_be_visible()
    page.screenshot(path=artifacts / "detail.png", full_page=True)

    page.reload()
    expect(page.get_by_role("heading", name="Walnut desk")).to_be_visible()
    expect(page.get_by_text("Solid wood, 140 cm.")).to_be_visible()

    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(item_url + "/edit")
    page.reload()
    expect(page.get_by_label("Name")).to_have_value("Walnut desk")

    item_id = int(item_url.rsplit("/", 1)[1])
    site.api.patch(f"/api/items/{item_id}", json={"name": "Oak desk"}).raise_for_status()
    page.get_by_label("Name").fill("My walnut desk")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Someone else changed this item")).to_be_visible()
    page.get_by_role("button", name="Reload the latest version").click()
    expect(page.get_by_label("Name")).to_have_value("Oak desk")
    page.get_by_label("Name").fill("Oak desk, refinished")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(item_url)
    expect(page.get_by_role("heading", name="Oak desk, refinished")).to_be_visible()
    expect(page.get_by_test_id("version")).to_have_text("3")

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(site.url + "/")
    expect(page.get_by_text("No items yet")).to_be_visible()
    assert site.api.get(f"/api/items/{item_id}").status_code == 404

    app_scripts = [r for r in scripts if "/_app/immutable/" in r.url]
    assert app_scripts, "the page loaded no hashed JS"
    for response in app_scripts:
        headers = response.all_headers()
        assert response.status == 200
        assert headers["content-encoding"] == "br", response.url
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert [e for e in console.errors if EXPECTED_412 not in e] == []
    assert len(console.errors) == 1


def test_browser_shows_not_found_for_a_missing_item(page, console, site):
    page.goto(site.url + "/items/987654")
    expect(page.get_by_role("heading", name="Item not found")).to_be_visible()
    assert all("status of 404" in error for error in console.errors)


def test_browser_reports_a_refused_token(page, site):
    page.goto(site.url + "/items/new")
    save_token(page, "not-a-real-token")
    page.get_by_label("Name").fill("Lamp")
    page.get_by_role("button", name="Create item").click()
    expect(page.get_by_text("The write token was refused")).to_be_visible()
    assert site.api.get("/api/items").json()["items"] == []


def test_browser_pages_sorts_and_searches(page, console, site):
    for number in range(1, 26):
        site.create_item(f"Item {number:02d}", description="blue" if number % 5 == 0 else "")
    page.goto(site.url + "/")
    links = page.get_by_test_id("item-link")
    expect(links).to_have_count(20)
    expect(links.first).to_have_text("Item 25")
    page.get_by_role("button", name="Next").click()
    expect(links).to_have_count(5)
    expect(links.last).to_have_text("Item 01")
    page.get_by_role("button", name="Previous").click()
    expect(links).to_have_count(20)

    page.get_by_label("Sort").select_option("name")
    expect(links.first).to_have_text("Item 01")
    expect(page).to_have_url(re.compile(r"sort=name"))

    page.get_by_role("searchbox").fill("blue")
    page.get_by_role("button", name="Search").click()
    expect(links).to_have_text([f"Item {n:02d}" for n in (5, 10, 15, 20, 25)])
    page.reload()
    expect(links).to_have_count(5)
    assert console.errors == []


def test_browser_search_finds_a_prefix_ranked_by_relevance(page, console, site):
    site.create_item("Claw hammer", description="Forged steel head")
    site.create_item("Tape measure", description="Five metres")
    # Newer, and only its description matches: relevance puts it second.
    site.create_item("Nail set", description="For use with a hammer")
    page.goto(site.url + "/")
    sort = page.get_by_label("Sort")
    expect(sort).to_have_value("-created_at")
    expect(sort.get_by_role("option", name="Relevance")).to_have_count(0)

    page.get_by_role("searchbox").fill("hamm")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("item-link")).to_have_text(["Claw hammer", "Nail set"])
    expect(sort).to_have_value("relevance")
    expect(sort.locator("option:checked")).to_have_text("Relevance")
    expect(page).to_have_url(re.compile(r"\?q=hamm$"))

    page.reload()
    expect(sort).to_have_value("relevance")
    page.get_by_role("searchbox").fill("")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("item-link")).to_have_count(3)
    expect(sort).to_have_value("-created_at")
    expect(sort.get_by_role("option", name="Relevance")).to_have_count(0)
    assert console.errors == []


@pytest.mark.parametrize("width", [375, 1440])
def test_browser_layout_fits_the_viewport(browser, site, width, artifacts):
    item = site.create_item(
        "A rather long item name that has to wrap on a narrow phone screen",
        description="word " * 200,
        tags=[f"tag-{n}" for n in range(12)],
    )
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        for path in ("/", f"/items/{item['id']}", f"/items/{item['id']}/edit"):
            page.goto(site.url + path)
            expect(page.get_by_text("A rather long item name").first).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} overflows by {overflow}px at {width}px"
        page.screenshot(path=artifacts / f"edit-{width}.png", full_page=True)
    finally:
        context.close()
