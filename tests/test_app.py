from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from onebin.app import App, load_app
from onebin.errors import AppError
from onebin.store.migrations import Migration


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    package = tmp_path / "someapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        "from onebin import App\napp = App(name='some', version='2.0')\nnot_an_app = 42\n"
    )
    (package / "broken.py").write_text("import no_such_dependency_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("someapp")]:
        del sys.modules[name]


def test_load_app_finds_the_attribute(module_dir):
    app = load_app("someapp.app:app")
    assert (app.name, app.version) == ("some", "2.0")


def test_the_items_app_is_an_app_like_any_other():
    assert load_app("onebin.items:app").name == "items"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("someapp.app", "expected MODULE:ATTRIBUTE"),
        ("nosuchmodule.app:app", "no module named 'nosuchmodule'"),
        ("someapp.nosuch:app", "no module named 'someapp.nosuch'"),
        ("someapp.app:ap", "module 'someapp.app' has no attribute 'ap'"),
        ("someapp.app:not_an_app", "not_an_app is a int, not an onebin App"),
        (
            "someapp.broken:app",
            "importing someapp.broken failed: No module named 'no_such_dependency",
        ),
    ],
)
def test_load_app_names_what_was_not_found(module_dir, reference, message):
    with pytest.raises(AppError, match=message) as raised:
        load_app(reference)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["", "Guestbook", "1st", "has space", "a" * 65, "dots.no"])
def test_app_names_must_name_a_file(name):
    with pytest.raises(AppError, match="app name"):
        App(name)


def test_onebin_migrations_are_onebins():
    with pytest.raises(AppError, match="component 'onebin' is onebin's"):
        App("mine", migrations=[Migration("onebin", 9, "x", "SELECT 1")])


class EditableFinder:
    """What setuptools installs for ``pip install -e`` of a flat project: a meta path hook."""

    def __init__(self, name: str, init: Path) -> None:
        self.name, self.init = name, init

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        return importlib.util.spec_from_file_location(
            name, self.init, submodule_search_locations=[str(self.init.parent)]
        )


def test_an_editable_install_wins_over_a_same_named_project_folder_here(tmp_path, monkeypatch):
    installed = tmp_path / "project" / "samename" / "__init__.py"
    installed.parent.mkdir(parents=True)
    installed.write_text("from onebin import App\napp = App(name='installed')\n")
    (tmp_path / "samename").mkdir()  # the project folder itself: no __init__.py
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, EditableFinder("samename", installed)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert load_app("samename:app").name == "installed"
    finally:
        sys.modules.pop("samename", None)


def test_the_current_directory_is_searched_when_nothing_else_has_the_module(tmp_path, monkeypatch):
    (tmp_path / "localonly.py").write_text("from onebin import App\napp = App(name='local')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert load_app("localonly:app").name == "local"
    finally:
        sys.modules.pop("localonly", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"routes": ["not", "a", "function"]}, "routes must be a function of the Context"),
        ({"static": "somepackage"}, "static must be a Static, not str"),
        ({"headers": "x"}, "headers must be a SecurityHeaders, not str"),
        ({"migrations": ["CREATE TABLE x (y)"]}, "migrations must be Migration objects, not str"),
    ],
)
def test_a_mistyped_app_is_refused_in_one_line(fields, message):
    with pytest.raises(AppError, match=message):
        App("typo", **fields)
