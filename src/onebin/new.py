"""``onebin new NAME``: a working project for your own app, from the template.

The template (``onebin/template/``, package data) is a small but complete app: a
package ``NAME`` whose ``NAME/app.py`` exports ``app`` (one table and its migration,
JSON routes, a plain HTML + JS page), tests that start the real server, a README
and a Makefile whose ``make dist`` packs it into ``dist/NAME``. Copying it is plain
text substitution of a few ``{{placeholders}}``; the project depends on onebin
through a wheel, a directory or a pinned release (``default_requirement``), never
through a clone of onebin's repository.
"""

from __future__ import annotations

import json
import keyword
import re
import secrets
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from importlib import metadata, resources
from importlib.abc import Traversable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from onebin import __version__
from onebin.errors import ConfigError

TEMPLATE_PACKAGE = "onebin"
TEMPLATE_DIR = "template"
# Template file names that become something else in the project. ``.tmpl`` keeps
# Python and config files out of ruff, pytest and setuptools while they are
# templates; dot files would be left out of the package data.
SUFFIX = ".tmpl"
PACKAGE_DIR = "package"
RENAMED = {"gitignore": ".gitignore"}

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Names the package cannot have: onebin and what the generated app and its tests
# import (one would shadow the other), and the project's other directories (its
# tests, the build's output and work directories, the data directory of `make run`).
TAKEN = frozenset(
    {
        "onebin",
        "starlette",
        "uvicorn",
        "msgspec",
        "pytest",
        "test",
        "tests",
        "dist",
        "build",
        "data",
    }
)


def check_name(name: str) -> None:
    """Refuse a name that cannot be the project's package; ``ConfigError`` says why."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigError(
            f"app name {name!r} must be a lower-case Python identifier: a letter, then up "
            "to 63 of a-z, 0-9 and _ (e.g. guestbook or my_shop)"
        )
    if keyword.iskeyword(name):
        raise ConfigError(f"app name {name!r} is a Python keyword; choose another")
    if name in sys.stdlib_module_names:
        raise ConfigError(
            f"app name {name!r} is taken by Python's standard library, which the package "
            "would shadow; choose another"
        )
    if name in TAKEN:
        raise ConfigError(
            f"app name {name!r} is taken by onebin, a module the app imports or a directory "
            "of the project; choose another"
        )


def title_of(name: str) -> str:
    """The app's name for people: ``my_shop`` -> ``My shop``."""
    return name.replace("_", " ").capitalize()


def make_value(text: str) -> str:
    """``text`` as the value of a Makefile variable, read back unchanged by make."""
    return text.replace("$", "$$").replace("#", r"\#")


def local_requirement(requirement: str, *, cwd: Path | None = None) -> str:
    """A requirement that names an existing file or directory, made absolute.

    The Makefile runs in the project, not where ``onebin new`` ran, so a relative
    path to a wheel or a checkout must not stay relative. What pip would read as a
    name (``onebin``, ``onebin==0.1.0``) is returned as it is, as is a missing path.
    """
    looks_like_a_path = (
        "/" in requirement
        or requirement.startswith((".", "~"))
        or requirement.endswith((".whl", ".tar.gz", ".zip"))
    )
    if not looks_like_a_path:
        return requirement
    path = Path(requirement).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return str(path.resolve()) if path.exists() else requirement


def requirement_for(
    direct_url: str | None,
    version: str,
    *,
    is_file: Callable[[Path], bool] = Path.is_file,
    is_dir: Callable[[Path], bool] = Path.is_dir,
) -> str:
    """How a new project should install this onebin, from its PEP 610 ``direct_url.json``.

    - installed from a local wheel (or other archive) that still exists: that file;
    - installed from a local directory D (editable or not): D's wheel made by
      ``make wheel`` (``D/dist/onebin-VERSION-py3-none-any.whl``) when there is
      one, else D itself;
    - anything else (an index, a URL, a VCS, a file gone since): ``onebin==VERSION``.
    """
    pinned = f"onebin=={version}"
    if not direct_url:
        return pinned
    try:
        info = json.loads(direct_url)
        url = urlsplit(info["url"])
    except (ValueError, KeyError, TypeError):
        return pinned
    if url.scheme != "file" or url.netloc not in ("", "localhost"):
        return pinned
    path = Path(unquote(url.path))
    if "dir_info" in info and is_dir(path):
        wheel = path / "dist" / f"onebin-{version}-py3-none-any.whl"
        return str(wheel) if is_file(wheel) else str(path)
    if "archive_info" in info and is_file(path):
        return str(path)
    return pinned


def default_requirement() -> str:
    """Where this onebin was installed from, as a pip requirement for a new project."""
    try:
        distribution = metadata.distribution("onebin")
    except metadata.PackageNotFoundError:
        return f"onebin=={__version__}"
    return requirement_for(distribution.read_text("direct_url.json"), distribution.version)


def substitutions(name: str, requirement: str) -> dict[str, str]:
    return {
        "{{name}}": name,
        "{{title}}": title_of(name),
        "{{onebin_requirement}}": make_value(requirement),
        "{{onebin_version}}": __version__,
    }


def render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def project_path(parts: tuple[str, ...], name: str) -> Path:
    """Where a template file goes in the project: ``package/`` is the app's package."""
    renamed = []
    for index, part in enumerate(parts):
        if index == 0 and part == PACKAGE_DIR and len(parts) > 1:
            part = name
        part = part.removesuffix(SUFFIX)
        renamed.append(RENAMED.get(part, part))
    return Path(*renamed)


def template_files(root: Traversable | None = None) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path parts, text) of every file of the template, in a stable order."""
    root = root or resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR)
    yield from _walk(root, ())


def _walk(directory: Traversable, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    for entry in sorted(directory.iterdir(), key=lambda entry: entry.name):
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        parts = (*prefix, entry.name)
        if entry.is_dir():
            yield from _walk(entry, parts)
        elif entry.is_file():
            yield parts, entry.read_text(encoding="utf-8")


def check_target(directory: Path) -> None:
    if directory.is_dir():
        if any(directory.iterdir()):
            raise ConfigError(f"{directory} is not empty; give a new or empty directory with --dir")
    elif directory.exists():
        raise ConfigError(f"{directory} exists and is not a directory")


def create_project(name: str, directory: Path, requirement: str) -> Path:
    """Write the project for app ``name`` into ``directory``; its absolute path.

    ``directory`` must be new or empty; its parents are created. ``requirement`` is
    how the project's virtualenv installs onebin (a wheel, a source directory or a
    pip requirement; a relative path is made absolute). The files are written into
    a hidden sibling first and moved into place at once, so a failure leaves no
    half-written project behind. Raises ``ConfigError`` for a bad name or target.
    """
    check_name(name)
    target = directory.expanduser().absolute()
    check_target(target)
    values = substitutions(name, local_requirement(requirement))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.onebin-new-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        for parts, text in template_files():
            path = staging / project_path(parts, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(text, values), encoding="utf-8")
        check_target(target)  # again: something may have appeared meanwhile
        # rename(2) replaces an empty directory atomically, or creates the name.
        staging.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def next_steps(project: Path, name: str) -> str:
    """What to type next, for the CLI to print after ``create_project``."""
    return "\n".join(
        [
            f"created the app {name!r} in {project}; next:",
            f"  cd {shlex.quote(str(project))}",
            "  make test    # a virtualenv with onebin, then the app's tests against a real server",
            "  make run     # serves http://127.0.0.1:8000 (data in ./data)",
            f"  make dist    # packs it all into one executable: dist/{name}",
            f"Writes need a token: .venv/bin/{name} token create --name you",
        ]
    )
