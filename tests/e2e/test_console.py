"""The admin console (/_onebin/) in real headless Chromium against a real ``onebin serve``.

The server runs ``tests.e2e.consoleapp``, whose job fails on demand: the console is
onebin's, the same for every app, and that app makes a dead job without waiting out
retries. Tokens and webhooks are made with the command line, as an operator would.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, Response, expect

from tests.e2e.consoleapp import ERROR
from tests.support import (
    ONEBIN,
    ServerProcess,
    make_token,
    raw_exchange,
    split_response,
    wait_until,
)

pytestmark = pytest.mark.browser

APP = ("--app", "tests.e2e.consoleapp:app")
TOKEN_KEY = "onebin.console.token"
SECTIONS = [
    "Health",
    "Database",
    "Certificates",
    "Backups",
    "Tokens",
    "Jobs",
    "Webhooks",
    "Recent requests",
]
# Chromium logs every 4xx a fetch receives as a console error, even when the page
# handles it.
REFUSED = re.compile(r"the server responded with a status of (401|403|429)")


def onebin(data_dir: Path, *args: str, database_url: str | None = None) -> str:
    """Run an ``onebin`` command on the test's database; what it printed."""
    where = ("--database-url", database_url) if database_url else ()
    result = subprocess.run(
        [*ONEBIN, *args, *APP, "--data-dir", str(data_dir), *where],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


class Site:
    """The running server, an admin token ``ops``, a write token ``writer``, and a
    client that asks the console's API what the page should show."""

    def __init__(self, server: ServerProcess, admin: str, writer: str, broken: Path) -> None:
        self.url = server.url
        self.port = server.port
        self.data_dir = server.data_dir
        self.admin = admin
        self.writer = writer
        self.broken = broken
        self.api = httpx.Client(
            base_url=server.url + "/_onebin/api/",
            headers={"authorization": f"Bearer {admin}"},
            timeout=10,
        )

    def dead_job(self) -> int:
        """A job that failed its only attempt, with ``ERROR`` as its last error."""
        self.broken.touch()
        job_id = httpx.post(self.url + "/fragile", timeout=10).json()["id"]
        wait_until(lambda: job_id in self.job_ids("dead"), what=f"job {job_id} dead")
        return job_id

    def job_ids(self, state: str) -> list[int]:
        response = self.api.get("jobs", params={"state": state})
        response.raise_for_status()
        return [job["id"] for job in response.json()["jobs"]]


@contextmanager
def start_site(tmp_path: Path, *, database_url: str | None = None) -> Iterator[Site]:
    data_dir = tmp_path / "data"
    broken = tmp_path / "broken"
    admin = onebin(
        data_dir, "token", "create", "--name", "ops", "--admin", database_url=database_url
    )
    writer = onebin(data_dir, "token", "create", "--name", "writer", database_url=database_url)
    options = (*APP, "--database-url", database_url) if database_url else APP
    env = {"CONSOLEAPP_BROKEN": str(broken)}
    with ServerProcess(data_dir, extra_args=options, env=env) as server:
        site = Site(server, admin, writer, broken)
        try:
            yield site
        finally:
            site.api.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with start_site(tmp_path) as site:
        yield site


def open_console(page: Page, site: Site, path: str = "/_onebin/") -> None:
    page.goto(site.url + path)
    expect(page.get_by_label("Admin token")).to_be_visible()


def sign_in(page: Page, site: Site, token: str | None = None) -> None:
    open_console(page, site)
    page.get_by_label("Admin token").fill(token or site.admin)
    page.get_by_role("button", name="Sign in").click()
    expect(section(page, "Health")).to_be_visible()
    expect(page.get_by_test_id("health-status")).to_have_text("ready")


def section(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name=name, exact=True)


def row(page: Page, where: str, text: str) -> Locator:
    return section(page, where).get_by_role("row").filter(has_text=text)


def edges(element: Locator) -> tuple[float, float]:
    """Where ``element`` starts and ends across the page, in CSS pixels."""
    box = element.bounding_box()
    assert box is not None
    return box["x"], box["x"] + box["width"]


def stored_token(page: Page) -> str | None:
    return page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')")


class Dialogs:
    """Answers each confirm() with the next answer queued, and records its message."""

    def __init__(self, page: Page) -> None:
        self.answers: list[bool] = []
        self.seen: list[str] = []
        page.on("dialog", self._answer)

    def _answer(self, dialog: Dialog) -> None:
        self.seen.append(dialog.message)
        if self.answers and self.answers.pop(0):
            dialog.accept()
        else:
            dialog.dismiss()


def test_console_shows_health_database_tokens_and_webhooks(page, console, site, artifacts):
    hook = onebin(
        site.data_dir,
        "webhook",
        "add",
        "https://hooks.example/onebin",
        "--events",
        "item.*",
        "--json",
    )
    secret = json.loads(hook)["secret"]
    # Without the trailing slash too: the page's files and API calls still resolve.
    open_console(page, site, "/_onebin")
    page.get_by_label("Admin token").fill(site.admin)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_test_id("health-status")).to_have_text("ready")
    expect(
        section(page, "Health").get_by_role("row").filter(has_text="database_write")
    ).to_contain_text("ok")
    expect(section(page, "Health")).to_contain_text("consoleapp 0.0.0")
    database = section(page, "Database")
    expect(database).to_contain_text("SQLite")
    expect(database).to_contain_text(str(site.data_dir / "onebin.sqlite3"))
    expect(database).to_contain_text(re.compile(r"Size\s*\d+(\.\d)? (KiB|MiB)"))
    expect(section(page, "Certificates")).to_contain_text("No certificates (HTTPS is off)")
    expect(page.get_by_role("heading", name="Search by meaning")).to_be_hidden()
    expect(row(page, "Tokens", "ops")).to_contain_text("admin")
    expect(row(page, "Tokens", "writer")).to_contain_text("write")
    expect(row(page, "Tokens", "writer")).to_contain_text("active")
    webhook = row(page, "Webhooks", "hooks.example")
    expect(webhook).to_contain_text("https://hooks.example/onebin")
    expect(webhook).to_contain_text("item.*")
    assert secret not in page.content()

    # The token is this tab's only: sessionStorage, no cookie, nothing in localStorage.
    assert stored_token(page) == site.admin
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    page.reload()
    expect(page.get_by_test_id("health-status")).to_have_text("ready")
    page.screenshot(path=artifacts / "console.png", full_page=True)
    assert console.errors == []


def test_console_creates_a_token_and_shows_its_secret_once(page, console, site):
    sign_in(page, site)
    page.get_by_label("Name", exact=True).fill("deploy")
    page.get_by_role("button", name="Create token").click()
    box = page.get_by_role("region", name="New token “deploy”")
    expect(box).to_contain_text("shown only this once")
    secret = page.get_by_label("New token secret").input_value()
    expect(row(page, "Tokens", "deploy")).to_contain_text("write")
    # A real write token: valid, so the console's API says "not an admin token".
    refused = httpx.get(
        site.url + "/_onebin/api/overview", headers={"authorization": f"Bearer {secret}"}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_required")

    page.get_by_role("button", name="Done").click()
    expect(box).to_be_hidden()
    assert secret not in page.content()
    page.reload()
    expect(row(page, "Tokens", "deploy")).to_be_visible()
    assert secret not in page.content()

    # A name in use: the server's message, beside the form.
    duplicate = site.api.post("tokens", json={"name": "deploy"})
    assert duplicate.status_code == 409
    page.get_by_label("Name", exact=True).fill("deploy")
    page.get_by_role("button", name="Create token").click()
    expect(section(page, "Tokens").get_by_role("alert")).to_have_text(
        "Not created: " + duplicate.json()["error"]["message"]
    )

    page.get_by_label("Name", exact=True).fill("root")
    page.get_by_label("Admin", exact=True).check()
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("region", name="New admin token “root”")).to_be_visible()
    expect(section(page, "Tokens").get_by_role("alert")).to_have_count(0)
    admin = page.get_by_label("New token secret").input_value()
    assert site.api.get("overview", headers={"authorization": f"Bearer {admin}"}).status_code == 200
    expect(row(page, "Tokens", "root")).to_contain_text("admin")
    assert [e for e in console.errors if "status of 409" not in e] == []


def test_console_revokes_a_token_after_asking(page, console, site):
    dialogs = Dialogs(page)
    sign_in(page, site)
    writer = row(page, "Tokens", "writer")

    dialogs.answers.append(False)
    with page.expect_event("dialog"):
        writer.get_by_role("button", name="Revoke writer").click()
    assert "writer" in dialogs.seen[-1]
    expect(writer).to_contain_text("active")

    dialogs.answers.append(True)
    writer.get_by_role("button", name="Revoke writer").click()
    expect(writer).to_contain_text("revoked")
    expect(writer.get_by_role("button")).to_have_count(0)
    refused = httpx.get(
        site.url + "/_onebin/api/overview", headers={"authorization": f"Bearer {site.writer}"}
    )
    assert refused.status_code == 401

    # Revoking the token this tab uses signs it out.
    dialogs.answers.append(True)
    row(page, "Tokens", "ops").get_by_role("button", name="Revoke ops").click()
    expect(page.get_by_role("alert")).to_contain_text("You revoked “ops”, the token this tab")
    expect(page.get_by_label("Admin token")).to_be_visible()
    expect(section(page, "Tokens")).to_be_hidden()
    assert stored_token(page) is None
    assert all(REFUSED.search(e) for e in console.errors)


def test_console_backs_up_and_downloads_the_backup(page, console, site, tmp_path):
    sign_in(page, site)
    backups = section(page, "Backups")
    expect(backups).to_contain_text("No backups yet.")
    expect(backups).to_contain_text("No automatic backups")
    backups.get_by_role("button", name="Back up now").click()
    expect(backups.get_by_role("status")).to_contain_text("Backed up to ")
    (listed,) = site.api.get("backups").json()["backups"]
    expect(row(page, "Backups", listed["name"])).to_be_visible()

    with page.expect_download() as started:
        backups.get_by_role("button", name=f"Download {listed['name']}").click()
    download = started.value
    assert download.suggested_filename == listed["name"]
    saved = tmp_path / "downloaded"
    download.save_as(saved)
    content = saved.read_bytes()
    assert content.startswith(b"SQLite format 3\x00")
    assert len(content) == listed["size_bytes"]
    assert console.errors == []


def test_console_shows_a_dead_job_and_retries_it(page, console, site):
    job_id = site.dead_job()
    sign_in(page, site)
    jobs = section(page, "Jobs")
    dead = jobs.get_by_role("row").filter(
        has=page.get_by_role("button", name=f"Retry job {job_id}")
    )
    # The error is shown as the text it is: the markup in it makes no element.
    expect(dead).to_contain_text(f"RuntimeError: {ERROR}")
    expect(dead).to_contain_text("fragile")
    expect(page.locator("#job-xss")).to_have_count(0)
    expect(jobs.get_by_role("row").filter(has_text="dead")).to_contain_text("1")

    site.broken.unlink()
    dead.get_by_role("button", name=f"Retry job {job_id}").click()
    expect(jobs).to_contain_text("No dead jobs.")
    wait_until(lambda: job_id in site.job_ids("done"), what=f"job {job_id} done")
    page.get_by_role("button", name="Refresh").click()
    expect(jobs.get_by_role("row").filter(has_text="done")).to_contain_text("1")
    expect(jobs).to_contain_text("No dead jobs.")
    assert console.errors == []


def test_console_lists_recent_requests_newest_first_as_text(page, console, site):
    first = httpx.get(site.url + "/first", timeout=10).headers["x-request-id"]
    # Sent as it is, unescaped (a browser would percent-encode it; an attacker need not),
    # and logged as sent: a path is the attacker's text.
    attack = "/<img/id=path-xss>&amp;\"'"
    status, headers, _ = split_response(
        raw_exchange(site.port, f"GET {attack} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    )
    probe = headers["x-request-id"]
    sign_in(page, site)
    requests = section(page, "Recent requests")

    line = requests.get_by_role("row").filter(has_text=probe)
    cells = line.get_by_role("cell")
    expect(cells.nth(2)).to_have_text(attack)
    expect(cells.nth(1)).to_have_text("GET")
    expect(cells.nth(3)).to_have_text(str(status))
    expect(cells.nth(3).locator("span")).to_have_class(re.compile(r"\bstatus-4xx\b"))
    expect(cells.nth(4)).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(page.locator("#path-xss")).to_have_count(0)
    assert page.evaluate("document.images.length") == 0

    # Newest first: the probe came after /first.
    rows = requests.get_by_role("row").all_inner_texts()

    def position(request_id: str) -> int:
        return next(i for i, text in enumerate(rows) if request_id in text)

    assert position(probe) < position(first)

    # A request made now shows after a refresh, then by itself with auto-refresh on.
    later = httpx.get(site.url + "/later", timeout=10).headers["x-request-id"]
    page.get_by_role("button", name="Refresh").click()
    expect(requests.get_by_role("row").filter(has_text=later)).to_contain_text("/later")
    page.get_by_label("Auto-refresh (5 s)").check()
    latest = httpx.get(site.url + "/latest", timeout=10).headers["x-request-id"]
    expect(requests.get_by_role("row").filter(has_text=latest)).to_contain_text(
        "/latest", timeout=8_000
    )
    assert console.errors == []


@pytest.mark.parametrize(("width", "height"), [(375, 800), (1440, 900)])
def test_console_fits_the_screen(browser: Browser, site, width, height, artifacts):
    site.dead_job()
    onebin(site.data_dir, "webhook", "add", "https://hooks.example/" + "long-path/" * 20)
    httpx.get(site.url + "/" + "a-very-long-path-segment" * 12, timeout=10)
    site.api.post("backups").raise_for_status()
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, site)
        expect(section(page, "Jobs")).to_contain_text("RuntimeError")
        for name in SECTIONS:
            region = section(page, name)
            expect(region).to_be_visible()
            left, right = edges(region)
            assert left >= 0, name
            assert right <= width, name
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"the page is {overflow}px wide at {width}px"
        health, database = (section(page, name).bounding_box() for name in ("Health", "Database"))
        assert health
        assert database
        side_by_side = health["y"] == database["y"]
        assert side_by_side == (width > 1000), "sections in a grid on a wide screen only"
        page.screenshot(path=artifacts / f"console-{width}.png", full_page=True)
    finally:
        context.close()


def test_console_refuses_a_write_token_and_shows_nothing(page, console, site):
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/_onebin/api/" in r.url else None)
    open_console(page, site)
    page.get_by_label("Admin token").fill(site.writer)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This token is not an admin token")
    expect(page.get_by_label("Admin token")).to_be_visible()
    for name in SECTIONS:
        expect(section(page, name)).to_be_hidden()
    expect(page.locator("table")).to_have_count(0)
    expect(page.get_by_text("writer")).to_have_count(0)
    assert answers
    assert all(answer.status == 403 for answer in answers)
    assert stored_token(page) is None

    page.get_by_label("Admin token").fill("ob_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The token was refused")
    assert stored_token(page) is None
    assert all(REFUSED.search(e) for e in console.errors)


def test_console_says_how_long_to_wait_when_rate_limited(page, site):
    for _ in range(200):
        limited = httpx.get(
            site.url + "/_onebin/api/overview", headers={"authorization": "Bearer guess"}
        )
        if limited.status_code == 429:
            break
    assert limited.status_code == 429
    open_console(page, site)
    page.get_by_label("Admin token").fill("another-guess")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(re.escape(limited.json()["error"]["message"]) + r" \(wait \d+ s\)")
    )
    # An admin token is never limited.
    sign_in(page, site)


def test_console_signs_out_and_forgets_the_token(page, console, site):
    sign_in(page, site)
    assert stored_token(page) == site.admin
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_focused()
    assert stored_token(page) is None
    expect(page.locator("table")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Admin token")).to_be_visible()
    expect(section(page, "Health")).to_be_hidden()
    assert console.errors == []


def test_console_on_postgresql_leaves_backups_to_pg_dump(page, console, tmp_path, postgres_url):
    with start_site(tmp_path, database_url=postgres_url) as site:
        sign_in(page, site)
        database = section(page, "Database")
        expect(database).to_contain_text("PostgreSQL")
        location = site.api.get("overview").json()["database"]["location"]
        expect(database).to_contain_text(location)
        backups = section(page, "Backups")
        expect(backups).to_contain_text("Backups of PostgreSQL are pg_dump's job")
        expect(backups.get_by_role("button", name="Back up now")).to_have_count(0)
    assert console.errors == []


def test_console_shows_search_by_meaning_for_an_app_with_collections(page, console, tmp_path):
    """The items app has a semantic collection: the card shows the model and its rows
    (an app without one, consoleapp above, shows no such card)."""
    data_dir = tmp_path / "data"
    with ServerProcess(data_dir) as server:
        admin = subprocess.run(
            [*ONEBIN, "token", "create", "--admin", "--name", "ops", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        writer = {"authorization": f"Bearer {make_token(data_dir, 'writer')}"}
        for name in ("Claw hammer", "Summer dress"):
            httpx.post(
                f"{server.url}/api/items", json={"name": name}, headers=writer, timeout=10
            ).raise_for_status()

        def embedded() -> int:
            search = {"q": "anything", "mode": "semantic"}
            return len(httpx.get(f"{server.url}/api/items", params=search).json()["items"])

        wait_until(lambda: embedded() == 2, what="both items embedded")
        page.goto(server.url + "/_onebin/")
        page.get_by_label("Admin token").fill(admin)
        page.get_by_role("button", name="Sign in").click()
        card = section(page, "Search by meaning")
        expect(card).to_contain_text("minilm-l6-static-256-")
        expect(card.get_by_role("row").filter(has_text="items")).to_have_text(
            re.compile(r"items\s*2\s*0")
        )
    assert console.errors == []
