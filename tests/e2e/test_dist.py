"""The built artifacts, run the way an operator runs them on a bare server.

Two apps are packed: the items catalogue (``--name onebin``, as ``make dist`` does),
built once per session, and a tiny second app (``tests/build/tiny.py``) written
into a temporary directory and importable only from there, built once for this
module. Each artifact is started from an empty directory with a minimal
environment: no source tree, no virtualenv, no ``frontend/build`` on any path it
could read. The executable runs alone; the zipapp runs under the system ``python3``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import brotli
import httpx
import pytest

from onebin import __version__
from onebin.build.executable import bootloader_files
from onebin.build.trim import excluded_modules
from tests.build import tiny
from tests.build.running import serve_any_port
from tests.support import ServerProcess, expected_version, wait_until

pytestmark = pytest.mark.dist

REPO = Path(__file__).resolve().parents[2]
ONEBIN = Path(sys.executable).parent / "onebin"
SYSTEM_PYTHON = "/usr/bin/python3"
# 22.5 MB before search by meaning, which may add at most 12 MB (its model inside).
SIZE_BUDGET = 34_500_000
DEV_TOOLS = {"pytest", "_pytest", "hypothesis", "playwright", "schemathesis", "PyInstaller", "shiv"}
ASSETS_PACKAGE = "onebin.items.web"


def build(dist: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``onebin build`` into ``dist``; its report."""
    result = subprocess.run(
        [str(ONEBIN), "build", "--dist", str(dist), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "total" in result.stdout
    return result.stdout


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not resources.files(ASSETS_PACKAGE).joinpath("index.html").is_file():
        pytest.fail("the frontend is not built into the package: run `make frontend`")
    directory = tmp_path_factory.mktemp("dist")
    build(directory, "--name", "onebin")
    return directory


@dataclass(frozen=True)
class Host:
    """How to run an artifact: its command, the directory it runs in, its whole environment."""

    command: tuple[str, ...]
    root: Path
    env: dict[str, str]
    # The interpreter whose libraries the artifact runs on.
    python: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=self.env,
            timeout=120,
            check=False,
        )


def artifact_host(kind: str, artifact: Path, root: Path) -> Host:
    """Run ``artifact`` (the executable, or the zipapp under the system Python) in ``root``."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"}
    if kind == "exe":
        cache = {**env, "XDG_CACHE_HOME": str(root / "cache")}
        return Host((str(artifact),), root, cache, python=sys.executable)
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"the zipapp needs the system Python at {SYSTEM_PYTHON}")
    shiv = {**env, "SHIV_ROOT": str(root / "shiv")}
    return Host((SYSTEM_PYTHON, str(artifact)), root, shiv, python=SYSTEM_PYTHON)


@pytest.fixture(params=["exe", "pyz"])
def host(request: pytest.FixtureRequest, dist: Path, tmp_path: Path) -> Host:
    root = tmp_path / "host"
    root.mkdir()
    name = "onebin" if request.param == "exe" else "onebin.pyz"
    shutil.copy2(dist / name, root / name)
    return artifact_host(request.param, root / name, root)


def serve(host: Host, name: str) -> ServerProcess:
    """``serve`` from an artifact, in its empty directory, with only the host's environment."""
    return ServerProcess(
        host.root / name,
        command=host.command,
        cwd=host.root,
        env=host.env,
        inherit_env=False,
        start_timeout=60,
    )


@pytest.fixture
def server(host: Host) -> Iterator[ServerProcess]:
    with serve(host, "data") as running:
        yield running


def build_output() -> dict[str, bytes]:
    """Every frontend file the build packed, by URL path."""
    root = Path(str(resources.files(ASSETS_PACKAGE)))
    return {
        "/" + path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.name != "__init__.py"
    }


def raw_get(url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """The body exactly as sent, without httpx undoing the content coding."""
    with httpx.Client(timeout=10) as client, client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_dist_executable_fits_the_size_budget(dist: Path):
    assert (dist / "onebin").stat().st_size <= SIZE_BUDGET


def test_dist_version_and_help_work(host: Host):
    version = host.run("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout == expected_version(host.python, "items", __version__) + "\n"
    helped = host.run("--help")
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout for command in ("serve", "token", "build"))


def test_dist_api_works_against_its_own_sqlite_file(server: ServerProcess):
    token = server.token()
    created = httpx.post(
        f"{server.url}/api/items",
        json={"name": "packed", "tags": ["dist"]},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    fetched = httpx.get(f"{server.url}/api/items/{item_id}", timeout=10)
    assert fetched.json()["name"] == "packed"
    with sqlite3.connect(server.data_dir / "onebin.sqlite3") as db:
        assert db.execute("SELECT name FROM items WHERE id = ?", (item_id,)).fetchone() == (
            "packed",
        )


def test_dist_carries_the_console_metrics_and_status(host: Host):
    """What "Operate it" adds works from inside the file: the console's page and API,
    an admin token made by the file itself, ``/metrics`` and ``status``."""
    process = ServerProcess(
        host.root / "data",
        command=host.command,
        cwd=host.root,
        env=host.env,
        inherit_env=False,
        start_timeout=60,
        extra_args=("--metrics",),
    )
    with process as server:
        created = host.run("token", "create", "--admin", "--name", "boss", "--data-dir", "data")
        assert created.returncode == 0, created.stderr
        admin = {"authorization": f"Bearer {created.stdout.strip()}"}
        page = httpx.get(f"{server.url}/_onebin/", timeout=10)
        assert page.status_code == 200
        assert "console.js" in page.text
        overview = httpx.get(f"{server.url}/_onebin/api/overview", headers=admin, timeout=10)
        assert overview.status_code == 200, overview.text
        assert overview.json()["versions"]["app"]["name"] == "items"
        metrics = httpx.get(f"{server.url}/metrics", timeout=10)
        assert metrics.status_code == 200, metrics.text
        assert 'onebin_http_requests_total{method="GET",route="/_onebin/api/overview"' in (
            metrics.text
        )
        status = host.run("status", "--data-dir", "data")
        assert status.returncode == 0, status.stderr
        assert "tokens        1 active (1 admin)" in status.stdout


def test_dist_searches_by_meaning_with_the_model_inside_the_file(host: Host):
    """The model comes from inside the artifact: the server's job embeds what the API
    writes, and ``reindex`` embeds again with no network at all (an empty network
    namespace), from an empty directory with no virtualenv."""
    with serve(host, "data") as server:
        token = {"authorization": f"Bearer {server.token()}"}
        for name, description in [
            ("Claw hammer", "Steel head and fibreglass handle, for nails."),
            ("Summer dress", "Light cotton dress with a floral print."),
        ]:
            created = httpx.post(
                f"{server.url}/api/items",
                json={"name": name, "description": description},
                headers=token,
                timeout=10,
            )
            assert created.status_code == 201, created.text

        def first(q: str) -> str | None:
            params = {"q": q, "mode": "semantic"}
            found = httpx.get(f"{server.url}/api/items", params=params, timeout=10).json()
            return found["items"][0]["name"] if found["items"] else None

        wait_until(lambda: first("what to wear at a garden party") == "Summer dress")
        assert first("carpentry gear to bang in nails") == "Claw hammer"
    isolated = dataclasses.replace(host, command=("unshare", "--net", *host.command))
    offline = isolated.run("reindex", "--data-dir", "data")
    assert offline.returncode == 0, offline.stderr
    assert "items: 2 rows embedded" in offline.stdout


def test_dist_serves_every_asset_byte_identical_in_each_encoding(server: ServerProcess):
    files = build_output()
    suffixes = {"br": ".br", "gzip": ".gz"}
    originals = [path for path in files if not path.endswith(tuple(suffixes.values()))]
    assert "/index.html" in originals
    for path in originals:
        response, body = raw_get(server.url + path, {"accept-encoding": "identity"})
        assert response.status_code == 200, path
        assert "content-encoding" not in response.headers, path
        assert body == files[path], path
        for encoding, suffix in suffixes.items():
            if path + suffix not in files:
                continue
            response, body = raw_get(server.url + path, {"accept-encoding": encoding})
            assert response.headers.get("content-encoding") == encoding, path
            assert body == files[path + suffix], f"{path} ({encoding})"


def test_dist_falls_back_to_the_app_shell_for_deep_links(server: ServerProcess):
    shell = build_output()["/index.html"]
    response, body = raw_get(
        f"{server.url}/items/42/edit", {"accept": "text/html", "accept-encoding": "identity"}
    )
    assert response.status_code == 200
    assert body == shell
    missing = httpx.get(f"{server.url}/_app/immutable/missing.js", timeout=10)
    assert missing.status_code == 404


def test_dist_reads_nothing_from_the_source_tree_or_the_virtualenv(
    server: ServerProcess, host: Host
):
    assert server.process is not None
    pid = server.process.pid
    mapped = Path(f"/proc/{pid}/maps").read_text().split()
    assert not [path for path in mapped if path.startswith(str(REPO))]
    assert os.readlink(f"/proc/{pid}/cwd") == str(host.root)


def test_dist_two_instances_run_side_by_side(host: Host):
    with serve(host, "left") as left, serve(host, "right") as right:
        token = left.token()
        created = httpx.post(
            f"{left.url}/api/items",
            json={"name": "only on the left"},
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert httpx.get(f"{left.url}/api/items", timeout=10).json()["items"]
        assert httpx.get(f"{right.url}/api/items", timeout=10).json()["items"] == []
        assert left.healthy()
        assert right.healthy()


def _top_level_names(names: list[str]) -> set[str]:
    return {name.split("/", 1)[0].split(".", 1)[0] for name in names}


def test_dist_artifacts_leave_out_dev_tools_and_trimmed_modules(dist: Path, tmp_path: Path):
    with zipfile.ZipFile(dist / "onebin.pyz") as archive:
        in_zipapp = _top_level_names([n.removeprefix("site-packages/") for n in archive.namelist()])
    cache = tmp_path / "cache"
    subprocess.run(
        [str(dist / "onebin"), "--version"],
        env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache)},
        check=True,
        capture_output=True,
    )
    (tree,) = (path for path in (cache / "onebin").iterdir() if path.is_symlink())
    on_disk = [p.relative_to(tree / "_internal").as_posix() for p in (tree / "_internal").iterdir()]
    archived = [packed.path for packed in bootloader_files(tree / "onebin")]
    in_executable = _top_level_names(on_disk + archived)
    assert "starlette" in in_executable
    assert "starlette" in in_zipapp
    assert not in_executable & (DEV_TOOLS | set(excluded_modules()))
    assert not in_zipapp & DEV_TOOLS


def test_dist_zipapp_builds_are_reproducible(tmp_path: Path):
    # Two fresh builds back to back rather than against the session's: the source
    # tree may change while a long session runs, and that is not what is tested.
    build(tmp_path / "one", "--target", "pyz", "--name", "onebin")
    build(tmp_path / "two", "--target", "pyz", "--name", "onebin")
    digests = {
        hashlib.sha256((tmp_path / name / "onebin.pyz").read_bytes()).hexdigest()
        for name in ("one", "two")
    }
    assert len(digests) == 1


def test_dist_zipapp_builds_of_another_app_are_reproducible(tmp_path: Path):
    """Its static files are compressed by the build, so this covers those bytes too."""
    env = {**os.environ, "PYTHONPATH": str(tiny.write_tiny_app(tmp_path / "src"))}
    for name in ("one", "two"):
        build(tmp_path / name, "--app", tiny.REFERENCE, "--target", "pyz", env=env)
    first, second = (tmp_path / name / f"{tiny.NAME}.pyz" for name in ("one", "two"))
    assert first.read_bytes() == second.read_bytes()


# A second app: packed by reference, everything it serves coming out of the artifact.


@pytest.fixture(scope="module")
def tiny_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    source = tiny.write_tiny_app(root / "src")
    dist = root / "dist"
    report = build(dist, "--app", tiny.REFERENCE, env={**os.environ, "PYTHONPATH": str(source)})
    assert "app code (tinyapp)" in report
    assert "static files (tinyapp.static)" in report
    shutil.rmtree(source)  # whatever the artifacts serve must come from inside them
    return dist


@pytest.fixture(scope="module", params=["exe", "pyz"])
def tiny_host(
    request: pytest.FixtureRequest, tiny_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> Host:
    name = tiny.NAME if request.param == "exe" else f"{tiny.NAME}.pyz"
    return artifact_host(request.param, tiny_dist / name, tmp_path_factory.mktemp("empty"))


@pytest.fixture(scope="module")
def tiny_url(tiny_host: Host) -> Iterator[str]:
    with serve_any_port(
        tiny_host.command, data_dir=tiny_host.root / "data", cwd=tiny_host.root, env=tiny_host.env
    ) as url:
        yield url


def test_dist_tiny_app_prints_its_own_version(tiny_host: Host):
    version = tiny_host.run("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout == expected_version(tiny_host.python, "tiny", tiny.VERSION) + "\n"


def test_dist_tiny_app_answers_its_route(tiny_url: str):
    response = httpx.get(f"{tiny_url}/hello", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"hello": "tiny"}


@pytest.mark.parametrize(
    ("path", "original"),
    [("/", tiny.INDEX), ("/app.js", tiny.SCRIPT), ("/style.css", tiny.STYLE)],
)
def test_dist_tiny_app_serves_its_static_files_precompressed(
    tiny_url: str, path: str, original: str
):
    decoders = {"br": brotli.decompress, "gzip": gzip.decompress}
    for encoding, decode in decoders.items():
        response, body = raw_get(tiny_url + path, {"accept-encoding": encoding})
        assert response.status_code == 200, path
        assert response.headers.get("content-encoding") == encoding, path
        assert len(body) < len(original.encode())
        assert decode(body) == original.encode(), f"{path} ({encoding})"
    response, body = raw_get(tiny_url + path, {"accept-encoding": "identity"})
    assert "content-encoding" not in response.headers
    assert body == original.encode()


def test_dist_tiny_app_has_no_items_api(tiny_url: str):
    assert httpx.get(f"{tiny_url}/api/items", timeout=10).status_code == 404


def test_dist_tiny_artifacts_leave_out_the_items_app(tiny_dist: Path, tmp_path: Path):
    with zipfile.ZipFile(tiny_dist / f"{tiny.NAME}.pyz") as archive:
        in_zipapp = [name.removeprefix("site-packages/") for name in archive.namelist()]
    cache = tmp_path / "cache"
    subprocess.run(
        [str(tiny_dist / tiny.NAME), "--version"],
        env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache)},
        check=True,
        capture_output=True,
    )
    (tree,) = (path for path in (cache / tiny.NAME).iterdir() if path.is_symlink())
    contents = tree / "_internal"
    on_disk = [path.relative_to(contents).as_posix() for path in contents.rglob("*")]
    archived = [packed.path for packed in bootloader_files(tree / tiny.NAME)]
    for files in (in_zipapp, on_disk + archived):
        assert "tinyapp/static/index.html.br" in files
        assert any(path.startswith("onebin/cli.") for path in files)
        assert not [path for path in files if path.startswith("onebin/items")]


def test_dist_tiny_app_carries_the_console(tiny_url: str):
    page = httpx.get(f"{tiny_url}/_onebin/", timeout=10)
    assert page.status_code == 200
    assert "console.js" in page.text
    refused = httpx.get(f"{tiny_url}/_onebin/api/overview", timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
