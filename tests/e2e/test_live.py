"""Live pages: changes made elsewhere (the API, another client, another tab) appear in
open pages without a reload, through the server-sent events of ``GET /api/events``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import Console
from tests.support import ServerProcess, free_port, make_token

pytestmark = pytest.mark.browser

# Chromium logs every 4xx a fetch receives as a console error, even when the app
# handles it; these are the ones a test provokes on purpose.
EXPECTED_412 = "the server responded with a status of 412"
# A change arrives within this; the pages batch bursts for 250 ms.
LIVE_MS = 5_000


def save_token(page: Page, token: str) -> None:
    page.get_by_label("Write token").fill(token)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("token-set")).to_be_visible()


def wait_live(page: Page) -> None:
    """Until the page's event stream is open: later changes must reach it as events."""
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "open")


def names(page: Page):
    return page.get_by_test_id("item-link")


def test_list_and_detail_follow_changes_made_through_the_api(page, console, other_page, site):
    anvil = site.create_item("Anvil", description="Cast iron")
    bench = site.create_item("Bench")

    page.goto(site.url + "/")
    expect(names(page)).to_have_text(["Bench", "Anvil"])
    wait_live(page)
    detail = other_page()
    detail_console = Console(detail)
    detail.goto(f"{site.url}/items/{anvil['id']}")
    expect(detail.get_by_role("heading", name="Anvil")).to_be_visible()
    wait_live(detail)

    site.api.patch(f"/api/items/{anvil['id']}", json={"name": "Heavy anvil"}).raise_for_status()
    expect(names(page)).to_have_text(["Bench", "Heavy anvil"], timeout=LIVE_MS)
    expect(detail.get_by_role("heading", name="Heavy anvil")).to_be_visible(timeout=LIVE_MS)
    expect(detail.get_by_test_id("version")).to_have_text("2")

    site.create_item("Chisel")
    expect(names(page)).to_have_text(["Chisel", "Bench", "Heavy anvil"], timeout=LIVE_MS)

    # A search (and the order it implies) is kept: the same query is asked again.
    # Hybrid search ranks the items with the word first, then the others by meaning,
    # once the background job has embedded them.
    site.wait_embedded(3)
    page.get_by_role("searchbox").fill("anvil")
    page.get_by_role("button", name="Search").click()
    expect(names(page)).to_have_text(["Heavy anvil", "Chisel", "Bench"])
    site.api.patch(
        f"/api/items/{bench['id']}", json={"description": "For anvil work"}
    ).raise_for_status()
    expect(names(page)).to_have_text(["Heavy anvil", "Bench", "Chisel"], timeout=LIVE_MS)
    expect(page).to_have_url(re.compile(r"/\?q=anvil$"))

    # Deleted elsewhere: the list drops it, its detail page says so.
    site.api.delete(f"/api/items/{anvil['id']}").raise_for_status()
    expect(names(page)).to_have_text(["Bench", "Chisel"], timeout=LIVE_MS)
    expect(detail.get_by_test_id("deleted")).to_have_text(
        re.compile("This item has been deleted"), timeout=LIVE_MS
    )
    expect(detail).to_have_title(re.compile("^Deleted: Heavy anvil"))
    expect(detail.get_by_role("button", name="Delete")).to_have_count(0)

    assert console.errors == []
    assert detail_console.errors == []


def test_a_burst_of_changes_reloads_the_list_a_few_times(page, console, site):
    items = [site.create_item(f"Crate {n:02}") for n in range(20)]
    page.goto(site.url + "/?sort=name")
    expect(names(page)).to_have_count(20)
    wait_live(page)
    lists: list[Request] = []
    page.on("request", lambda r: lists.append(r) if "/api/items?" in r.url else None)

    for item in items:
        site.api.patch(f"/api/items/{item['id']}", json={"tags": ["moved"]}).raise_for_status()
    expect(page.locator(".items > li").filter(has_text="moved")).to_have_count(20, timeout=LIVE_MS)
    assert 1 <= len(lists) <= 10, [r.url for r in lists]
    assert all("sort=name" in r.url for r in lists)
    assert console.errors == []


def test_a_page_in_another_tab_follows_changes_made_in_this_one(page, console, site):
    lamp = site.create_item("Lamp")
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if r.url.endswith("/api/events") else None)
    page.goto(site.url + "/")
    save_token(page, site.token)
    # Same browser, so the same token: a second tab, on the item.
    tab = page.context.new_page()
    tab_console = Console(tab)
    tab.goto(f"{site.url}/items/{lamp['id']}")
    expect(tab.get_by_role("heading", name="Lamp")).to_be_visible()
    wait_live(tab)

    page.get_by_role("link", name="Lamp").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Name", exact=True).fill("Desk lamp")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Desk lamp")).to_be_visible()
    # The tab that saved has no notice about its own change.
    expect(page.get_by_test_id("changed-elsewhere")).to_have_count(0)
    expect(tab.get_by_role("heading", name="Desk lamp")).to_be_visible(timeout=LIVE_MS)
    expect(tab.get_by_test_id("version")).to_have_text("2")

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_text("No items yet")).to_be_visible()
    expect(tab.get_by_test_id("deleted")).to_be_visible(timeout=LIVE_MS)
    # One stream for the whole visit: kept across the pages, closed where none listens.
    assert len(streams) == 1
    page.get_by_role("link", name="New item").click()
    expect(page.get_by_test_id("live")).to_have_count(0)
    assert console.errors == []
    assert tab_console.errors == []


def test_the_edit_page_says_when_the_item_changes_elsewhere(page, console, other_page, site):
    lamp = site.create_item("Lamp", description="Brass")
    edit_url = f"{site.url}/items/{lamp['id']}/edit"
    page.goto(edit_url)
    save_token(page, site.token)
    expect(page.get_by_label("Name", exact=True)).to_have_value("Lamp")
    wait_live(page)
    page.get_by_label("Description").fill("Brass, with a green shade")

    # Another client edits it in its own page and saves first.
    other = other_page()
    other_console = Console(other)
    other.goto(edit_url)
    save_token(other, site.token)
    other.get_by_label("Name", exact=True).fill("Banker's lamp")
    other.get_by_role("button", name="Save changes").click()
    expect(other.get_by_role("heading", name="Banker's lamp")).to_be_visible()

    notice = page.get_by_test_id("changed-elsewhere")
    expect(notice).to_contain_text("changed by someone else", timeout=LIVE_MS)
    expect(notice).to_contain_text("you loaded version 1, it is now version 2")
    # What the user typed is still there until they choose to reload.
    expect(page.get_by_label("Description")).to_have_value("Brass, with a green shade")
    page.get_by_role("button", name="Reload the latest version").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Banker's lamp")
    expect(page.get_by_label("Description")).to_have_value("Brass")
    expect(notice).to_have_count(0)

    # Saved now, on the latest version: the other client's detail page follows.
    page.get_by_label("Description").fill("Brass, with a green shade")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Banker's lamp")).to_be_visible()
    expect(page.get_by_test_id("version")).to_have_text("3")
    expect(other.get_by_text("Brass, with a green shade")).to_be_visible(timeout=LIVE_MS)
    expect(other.get_by_test_id("version")).to_have_text("3")

    # Changed through the API while edited: the notice, and saving anyway is still
    # refused by If-Match (412), with the same way to reload.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Banker's lamp")
    site.api.patch(f"/api/items/{lamp['id']}", json={"name": "Green lamp"}).raise_for_status()
    expect(notice).to_contain_text("it is now version 4", timeout=LIVE_MS)
    expect(other.get_by_role("heading", name="Green lamp")).to_be_visible(timeout=LIVE_MS)
    page.get_by_label("Name", exact=True).fill("Mine")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Someone else changed this item")).to_be_visible()
    expect(notice).to_have_count(0)
    page.get_by_role("button", name="Reload the latest version").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Green lamp")

    # Deleted while edited.
    site.api.delete(f"/api/items/{lamp['id']}").raise_for_status()
    expect(notice).to_contain_text("deleted by someone else", timeout=LIVE_MS)

    assert [e for e in console.errors if EXPECTED_412 not in e] == []
    assert other_console.errors == []


def set_visibility(page: Page, state: str) -> None:
    """What switching to another tab and back does to a page, as far as it can tell."""
    page.evaluate(
        """state => {
            const property = { value: state, configurable: true };
            Object.defineProperty(document, 'visibilityState', property);
            document.dispatchEvent(new Event('visibilitychange'));
        }""",
        state,
    )


def test_a_hidden_page_lets_go_of_its_stream_and_catches_up_when_shown(page, console, site):
    item = site.create_item("Teapot")
    page.goto(f"{site.url}/items/{item['id']}")
    expect(page.get_by_role("heading", name="Teapot")).to_be_visible()
    wait_live(page)

    set_visibility(page, "hidden")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "connecting")
    site.api.patch(f"/api/items/{item['id']}", json={"name": "Blue teapot"}).raise_for_status()
    set_visibility(page, "visible")
    expect(page.get_by_role("heading", name="Blue teapot")).to_be_visible(timeout=LIVE_MS)
    wait_live(page)
    assert console.errors == []


@pytest.fixture
def restartable(tmp_path: Path, built_frontend: None):
    """A server on a fixed port that a test may stop and start again."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    token = make_token(data_dir, "live")
    servers: list[ServerProcess] = []

    def start(port: int) -> ServerProcess:
        server = ServerProcess(data_dir, port=port).start()
        servers.append(server)
        return server

    yield start, token
    for server in servers:
        server.stop()


def test_a_page_catches_up_after_the_server_was_away(page, console, restartable):
    start, token = restartable
    port = free_port()
    server = start(port)
    api = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"})
    item = api.post("/api/items", json={"name": "Kettle"}).json()
    page.goto(f"{server.url}/items/{item['id']}")
    expect(page.get_by_role("heading", name="Kettle")).to_be_visible()
    wait_live(page)

    server.terminate()
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "connecting")
    # Changed while the page could not hear about it (the same data, another port).
    elsewhere = start(free_port())
    httpx.patch(
        f"{elsewhere.url}/api/items/{item['id']}",
        json={"name": "Whistling kettle"},
        headers={"authorization": f"Bearer {token}"},
    ).raise_for_status()
    elsewhere.terminate()

    start(port)
    expect(page.get_by_role("heading", name="Whistling kettle")).to_be_visible(timeout=40_000)
    wait_live(page)
    api.patch(f"/api/items/{item['id']}", json={"name": "Quiet kettle"}).raise_for_status()
    expect(page.get_by_role("heading", name="Quiet kettle")).to_be_visible(timeout=LIVE_MS)
    api.close()
    # Only the browser's own reports of the refused connections, none from the app.
    assert [e for e in console.errors if "ERR_CONNECTION_REFUSED" not in e] == []
