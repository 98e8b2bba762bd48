from __future__ import annotations

from pathlib import Path, PurePosixPath

import brotli
import pytest

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
