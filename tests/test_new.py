"""``onebin new``: names, the tree it writes, where onebin comes from, and the
generated project's own tests run against the real server."""

from __future__ import annotations

import errno
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from onebin import __version__
from onebin.errors import ConfigError, OnebinError
from onebin.new import (
    STAGING_PREFIX,
    check_name,
    check_requirement,
    create_project,
    default_requirement,
    local_requirement,
    make_value,
    next_steps,
    project_path,
    requirement_for,
    title_of,
)
from tests.support import ONEBIN

REPO = Path(__file__).resolve().parents[1]
README_SECTION = "## Your own app in one file"
WHEEL = f"onebin-{__version__}-py3-none-any.whl"
PROJECT_FILES = {
    ".gitignore",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "guestbook/__init__.py",
    "guestbook/__main__.py",
    "guestbook/app.py",
    "guestbook/static/__init__.py",
    "guestbook/static/404.html",
    "guestbook/static/app.js",
    "guestbook/static/favicon.svg",
    "guestbook/static/index.html",
    "guestbook/static/style.css",
    "tests/conftest.py",
    "tests/test_app.py",
}


def readme_blocks() -> list[str]:
    """The ```sh blocks of the README section on ``onebin new``, in order."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n{README_SECTION}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def files_of(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


def generated_tests(project: Path) -> int:
    """How many tests the generated project has: what its pytest run must report."""
    text = (project / "tests" / "test_app.py").read_text()
    return len(re.findall(r"^def test_", text, flags=re.MULTILINE))


def run_onebin(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONEBIN, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return create_project("guestbook", tmp_path / "guestbook", "onebin==0.1.0")


@pytest.mark.parametrize("name", ["guestbook", "my_shop", "a", "app2", "match", "x" * 64])
def test_check_name_accepts_lower_case_identifiers(name):
    check_name(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "lower-case Python identifier"),
        ("Guestbook", "lower-case Python identifier"),
        ("2shop", "lower-case Python identifier"),
        ("my-shop", "lower-case Python identifier"),
        ("_private", "lower-case Python identifier"),
        ("café", "lower-case Python identifier"),
        ("x" * 65, "lower-case Python identifier"),
        ("class", "keyword"),
        ("async", "keyword"),
        ("onebin", "taken by onebin"),
        ("tests", "taken by onebin"),
        ("starlette", "taken by onebin"),
        ("dist", "taken by onebin"),
        ("data", "taken by onebin"),
        ("json", "standard library"),
        ("email", "standard library"),
        ("test", "taken by onebin"),
        # What the project's virtualenv installs even where this environment lacks it.
        ("shiv", "taken by onebin"),
        ("brotli", "taken by onebin"),
        ("pluggy", "taken by onebin"),
        ("sitecustomize", "taken by onebin"),
    ],
)
def test_check_name_refuses_what_cannot_be_the_package(name, why):
    with pytest.raises(ConfigError, match=why) as raised:
        check_name(name)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "name",
    [
        "anyio",
        "h11",
        "uvloop",
        "httptools",
        "cryptography",
        "requests",
        "idna",
        "certifi",
        "urllib3",
        "cffi",
        "acme",
        "josepy",
        "typing_extensions",
    ],
)
def test_check_name_refuses_what_this_environment_imports(name):
    """`onebin new anyio && make test` replaced anyio with the project in its virtualenv."""
    with pytest.raises(ConfigError, match=rf"`import {name}` already finds \S*{name}") as raised:
        check_name(name)
    assert "\n" not in str(raised.value)


def test_check_name_refuses_a_module_or_package_found_on_the_path(tmp_path, monkeypatch):
    (tmp_path / "zz_module.py").write_text("")
    (tmp_path / "zz_package").mkdir()  # a namespace package, importable all the same
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=f"already finds {tmp_path}/zz_module.py"):
        check_name("zz_module")
    with pytest.raises(ConfigError, match=f"already finds {tmp_path}/zz_package"):
        check_name("zz_package")


def test_check_name_leaves_the_working_directory_out(tmp_path, monkeypatch):
    """`python -m onebin` puts it on sys.path, where the project's own directory may be."""
    (tmp_path / "guestbook").mkdir()
    (tmp_path / "zz_here.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend("")
    check_name("guestbook")
    check_name("zz_here")


def test_cli_new_refuses_an_installed_module_in_one_line(tmp_path):
    result = run_onebin("new", "anyio", "--dir", str(tmp_path / "anyio"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("onebin: app name 'anyio' is taken: `import anyio`")
    assert list(tmp_path.iterdir()) == []


def test_create_project_writes_the_whole_tree_with_the_name(project):
    assert files_of(project) == PROJECT_FILES
    texts = {path: (project / path).read_text() for path in PROJECT_FILES}
    assert not [path for path, text in texts.items() if "{{" in text]
    assert 'name="guestbook"' in texts["guestbook/app.py"]
    assert 'Static("guestbook.static")' in texts["guestbook/app.py"]
    assert 'APP = "guestbook.app:app"' in texts["guestbook/__main__.py"]
    assert "<title>Guestbook</title>" in texts["guestbook/static/index.html"]
    assert "ONEBIN ?= onebin==0.1.0\n" in texts["Makefile"]
    assert "$(BIN)/onebin build --app $(APP)" in texts["Makefile"]
    assert "APP := guestbook.app:app" in texts["Makefile"]
    assert 'guestbook = "guestbook.__main__:main"' in texts["pyproject.toml"]
    for path in PROJECT_FILES:
        if path.endswith(".py"):
            py_compile.compile(str(project / path), doraise=True)


def test_create_project_page_leaves_lengths_to_the_api(project):
    """maxlength counts UTF-16 units of what was typed, spaces included; the API counts
    characters once the spaces around are removed: the API alone says what fits."""
    for page in ("index.html", "404.html"):
        assert "maxlength" not in (project / "guestbook" / "static" / page).read_text()


def test_create_project_page_has_no_inline_script_or_style(project):
    for page in ("index.html", "404.html"):
        html = (project / "guestbook" / "static" / page).read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "<style" not in html
        assert "style=" not in html


def test_create_project_takes_an_empty_directory_and_makes_parents(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert create_project("guestbook", empty, "onebin") == empty
    assert files_of(empty) == PROJECT_FILES
    deep = create_project("guestbook", tmp_path / "a" / "b" / "guestbook", "onebin")
    assert files_of(deep) == PROJECT_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "empty"]  # nothing staged left


def test_create_project_refuses_a_non_empty_directory_and_changes_nothing(tmp_path):
    target = tmp_path / "guestbook"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="is not empty") as raised:
        create_project("guestbook", target, "onebin")
    assert "\n" not in str(raised.value)
    assert files_of(target) == {"mine.txt"}
    assert [p.name for p in tmp_path.iterdir()] == ["guestbook"]


def test_create_project_refuses_a_file_and_a_bad_name(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        create_project("guestbook", tmp_path / "taken", "onebin")
    with pytest.raises(ConfigError, match="keyword"):
        create_project("class", tmp_path / "class", "onebin")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_create_project_writes_through_a_symlink_to_an_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to("empty")
    assert create_project("guestbook", tmp_path / "link", "onebin") == tmp_path / "link"
    assert (tmp_path / "link").is_symlink()
    assert files_of(tmp_path / "empty") == PROJECT_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "link"]


def test_create_project_keeps_the_empty_directory_it_writes_into(tmp_path):
    """Not replaced by another directory: it may be a mount point, have its own mode,
    or be the shell's working directory (`onebin new NAME --dir .`)."""
    target = tmp_path / "here"
    target.mkdir(mode=0o750)
    before = target.stat()
    result = run_onebin("new", "guestbook", "--dir", ".", "--onebin", "onebin", cwd=target)
    assert result.returncode == 0, result.stderr
    after = target.stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert files_of(target) == PROJECT_FILES
    assert [p.name for p in tmp_path.iterdir()] == ["here"]


def test_create_project_refuses_a_dangling_symlink(tmp_path):
    (tmp_path / "link").symlink_to("gone")
    with pytest.raises(ConfigError, match=f"^{tmp_path}/link is a symbolic link to gone"):
        create_project("guestbook", tmp_path / "link", "onebin")
    assert [p.name for p in tmp_path.iterdir()] == ["link"]


def test_create_project_refuses_an_unknown_users_home_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot use ~no_such_user_zz/x: no home directory"):
        create_project("guestbook", Path("~no_such_user_zz/x"), "onebin")
    with pytest.raises(ConfigError, match=r"^--onebin ~no_such_user_zz/o\.whl: no home directory"):
        create_project("guestbook", tmp_path / "x", "~no_such_user_zz/o.whl")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "where",
    [
        "file/x",  # under a file
        pytest.param(
            "/proc/x",
            marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc"),
        ),
    ],
)
def test_cli_new_names_the_directory_given_when_it_cannot_be_created(tmp_path, where):
    (tmp_path / "file").write_text("")
    result = run_onebin("new", "guestbook", "--dir", where, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"onebin: cannot create the project in {where}: ")
    assert STAGING_PREFIX not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("exists", [False, True])
def test_create_project_removes_what_it_wrote_when_writing_fails(tmp_path, monkeypatch, exists):
    target = tmp_path / "a" / "b"
    if exists:
        target.mkdir(parents=True)
    written = []
    write_text = Path.write_text

    def write_until_the_disk_is_full(path, *args, **kwargs):
        if len(written) == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        written.append(path)
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_until_the_disk_is_full)
    with pytest.raises(OnebinError, match=f"^cannot write the project in {target}: No space"):
        create_project("guestbook", target, "onebin")
    assert len(written) == 5
    if exists:
        assert list(target.iterdir()) == []
    else:
        assert list(tmp_path.iterdir()) == []


def test_create_project_without_a_template_says_it_needs_pip(tmp_path, monkeypatch):
    """A packed executable has no template: `onebin build` leaves it out."""
    monkeypatch.setattr("onebin.new.TEMPLATE_DIR", "no_such_template")
    with pytest.raises(OnebinError, match="needs onebin installed with pip") as raised:
        create_project("guestbook", tmp_path / "guestbook", "onebin")
    assert not isinstance(raised.value, ConfigError)
    assert "not a packed executable" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "requirement",
    ["x\ny", "onebin\r", "onebin\t==0.1.0", "a\x00b", "\x1b[31monebin", "a\u2028b", "", "  "],
)
def test_check_requirement_refuses_what_no_requirement_holds(tmp_path, requirement):
    with pytest.raises(ConfigError, match=r"^--onebin") as raised:
        create_project("guestbook", tmp_path / "guestbook", requirement)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_check_requirement_keeps_spaces_inside_and_strips_them_around():
    assert check_requirement(" onebin >= 0.1 ") == "onebin >= 0.1"
    assert check_requirement("/srv/my wheels/onebin.whl") == "/srv/my wheels/onebin.whl"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_makefile_hands_the_requirement_to_pip_as_one_word(tmp_path):
    """The shell, too, gets it unchanged: no $ expanded, no quote or backtick read."""
    requirement = '/srv/$HOME/`id -u`/it\'s "q" #1.whl'
    project = create_project("guestbook", tmp_path / "guestbook", requirement)
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").write_text("")  # no virtualenv made
    result = subprocess.run(
        ["make", "-s", ".venv/.installed-run", "PIP=printf '[%s]\\n'"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"[{requirement}]", "[-e]", "[.]"]


def test_create_project_makes_a_relative_requirement_absolute(tmp_path, monkeypatch):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / WHEEL).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    project = create_project("guestbook", Path("guestbook"), f"wheels/{WHEEL}")
    assert project == tmp_path / "guestbook"
    assert f"ONEBIN ?= {tmp_path}/wheels/{WHEEL}\n" in (project / "Makefile").read_text()
    (tmp_path / "onebin").mkdir()  # pip reads a bare "onebin" as a name, not this directory
    assert local_requirement("onebin") == "onebin"
    assert local_requirement("./onebin") == str(tmp_path / "onebin")
    assert local_requirement("onebin==0.1.0") == "onebin==0.1.0"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(
    "value",
    [
        "/srv/a b/onebin.whl",
        "/srv/$HOME/#1",
        "onebin>=0.1,<1",
        "/srv/a\\#b",
        "/srv/a\\\\#b",
        "/srv/a\\b",
        "/srv/a\\",
        "/srv/a\\\\",
        "/srv/a b  ",
    ],
)
def test_make_value_is_read_back_unchanged_by_make(tmp_path, value):
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"ONEBIN ?= {make_value(value)}\n$(info [$(ONEBIN)])\nall: ;@:\n")
    result = subprocess.run(
        ["make", "-s", "-f", str(makefile)], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"[{value}]\n"


def test_project_path_renames_the_package_and_template_suffixes():
    assert project_path(("package", "app.py.tmpl"), "shop") == Path("shop/app.py")
    assert project_path(("package", "static", "app.js"), "shop") == Path("shop/static/app.js")
    assert project_path(("gitignore.tmpl",), "shop") == Path(".gitignore")
    assert project_path(("tests", "package"), "shop") == Path("tests/package")
    assert title_of("my_shop") == "My shop"


def direct_url(url: str, **info: object) -> str:
    return json.dumps({"url": url, **info})


@pytest.mark.parametrize(
    ("found", "files", "dirs", "expected"),
    [
        (None, set(), set(), "onebin==0.1.0"),
        ("not json", set(), set(), "onebin==0.1.0"),
        (json.dumps({"no": "url"}), set(), set(), "onebin==0.1.0"),
        # pip install /w/onebin-0.1.0-py3-none-any.whl
        (
            direct_url(f"file:///w/{WHEEL}", archive_info={}),
            {f"/w/{WHEEL}"},
            set(),
            f"/w/{WHEEL}",
        ),
        # ... from a wheel that has since been deleted
        (direct_url(f"file:///w/{WHEEL}", archive_info={}), set(), set(), "onebin==0.1.0"),
        # pip install -e /src/onebin, after make wheel
        (
            direct_url("file:///src/onebin", dir_info={"editable": True}),
            {f"/src/onebin/dist/{WHEEL}"},
            {"/src/onebin"},
            f"/src/onebin/dist/{WHEEL}",
        ),
        # ... and without a wheel
        (
            direct_url("file:///src/onebin", dir_info={"editable": True}),
            set(),
            {"/src/onebin"},
            "/src/onebin",
        ),
        # pip install "/src/my onebin" (not editable), percent-encoded
        (
            direct_url("file:///src/my%20onebin", dir_info={}),
            set(),
            {"/src/my onebin"},
            "/src/my onebin",
        ),
        (
            direct_url(f"https://example.org/{WHEEL}", archive_info={}),
            set(),
            set(),
            "onebin==0.1.0",
        ),
        (
            direct_url("https://github.com/x/onebin.git", vcs_info={"vcs": "git"}),
            set(),
            set(),
            "onebin==0.1.0",
        ),
    ],
)
def test_requirement_for_follows_where_onebin_came_from(found, files, dirs, expected):
    requirement = requirement_for(
        found,
        "0.1.0",
        is_file=lambda path: str(path) in files,
        is_dir=lambda path: str(path) in dirs,
    )
    assert requirement == expected


def test_default_requirement_of_this_checkout():
    distribution = metadata.distribution("onebin")
    found = distribution.read_text("direct_url.json")
    assert default_requirement() == requirement_for(found, distribution.version)
    if found and json.loads(found)["url"] == REPO.as_uri():  # make venv: pip install -e .
        assert default_requirement() in (str(REPO), str(REPO / "dist" / WHEEL))


def test_next_steps_says_what_to_type():
    text = next_steps(Path("/home/me/my shop"), "my_shop")
    assert "cd '/home/me/my shop'" in text
    for command in ("make test", "make run", "make dist", "dist/my_shop", "token create"):
        assert command in text


def test_cli_new_writes_the_project_and_prints_the_next_steps(tmp_path):
    target = tmp_path / "gb"
    result = subprocess.run(
        [*ONEBIN, "new", "guestbook", "--dir", str(target), "--onebin", "onebin==0.1.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"cd {target}" in result.stdout
    assert files_of(target) == PROJECT_FILES
    again = run_onebin("new", "guestbook", "--dir", str(target))
    assert again.returncode != 0
    assert again.stderr.strip().splitlines() == [
        f"onebin: {target} is not empty; give a new or empty directory with --dir"
    ]


def test_generated_project_passes_its_own_tests_against_the_real_server(project):
    """No install: this virtualenv's onebin, the project on PYTHONPATH, its pytest."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ONEBIN_")}
    env["PYTHONPATH"] = str(project)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"\b{generated_tests(project)} passed\b", result.stdout), result.stdout


def test_generated_project_is_ruff_clean(project):
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_readme_section_follows_the_api_tour_and_its_commands_parse():
    headings = re.findall(r"^## .*$", (REPO / "README.md").read_text(), flags=re.MULTILINE)
    assert headings[headings.index("## A short API tour") + 1] == README_SECTION
    blocks = readme_blocks()
    script = "\n".join(blocks)
    assert "onebin new guestbook" in script
    assert "make dist" in script
    assert blocks[-1].strip().splitlines()[-1].startswith("./guestbook serve")
    subprocess.run(["bash", "-n", "-c", script], check=True)
