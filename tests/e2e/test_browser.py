from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Dialog, Page, Response, expect

pytestmark = pytest.mark.browser

# Chromium logs every 4xx a fetch receives as a console error, even when the app
# handles it; these are the ones a test provokes on purpose.
EXPECTED_412 = "the server responded with a status of 412"
APP_NAME = "onebin items"


def title(page_name: str) -> str:
    """A page's <title>: its own name, an en dash, then the app's name."""
    return f"{page_name} \u2013 {APP_NAME}"


# The advice where a token is asked for; the text may break lines between words.
TOKEN_HELP = re.compile(
    r"run\s+onebin\s+token\s+create\s+--name\s+you\b.*"
    r"dist/onebin\s+token\s+create\s+--name\s+you\b.*"
    r"paste\s+the\s+token\s+it\s+prints",
    re.DOTALL,
)


def save_token(page: Page, token: str, name: str = "browser") -> None:
    page.get_by_label("Write token").fill(token)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("token-set")).to_have_text(re.compile(f"Signed in as {name}"))


def stored_token(page: Page) -> str | None:
    return page.evaluate("localStorage.getItem('onebin.token')")


def server_error(site, token: str) -> dict:
    """What GET /api/token answers for ``token``, as the page will receive it."""
    response = httpx.get(
        site.url + "/api/token", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    return {"status": response.status_code, **response.json()["error"]}


class Dialogs:
    """Answers each dialog the page opens from a queue of answers, and records it."""

    def __init__(self, page: Page) -> None:
        self.answers: list[bool] = []
        self.seen: list[tuple[str, str]] = []
        page.on("dialog", self._answer)

    def _answer(self, dialog: Dialog) -> None:
        self.seen.append((dialog.type, dialog.message))
        if self.answers and self.answers.pop(0):
            dialog.accept()
        else:
            dialog.dismiss()


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
    page.get_by_label("Name", exact=True).fill("Walnut desk")
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
    expect(page.get_by_label("Name", exact=True)).to_have_value("Walnut desk")

    item_id = int(item_url.rsplit("/", 1)[1])
    site.api.patch(f"/api/items/{item_id}", json={"name": "Oak desk"}).raise_for_status()
    page.get_by_label("Name", exact=True).fill("My walnut desk")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Someone else changed this item")).to_be_visible()
    page.get_by_role("button", name="Reload the latest version").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Oak desk")
    page.get_by_label("Name", exact=True).fill("Oak desk, refinished")
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


def test_browser_checks_a_pasted_token_before_saving_it(page, site):
    bad = server_error(site, "not-a-real-token")
    assert bad["status"] == 401
    page.goto(site.url + "/")
    page.get_by_label("Write token").fill("not-a-real-token")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(f"Not saved: {bad['message']}")
    expect(page.get_by_test_id("token-set")).to_have_count(0)
    assert stored_token(page) is None
    page.reload()
    expect(page.get_by_label("Write token")).to_be_visible()

    save_token(page, site.token, "browser")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert stored_token(page) == site.token
    page.reload()
    expect(page.get_by_test_id("token-set")).to_have_text(re.compile("Signed in as browser"))
    page.get_by_role("button", name="Forget token").click()
    expect(page.get_by_label("Write token")).to_be_focused()
    assert stored_token(page) is None


def test_browser_reports_a_rate_limited_token_check(page, site):
    for _ in range(200):
        limited = server_error(site, "guess")
        if limited["status"] == 429:
            break
    assert limited["code"] == "too_many_failed_attempts"
    page.goto(site.url + "/")
    page.get_by_label("Write token").fill("another-guess")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(re.escape(f"Not saved: {limited['message']}") + r" \(wait \d+ s\)")
    )
    assert stored_token(page) is None
    # A valid token is never limited.
    save_token(page, site.token)


def test_browser_explains_how_to_get_a_token(page, site):
    page.goto(site.url + "/")
    expect(page.get_by_label("Write token")).to_have_accessible_description(TOKEN_HELP)
    page.get_by_role("link", name="New item").click()
    expect(page.get_by_role("status").filter(has_text="needs a write token")).to_contain_text(
        "paste it at the top of the page, where it says how to get one"
    )
    expect(page.get_by_label("Write token")).to_have_accessible_description(TOKEN_HELP)

    # A token revoked after it was saved: the write is refused, the page says how to
    # get a new one, and the header asks for it again.
    save_token(page, site.token)
    expect(page.get_by_text("needs a write token")).to_have_count(0)
    site.revoke_token("browser")
    page.get_by_label("Name", exact=True).fill("Lamp")
    page.get_by_role("button", name="Create item").click()
    alert = page.get_by_role("alert").filter(has_text="Not created")
    expect(alert).to_contain_text("The write token was refused")
    expect(alert).to_contain_text(TOKEN_HELP)
    expect(page.get_by_label("Write token")).to_be_visible()
    assert stored_token(page) is None
    assert site.api.get("/api/items").json()["items"] == []


def test_browser_forgets_a_saved_token_revoked_since(page, site):
    page.goto(site.url + "/")
    save_token(page, site.token)
    site.revoke_token("browser")
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("Your saved token no longer works")
    expect(page.get_by_label("Write token")).to_be_visible()
    assert stored_token(page) is None


def test_browser_shows_not_found_with_a_way_back(page, console, site):
    for path in ("/no/such/page", "/items/987654/edit", "/items/not-a-number"):
        page.goto(site.url + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            re.compile(r"(Page|Item) not found")
        )
        expect(page).to_have_title(title("Not found"))
        page.get_by_role("link", name="Go to the list of items").click()
        expect(page).to_have_url(site.url + "/")
        expect(page.get_by_role("heading", name="Items")).to_be_visible()
    # The missing item's API 404 (and 400 for a non-number id), nothing else.
    assert [e for e in console.errors if not re.search("status of 40[04]", e)] == []


def test_browser_gives_each_page_its_own_title(page, console, site):
    item = site.create_item("Walnut desk")
    page.goto(site.url + "/")
    expect(page).to_have_title(title("Items"))
    page.get_by_role("searchbox").fill("walnut")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_title(title("Search “walnut”"))
    page.get_by_role("link", name="Walnut desk").click()
    expect(page).to_have_title(title("Walnut desk"))
    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_title(title("Edit Walnut desk"))
    page.goto(site.url + "/items/new")
    expect(page).to_have_title(title("New item"))
    page.goto(site.url + f"/items/{item['id'] + 1}")
    expect(page).to_have_title(title("Not found"))
    assert [e for e in console.errors if "status of 404" not in e] == []


def test_browser_focuses_the_list_and_announces_a_delete(page, console, site):
    item = site.create_item("Brass lamp")
    site.create_item("Oak table")
    page.goto(site.url + f"/items/{item['id']}")
    save_token(page, site.token)
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(site.url + "/")
    expect(page.get_by_role("heading", name="Items")).to_be_focused()
    flash = page.get_by_test_id("flash")
    expect(flash).to_have_text("Deleted “Brass lamp”.")
    expect(flash).to_have_attribute("aria-live", "polite")
    expect(flash).to_have_role("status")
    expect(page.get_by_test_id("item-link")).to_have_text(["Oak table"])
    # The message belongs to that moment: the next navigation clears it.
    page.get_by_role("link", name="Oak table").click()
    expect(flash).to_have_text("")
    assert console.errors == []


def test_browser_asks_before_leaving_unsaved_changes(page, console, site):
    item = site.create_item("Pine shelf")
    item_url = f"{site.url}/items/{item['id']}"
    dialogs = Dialogs(page)
    page.goto(item_url + "/edit")
    save_token(page, site.token)
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_value("Pine shelf")

    # Nothing changed: leaving asks nothing.
    page.get_by_role("link", name="Back to the item").click()
    expect(page).to_have_url(item_url)
    page.get_by_role("link", name="Edit").click()
    expect(name).to_have_value("Pine shelf")

    # Changed: a link asks first; "stay" keeps the edit, "leave" drops it.
    name.click()
    name.press_sequentially(" (painted)")
    with page.expect_event("dialog"):
        page.get_by_role("link", name="Back to the item").click()
    expect(page).to_have_url(item_url + "/edit")
    expect(name).to_have_value("Pine shelf (painted)")
    assert dialogs.seen[-1][0] == "confirm"
    assert "unsaved changes" in dialogs.seen[-1][1]

    dialogs.answers.append(True)
    with page.expect_event("dialog"):
        page.get_by_role("link", name=APP_NAME).click()
    expect(page).to_have_url(site.url + "/")
    assert site.api.get(f"/api/items/{item['id']}").json()["name"] == "Pine shelf"

    # Closing or reloading the tab gets the browser's own prompt (beforeunload).
    page.goto(item_url + "/edit")
    name.click()
    name.press_sequentially("!")
    with page.expect_event("dialog") as unload:
        page.close(run_before_unload=True)
    assert unload.value.type == "beforeunload"
    expect(name).to_have_value("Pine shelf!")

    # After a save the form leaves without asking (a dismissed prompt would keep it).
    seen = len(dialogs.seen)
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(item_url)
    expect(page.get_by_role("heading", name="Pine shelf!")).to_be_visible()
    assert len(dialogs.seen) == seen
    assert console.errors == []


def test_browser_closes_an_unchanged_edit_without_asking(page, site):
    item = site.create_item("Pine shelf")
    dialogs = Dialogs(page)
    page.goto(f"{site.url}/items/{item['id']}/edit")
    name = page.get_by_label("Name", exact=True)
    name.click()  # user activation, without which Chromium never shows beforeunload
    name.press_sequentially("x")
    name.press("Backspace")
    expect(name).to_have_value("Pine shelf")
    with page.expect_event("close"):
        page.close(run_before_unload=True)
    assert dialogs.seen == []


def test_browser_asks_before_leaving_a_new_item(page, site):
    dialogs = Dialogs(page)
    page.goto(site.url + "/items/new")
    page.get_by_label("Name", exact=True).fill("Half-typed")
    with page.expect_event("dialog"):
        page.get_by_role("link", name="All items").click()
    expect(page).to_have_url(site.url + "/items/new")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Half-typed")
    assert dialogs.seen[0][0] == "confirm"


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
    site.wait_embedded(3)
    page.goto(site.url + "/")
    sort = page.get_by_label("Sort")
    expect(sort).to_have_value("-created_at")
    expect(sort.get_by_role("option", name="Relevance")).to_have_count(0)

    page.get_by_role("searchbox").fill("hamm")
    page.get_by_role("button", name="Search").click()
    # Hybrid: the items with the word come first, by relevance; the others follow.
    links = page.get_by_test_id("item-link")
    expect(links.first).to_have_text("Claw hammer")
    expect(links.nth(1)).to_have_text("Nail set")
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
        pages = [
            ("/items/new", "Creating an item needs a write token"),
            ("/no/such/page", "Page not found"),
        ]
        # The edit page last: the screenshot below is of it.
        pages += [
            (path, "A rather long item name")
            for path in ("/", f"/items/{item['id']}", f"/items/{item['id']}/edit")
        ]
        for path, text in pages:
            page.goto(site.url + path)
            expect(page.get_by_text(text).first).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} overflows by {overflow}px at {width}px"
        page.screenshot(path=artifacts / f"edit-{width}.png", full_page=True)
    finally:
        context.close()
