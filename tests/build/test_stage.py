from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import brotli
import pytest

from onebin.assets import SecurityHeaders, content_hashed
from onebin.assets.index import build_index
from onebin.build.entry import ENTRY_MODULE
from onebin.build.plan import plan_build
from onebin.build.stage import keep, packed, stage_packages
from onebin.errors import BuildError
from tests.build.tiny import INDEX, NAME, REFERENCE, write_tiny_app


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("starlette/routing.py", True),
        ("uvloop/loop.cpython-311-x86_64-linux-gnu.so", True),
        ("starlette-1.10.0.dist-info/METADATA", True),
        ("starlette/__pycache__/routing.cpython-311.pyc", False),
        ("six.pyc", False),
        ("../../../bin/uvicorn", False),
        ("__editable__.onebin-0.1.0.pth", False),
        ("starlette-1.10.0.dist-info/RECORD", False),
        ("onebin-0.1.0.dist-info/direct_url.json", False),
    ],
)
def test_keep_drops_caches_scripts_and_installation_records(path, kept):
    assert keep(PurePosixPath(path)) is kept


def test_packed_leaves_out_the_plans_prefixes():
    left_out = ("onebin/items/", "onebin/template/")
    assert packed(PurePosixPath("onebin/cli.py"), left_out)
    assert packed(PurePosixPath("onebin/itemsx.py"), left_out)
    assert not packed(PurePosixPath("onebin/items/api.py"), left_out)
    assert not packed(PurePosixPath("onebin/template/pyproject.toml"), left_out)


@pytest.mark.parametrize(
    "path",
    [
        "tinyapp/static/.env",
        "tinyapp/.git/config",
        "tinyapp/static/.well-known/security.txt",
        "onebin/.DS_Store",
    ],
)
def test_packed_leaves_out_hidden_files_and_directories(path):
    assert not packed(PurePosixPath(path), ())


@pytest.fixture
def tiny_importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source = write_tiny_app(tmp_path / "src")
    monkeypatch.syspath_prepend(str(source))
    return source


def test_stage_packages_of_another_app(tiny_importable: Path, tmp_path: Path):
    staged = tmp_path / "packages"
    stage_packages(staged, plan_build(REFERENCE, name=NAME, static="tinyapp.static"))
    assert sorted(path.name for path in staged.iterdir()) == [
        f"{ENTRY_MODULE}.py",
        "onebin",
        "tinyapp",
    ]
    assert (staged / "onebin" / "cli.py").is_file()
    assert not (staged / "onebin" / "items").exists()
    assert not (staged / "onebin" / "template").exists()
    assert (staged / "tinyapp" / "app.py").read_text() == (
        tiny_importable / "tinyapp" / "app.py"
    ).read_text()
    static = staged / "tinyapp" / "static"
    assert brotli.decompress((static / "index.html.br").read_bytes()) == INDEX.encode()
    assert {"app.js.br", "app.js.gz", "style.css.br", "style.css.gz"} <= {
        path.name for path in static.iterdir()
    }
    assert not (static / "empty.txt.br").exists()
    assert not list((tiny_importable / "tinyapp" / "static").glob("*.br"))  # source untouched
    assert REFERENCE in (staged / f"{ENTRY_MODULE}.py").read_text()
    assert not [path for path in staged.rglob("*") if "__pycache__" in path.parts]


def test_stage_packages_of_the_items_app_keeps_its_frontend(tmp_path: Path):
    staged = tmp_path / "packages"
    stage_packages(staged, plan_build("onebin.items:app", name="items", static="onebin.items.web"))
    assert (staged / "onebin" / "items" / "api.py").is_file()
    assert (staged / "onebin" / "items" / "web" / "index.html.br").is_file()


def test_stage_packages_refuses_a_missing_static_package(tiny_importable: Path, tmp_path: Path):
    with pytest.raises(BuildError, match="static package"):
        stage_packages(
            tmp_path / "packages", plan_build(REFERENCE, name=NAME, static="tinyapp.site")
        )
    with pytest.raises(BuildError, match="not importable"):
        stage_packages(tmp_path / "other", plan_build("nowhere.app:app", name="x", static=None))


def static_index(static: Path) -> dict:
    return build_index(static, immutable=content_hashed, headers=SecurityHeaders())


@pytest.fixture
def cluttered_app(tiny_importable: Path, tmp_path: Path) -> Path:
    """The tiny app with what a working tree gathers: secrets, code, links in and out."""
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    package = tiny_importable / "tinyapp"
    static = package / "static"
    (static / ".env").write_text("SECRET=1")
    (package / ".git").mkdir()
    (package / ".git" / "config").write_text("[core]")
    (static / "helper.py").write_text("SECRET = 'source'\n" * 20)
    (static / "etcdir").symlink_to(outside, target_is_directory=True)
    (static / "passwd").symlink_to(outside / "passwd")
    (static / "alias.js").symlink_to(static / "app.js")
    (package / "outside.py").symlink_to(outside / "passwd")
    (package / "linked.py").symlink_to(package / "app.py")
    return tiny_importable


def test_stage_packages_leaves_out_hidden_files_and_links(
    cluttered_app: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    staged = tmp_path / "packages"
    with caplog.at_level(logging.WARNING, logger="onebin.build"):
        stage_packages(staged, plan_build(REFERENCE, name=NAME, static="tinyapp.static"))
    package = staged / "tinyapp"
    assert not [path for path in staged.rglob(".*")]
    assert not [path for path in staged.rglob("*") if path.is_symlink()]
    for left_out in ("static/etcdir", "static/passwd", "static/alias.js", "outside.py"):
        assert not (package / left_out).exists()
    # A link to a file of its own package is code that may be imported: packed as a file.
    assert (package / "linked.py").read_text() == (package / "app.py").read_text()
    (warning,) = caplog.records
    for link in ("static/etcdir", "static/passwd", "static/alias.js", "tinyapp/outside.py"):
        assert link in warning.getMessage()
    assert "linked.py" not in warning.getMessage()


def test_stage_packages_does_not_precompress_python_files(cluttered_app: Path, tmp_path: Path):
    staged = tmp_path / "packages"
    stage_packages(staged, plan_build(REFERENCE, name=NAME, static="tinyapp.static"))
    static = staged / "tinyapp" / "static"
    assert (static / "helper.py").is_file()  # code the app may import
    assert not list(static.glob("helper.py.*"))
    assert (static / "app.js.br").is_file()


def pyinstaller_data(packages: Path, package: str, into: Path) -> None:
    """Lay out what ``--collect-data=PACKAGE`` puts on disk in the executable.

    Its module archive holds the package's code; the files an importlib.resources
    reader sees in the executable are these data files alone.
    """
    script = (
        "import json, sys\n"
        "from PyInstaller.utils.hooks import collect_data_files\n"
        "json.dump(collect_data_files(sys.argv[1]), sys.stdout)\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", script, package],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(packages)},
        check=True,
    )
    for source, directory in json.loads(result.stdout):
        target = into / directory
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / Path(source).name)


def test_both_artifacts_serve_the_same_static_files(cluttered_app: Path, tmp_path: Path):
    """The zipapp carries the staged tree as it is; the executable, PyInstaller's data files."""
    pytest.importorskip("PyInstaller")
    staged = tmp_path / "packages"
    stage_packages(staged, plan_build(REFERENCE, name=NAME, static="tinyapp.static"))
    frozen = tmp_path / "frozen"
    pyinstaller_data(staged, "tinyapp", frozen)
    in_zipapp = static_index(staged / "tinyapp" / "static")
    in_executable = static_index(frozen / "tinyapp" / "static")
    assert in_zipapp == in_executable
    assert sorted(in_zipapp) == ["/app.js", "/empty.txt", "/index.html", "/style.css"]
