"""README's "Your own app in one file", every command run as written; then the packed
guestbook from an empty directory under a clean environment: its log, its API, and its
page driven in Chromium.

The README's commands run in one ``bash -euo pipefail`` from the repository root, as a
reader would type them, with ``HOME`` a temporary directory (so ``~/guestbook`` lands
there) and the real pip cache. The last command, ``./guestbook serve``, serves until it
is stopped: it is run with ``exec`` in front, so the script becomes the server the test
talks to and then stops, and ``ONEBIN_PORT`` picks a free port for it. One build in all.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from onebin import __version__
from tests.support import expected_version, free_port, wait_until
from tests.test_new import generated_tests, readme_blocks

pytestmark = pytest.mark.dist

REPO = Path(__file__).resolve().parents[2]
WHEEL = REPO / "dist" / f"onebin-{__version__}-py3-none-any.whl"
SYSTEM_PYTHON = "/usr/bin/python3"
# make wheel, two virtualenvs' installs and a PyInstaller build, on 2 cores.
WALKTHROUGH_TIMEOUT = 30 * 60
TOKEN = re.compile(r"^ob_[A-Za-z0-9_-]{43}$", re.MULTILINE)
# Variables of the invoking session that a reader's shell would not have.
NOT_A_READERS = {"PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SHIV_ROOT"}
# Chromium logs every 4xx a fetch receives as a console error; this one is provoked.
EXPECTED_401 = "the server responded with a status of 401"


def quiet_port() -> int:
    """A free port below Linux's ephemeral range, which nothing else is handed meanwhile.

    The walkthrough binds it only after minutes of installs and builds; a port from
    ``free_port`` could by then be the local port the kernel gave another socket.
    """
    for port in random.sample(range(20_000, 32_000), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # where the README's serve listens
            except OSError:
                continue
            return port
    raise AssertionError("no free port between 20000 and 32000")


def walkthrough_script() -> str:
    lines = "\n".join(readme_blocks()).rstrip().splitlines()
    assert lines[-1].startswith("./guestbook serve"), lines[-1]
    return "\n".join([*lines[:-1], "exec " + lines[-1]])


def readers_environment(home: Path, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in NOT_A_READERS and not name.startswith(("ONEBIN_", "PYTEST_", "XDG_"))
    }
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    env["HOME"] = str(home)
    env["ONEBIN_PORT"] = str(port)
    return env


def healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
        raise AssertionError(f"exited with {process.returncode} before serving:\n{tail}")
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group this test started, SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass(frozen=True)
class Running:
    """A packed guestbook serving, its write token and everything it printed."""

    url: str
    token: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def post(self, body: object, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}/api/entries", json=body, headers=headers, timeout=10)

    def entries(self) -> list[dict]:
        response = httpx.get(f"{self.url}/api/entries", timeout=10)
        response.raise_for_status()
        return response.json()["entries"]


@dataclass(frozen=True)
class Walkthrough:
    home: Path
    project: Path
    server: Running


@contextmanager
def serving(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None,
    port: int,
    log: Path,
    timeout: float,
) -> Iterator[str]:
    """Run ``command`` until it answers ``/healthz`` on ``port``; its URL; stop it after."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: healthy(url, process, log),
            timeout=timeout,
            interval=0.2,
            what=f"{command[-3:]} to answer /healthz",
        )
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    home = tmp_path_factory.mktemp("home")
    log = tmp_path_factory.mktemp("logs") / "walkthrough.log"
    port = quiet_port()
    script = ["bash", "-euo", "pipefail", "-c", walkthrough_script()]
    environment = readers_environment(home, port)
    with serving(
        script, cwd=REPO, env=environment, port=port, log=log, timeout=WALKTHROUGH_TIMEOUT
    ) as url:
        tokens = TOKEN.findall(log.read_text(errors="replace"))
        assert len(tokens) == 1, "./guestbook token create printed no token"
        yield Walkthrough(home, home / "guestbook", Running(url, tokens[0], log))


@pytest.fixture(scope="module")
def deployed(
    walkthrough: Walkthrough, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """``dist/guestbook serve`` from an empty directory, under ``env -i`` (HOME, PATH only)."""
    root = tmp_path_factory.mktemp("deployed")
    home, empty = root / "home", root / "empty"
    home.mkdir()
    empty.mkdir()
    log = root / "serve.log"
    clean = ["/usr/bin/env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin"]
    executable = str(walkthrough.project / "dist" / "guestbook")
    port = free_port()
    command = [*clean, executable, "serve", "--port", str(port)]
    with serving(command, cwd=empty, env=None, port=port, log=log, timeout=120) as url:
        created = subprocess.run(
            [*clean, executable, "token", "create", "--name", "tester"],
            cwd=empty,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        yield Running(url, created.stdout.strip(), log)


def test_readme_walkthrough_tests_builds_and_serves_the_guestbook(walkthrough: Walkthrough):
    output = walkthrough.server.output()
    project = walkthrough.project
    passed = rf"\b{generated_tests(project)} passed\b"
    assert re.search(passed, output), "the project's own tests did not all run"
    assert (project / "dist" / "guestbook").is_file()
    assert (project / "dist" / "guestbook.pyz").is_file()
    # The project gets onebin from the wheel `make wheel` wrote, not from this clone.
    assert f"ONEBIN ?= {WHEEL}\n" in (project / "Makefile").read_text()
    assert "onebin serving guestbook" in output
    # Installed editable, the package is found from the project's parent too, where the
    # project's own directory is a same-named namespace package (onebin build --app
    # adds the working directory to the path).
    found = subprocess.run(
        [
            str(project / ".venv" / "bin" / "python"),
            "-c",
            "import os, sys; sys.path.append(os.getcwd()); import guestbook; "
            "print(guestbook.__file__)",
        ],
        cwd=walkthrough.home,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == str(project / "guestbook" / "__init__.py")

    server = walkthrough.server
    assert "<title>Guestbook</title>" in httpx.get(server.url + "/", timeout=10).text
    created = server.post({"name": "README", "message": "deployed as written"}, server.token)
    assert created.status_code == 201, created.text
    assert server.entries()[0] == created.json()


def test_packed_guestbook_names_itself_in_its_log(deployed: Running):
    assert re.search(r"onebin serving guestbook on \S+", deployed.output()), deployed.output()


def test_packed_guestbook_reads_publicly_and_writes_with_a_token(deployed: Running):
    assert isinstance(deployed.entries(), list)
    refused = deployed.post({"name": "Eve", "message": "no token"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    created = deployed.post({"name": "Ada", "message": "Hello from the API"}, deployed.token)
    assert created.status_code == 201, created.text
    assert deployed.entries()[0] == created.json()
    invalid = deployed.post({"name": "Ada"}, deployed.token)
    assert invalid.status_code == 422
    assert invalid.json()["error"]["message"]
    malformed = httpx.post(
        f"{deployed.url}/api/entries",
        content=b"{oops",
        headers={"authorization": f"Bearer {deployed.token}", "content-type": "application/json"},
        timeout=10,
    )
    assert malformed.status_code == 400
    assert httpx.get(f"{deployed.url}/api/nothing", timeout=10).json()["error"]["code"]
    huge = httpx.get(f"{deployed.url}/api/entries", params={"limit": "9" * 5000}, timeout=10)
    assert huge.status_code == 400
    assert huge.json()["error"]["code"] == "invalid_query"
    control = deployed.post({"name": "a\u0000b", "message": "b\u0007\u001b[31m"}, deployed.token)
    assert control.status_code == 422, control.text


def test_packed_executables_say_new_needs_onebin_from_pip(walkthrough: Walkthrough, tmp_path):
    """`onebin build` leaves the template out: one line, not a path inside the unpacked
    files, from the executable and from the zipapp alike."""
    dist = walkthrough.project / "dist"
    clean = ["/usr/bin/env", "-i", f"HOME={tmp_path}", "PATH=/usr/bin:/bin"]
    for packed in ([str(dist / "guestbook")], [SYSTEM_PYTHON, str(dist / "guestbook.pyz")]):
        result = subprocess.run(
            [*clean, *packed, "new", "shop", "--dir", str(tmp_path / "shop")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1, (packed, result.stderr)
        assert result.stderr.splitlines() == [
            "onebin: onebin new needs onebin installed with pip (from a wheel or a checkout), "
            "not a packed executable, which carries no project template"
        ], packed
        assert not (tmp_path / "shop").exists()


def test_packed_zipapp_runs_under_the_system_python(walkthrough: Walkthrough, tmp_path: Path):
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"the zipapp needs the system Python at {SYSTEM_PYTHON}")
    result = subprocess.run(
        [
            "/usr/bin/env",
            "-i",
            f"HOME={tmp_path}",
            "PATH=/usr/bin:/bin",
            SYSTEM_PYTHON,
            str(walkthrough.project / "dist" / "guestbook.pyz"),
            "--version",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected_version(SYSTEM_PYTHON, "guestbook", "0.1.0")


@pytest.mark.browser
def test_packed_guestbook_page_lists_and_adds_entries(
    page: Page, console, deployed: Running, artifacts: Path
):
    deployed.post({"name": "Ada", "message": "Written through the API"}, deployed.token)
    page.goto(deployed.url + "/")
    expect(page.get_by_role("heading", name="Guestbook", level=1)).to_be_visible()
    entries = page.get_by_role("list").get_by_role("listitem")
    expect(entries.first).to_contain_text("Written through the API")

    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Message").fill("Hello from Chromium")
    page.get_by_label("Write token").fill("ob_not-a-real-token")
    page.get_by_role("button", name="Add entry").click()
    expect(page.get_by_role("alert").filter(has_text="Not added")).to_contain_text(
        "unknown or revoked"
    )

    page.get_by_label("Write token").fill(deployed.token)
    page.get_by_role("button", name="Add entry").click()
    expect(page.get_by_role("status")).to_have_text("Entry added.")
    expect(entries.first).to_contain_text("Grace")
    expect(entries.first).to_contain_text("Hello from Chromium")
    expect(entries.nth(1)).to_contain_text("Written through the API")
    assert deployed.entries()[0]["message"] == "Hello from Chromium"

    page.reload()
    expect(page.get_by_label("Write token")).to_have_value(deployed.token)  # kept
    expect(entries.first).to_contain_text("Hello from Chromium")
    page.screenshot(path=artifacts / "guestbook.png", full_page=True)
    assert [error for error in console.errors if EXPECTED_401 not in error] == []


@pytest.mark.browser
def test_packed_guestbook_page_fits_a_phone(browser: Browser, deployed: Running, artifacts: Path):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto(deployed.url + "/")
        expect(page.get_by_role("button", name="Add entry")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=artifacts / "guestbook-375.png", full_page=True)
    finally:
        context.close()
