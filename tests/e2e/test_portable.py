"""The portable executable on an old Linux: a pristine Debian 11 root, glibc 2.31.

``make dist-portable`` writes ``dist/portable/onebin``; these tests run it inside a
minimal Debian 11 tree made by ``debootstrap --variant=minbase`` (no Python, no
OpenSSL command, no SQLite, no curl), entered through ``chroot`` the way the build
enters its own root. The tree shares the host's network, so the server it runs is
reached from here on loopback. They also build the guestbook of ``onebin new``
portable, with the toolchain ``make dist-portable`` left in the cache, and run it
there too.

Without the artifact they are skipped, except under CI, where ``.ci/run`` builds it
first and a missing one is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trustme
from playwright.sync_api import Page, expect

from onebin.build.launcher import unpack
from onebin.build.portable.build import default_cache
from onebin.build.portable.glibc import LIMIT, check_tree
from onebin.build.portable.root import PATH, SUITE, enter_command, run_logged
from onebin.build.portable.sources import MIRROR
from tests.build.running import serve_any_port

pytestmark = pytest.mark.portable

REPO = Path(__file__).resolve().parents[2]
PORTABLE = REPO / "dist" / "portable" / "onebin"
# The versions sources.lock pins: what --version must report from inside the file.
OPENSSL = "OpenSSL 3.5.7"
SQLITE = "SQLite 3.46.1"

if not PORTABLE.is_file():
    if os.environ.get("CI"):
        raise AssertionError(f"{PORTABLE} is missing: .ci/run builds it with make dist-portable")
    pytest.skip("no dist/portable/onebin: make dist-portable builds it", allow_module_level=True)


class OldLinux:
    """A pristine Debian 11 root and how to run a program inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def install(self, executable: Path) -> str:
        """Copy ``executable`` into the root; its path as seen inside."""
        target = self.path / "opt" / executable.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executable, target)
        return f"/opt/{executable.name}"

    def command(self, program: str, *args: str, home: str = "/srv") -> list[str]:
        env = {"HOME": home, "LANG": "C.UTF-8"}
        return enter_command(self.path, [program, *args], env)

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(program, *args), capture_output=True, text=True, timeout=120, check=False
        )


@pytest.fixture(scope="session")
def old_linux(tmp_path_factory: pytest.TempPathFactory) -> OldLinux:
    """A fresh minimal Debian 11 tree for the session, from a cached debootstrap tarball."""
    cache = default_cache(os.environ)
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"{SUITE}-minbase.tar"
    if not tarball.is_file():
        with tempfile.TemporaryDirectory(dir=cache) as temporary:
            tree = Path(temporary) / "root"
            run_logged(
                ["debootstrap", "--variant=minbase", SUITE, str(tree), MIRROR],
                Path(temporary) / "debootstrap.log",
            )
            partial = tarball.with_suffix(".partial")
            with tarfile.open(partial, "w") as archive:
                archive.add(tree, arcname=".")
            partial.rename(tarball)
    path = tmp_path_factory.mktemp("bullseye") / "root"
    with tarfile.open(tarball) as archive:
        archive.extractall(path, filter="fully_trusted")
    (path / "srv").mkdir(exist_ok=True)
    return OldLinux(path)


@pytest.fixture(scope="session")
def onebin_inside(old_linux: OldLinux) -> str:
    return old_linux.install(PORTABLE)


def test_the_root_is_an_old_pristine_debian(old_linux: OldLinux):
    glibc = old_linux.run("/usr/bin/getconf", "GNU_LIBC_VERSION")
    assert glibc.stdout.strip() == "glibc 2.31", glibc.stderr
    for absent in ("python3", "openssl", "sqlite3", "curl"):
        assert not (old_linux.path / "usr" / "bin" / absent).exists()


def test_every_file_inside_needs_glibc_2_28_at_most(tmp_path: Path):
    unpack(PORTABLE, tmp_path)
    needs = check_tree(tmp_path)
    assert len(needs) > 40  # the bootloader, libpython, OpenSSL, SQLite, every extension
    assert max(version for version in needs.values() if version) <= LIMIT
    names = " ".join(needs)
    for library in ("libpython3.11", "libssl.so.3", "libcrypto.so.3", "libsqlite3", "libexpat"):
        assert library in names


def test_version_names_the_openssl_and_sqlite_inside(old_linux: OldLinux, onebin_inside: str):
    result = old_linux.run(onebin_inside, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("items "), result.stdout
    assert OPENSSL in result.stdout
    assert SQLITE in result.stdout


@contextmanager
def serving(old_linux: OldLinux, program: str, *options: str) -> Iterator[tuple[str, str]]:
    """The program serving inside the root on a port it picked; its URL and a write token."""
    data_dir = "/srv/data"
    token = old_linux.run(program, "token", "create", "--name", "ci", "--data-dir", data_dir)
    assert token.returncode == 0, token.stderr
    command = old_linux.command(program)
    with serve_any_port(
        command,
        data_dir=Path(data_dir),
        cwd=old_linux.path,
        env={"PATH": PATH},
        timeout=120,
        options=options,
    ) as url:
        yield url, token.stdout.strip()
    shutil.rmtree(old_linux.path / "srv" / "data")


def test_serves_the_api_and_the_page(old_linux: OldLinux, onebin_inside: str, page: Page):
    with (
        serving(old_linux, onebin_inside) as (url, token),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        created = client.post(
            "/api/items",
            json={"name": "bread knife", "tags": ["kitchen"]},
            headers={"authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        refused = client.post("/api/items", json={"name": "no token"})
        assert refused.status_code == 401
        listed = client.get("/api/items", params={"q": "knife"}).json()["items"]
        assert [item["name"] for item in listed] == ["bread knife"]
        shell = client.get("/")
        assert shell.status_code == 200
        script = re.search(r'href="(/_app/immutable/[^"]+\.js)"', shell.text)
        assert script, shell.text
        asset = client.get(script[1], headers={"accept-encoding": "br"})
        assert asset.status_code == 200
        assert asset.headers["content-encoding"] == "br"
        page.goto(url)
        expect(page.get_by_role("link", name="bread knife")).to_be_visible()


def test_serves_https_with_its_own_openssl(old_linux: OldLinux, onebin_inside: str):
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(old_linux.path / "srv" / "tls.pem"))
    leaf.private_key_pem.write_to_path(str(old_linux.path / "srv" / "key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    options = ("--tls-cert", "/srv/tls.pem", "--tls-key", "/srv/key.pem")
    with serving(old_linux, onebin_inside, *options) as (url, _):
        assert url.startswith("https://"), url
        with httpx.Client(verify=context, timeout=30) as client:
            response = client.get(f"{url}/healthz")
            assert response.status_code == 200
            stream = response.extensions["network_stream"]
            assert stream.get_extra_info("ssl_object").version() == "TLSv1.3"


GUESTBOOK = "guestbook"


@pytest.fixture(scope="session")
def portable_guestbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``onebin new guestbook``, built portable with the toolchain in the cache."""
    work = tmp_path_factory.mktemp("guestbook")
    project = work / GUESTBOOK
    onebin = [str(REPO / ".venv" / "bin" / "onebin")]
    subprocess.run([*onebin, "new", GUESTBOOK, "--dir", str(project)], check=True, timeout=60)
    env = {**os.environ, "PYTHONPATH": str(project)}
    build = subprocess.run(
        [*onebin, "build", "--portable", "--app", f"{GUESTBOOK}.app:app", "--dist", "dist"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30 * 60,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    needs = re.search(r"needs glibc ([0-9.]+) or newer", build.stdout)
    assert needs, build.stdout
    assert tuple(int(part) for part in needs[1].split(".")) <= LIMIT
    return project / "dist" / "portable" / GUESTBOOK


def test_a_new_app_built_portable_runs_there(old_linux: OldLinux, portable_guestbook: Path):
    program = old_linux.install(portable_guestbook)
    version = old_linux.run(program, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"{GUESTBOOK} 0.1.0 (onebin "), version.stdout
    assert OPENSSL in version.stdout
    with (
        serving(old_linux, program) as (url, token),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        written = client.post(
            "/api/entries",
            json={"name": "Ada", "message": "hello from Debian 11"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert written.status_code == 201, written.text
        entries = client.get("/api/entries").json()["entries"]
        assert [entry["message"] for entry in entries] == ["hello from Debian 11"]
        assert "<script" in client.get("/").text
