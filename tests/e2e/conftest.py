"""Real headless Chromium against a real ``onebin serve`` process.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright for Python;
``playwright install`` is never run (it would download another browser).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.support import ONEBIN, ServerProcess, make_token, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Site:
    """The running server, its write token and a JSON client for arranging data."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        self.url = server.url
        self.token = token
        self.data_dir = server.data_dir
        self.api = httpx.Client(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=10
        )

    def create_item(self, name: str, **fields: object) -> dict:
        response = self.api.post("/api/items", json={"name": name, **fields})
        response.raise_for_status()
        return response.json()

    def wait_embedded(self, count: int) -> None:
        """Until the background job has embedded ``count`` items: a hybrid search's
        order is only settled once every item has its vector."""

        def embedded() -> int:
            params = {"q": "item", "mode": "semantic", "limit": "100"}
            return len(self.api.get("/api/items", params=params).json()["items"])

        wait_until(lambda: embedded() >= count, what=f"{count} items embedded")

    def revoke_token(self, name: str) -> None:
        """Revoke a token with the CLI, as an operator would, while the server runs."""
        subprocess.run(
            [*ONEBIN, "token", "revoke", name, "--data-dir", str(self.data_dir)],
            capture_output=True,
            check=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def built_frontend() -> None:
    if not resources.files("onebin.items.web").joinpath("index.html").is_file():
        pytest.fail("the frontend is not built into the package: run `make frontend`")


@pytest.fixture
def site(tmp_path: Path, built_frontend: None) -> Iterator[Site]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    token = make_token(data_dir, "browser")
    with ServerProcess(data_dir) as server:
        site = Site(server, token)
        yield site
        site.api.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop marked as running in
    this thread while it is open, which would break ``asyncio.run`` in later tests."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """Console errors and uncaught exceptions a page produced."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def other_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Opens more pages, each in a browser context of its own: other clients than ``page``."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def console(page: Page) -> Console:
    return Console(page)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
