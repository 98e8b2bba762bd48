"""``onebin new NAME``: a working project for your own app, from the template.

The template (``onebin/template/``, package data) is a small but complete app: a
package ``NAME`` whose ``NAME/app.py`` exports ``app`` (one table and its migration,
JSON routes, a plain HTML + JS page), tests that start the real server, a README
and a Makefile whose ``make dist`` packs it into ``dist/NAME``. Copying it is plain
text substitution of a few ``{{placeholders}}``; the project depends on onebin
through a wheel, a directory or a pinned release (``default_requirement``), never
through a clone of onebin's repository.

Everything given is checked before anything is written, and every refusal is one
line (``ConfigError``; ``OnebinError`` when this onebin has no template): the name,
which must not clash with anything the project's virtualenv can import; the
requirement, which goes into a Makefile and a shell command; and the directory,
which may be new or empty, a symbolic link to an empty one, or the current one.
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import os
import re
import shlex
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from importlib import metadata, resources
from importlib.abc import Traversable
from importlib.machinery import ModuleSpec
from pathlib import Path
from urllib.parse import unquote, urlsplit

from onebin import __version__
from onebin.errors import ConfigError, OnebinError

TEMPLATE_PACKAGE = "onebin"
TEMPLATE_DIR = "template"
# Template file names that become something else in the project. ``.tmpl`` keeps
# Python and config files out of ruff, pytest and setuptools while they are
# templates; dot files would be left out of the package data.
SUFFIX = ".tmpl"
PACKAGE_DIR = "package"
RENAMED = {"gitignore": ".gitignore"}

STAGING_PREFIX = ".onebin-new-"

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Names the package cannot have, beyond whatever this environment can already import
# (``importable``): onebin and what the generated app imports; what `make test` and
# `make dist` install into the project's virtualenv even when this environment lacks
# it (pytest and its dependencies, onebin[build]'s packers, pip and setuptools): the
# editable install puts the project on sys.path, where the package would shadow them
# or be shadowed; the two modules Python imports at every start when they are on
# sys.path; and the project's other directories (its tests, the build's output and
# work directories, the data directory of `make run`).
TAKEN = frozenset(
    {
        "onebin",
        "starlette",
        "uvicorn",
        "msgspec",
        "pytest",
        "py",
        "pluggy",
        "iniconfig",
        "packaging",
        "pyinstaller",
        "altgraph",
        "shiv",
        "click",
        "brotli",
        "pip",
        "setuptools",
        "pkg_resources",
        "wheel",
        "sitecustomize",
        "usercustomize",
        "test",
        "tests",
        "dist",
        "build",
        "data",
    }
)
# Unicode categories that have no place in a pip requirement, a path or a Makefile line:
# control characters (newline, tab, escape, DEL...) and the line and paragraph separators.
_NOT_IN_A_REQUIREMENT = frozenset({"Cc", "Zl", "Zp"})


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
            f"app name {name!r} is taken by onebin, a module the app imports or installs, or "
            "a directory of the project; choose another"
        )
    spec = importable(name)
    if spec is not None:
        raise ConfigError(
            f"app name {name!r} is taken: `import {name}` already finds {where(spec)}, which "
            "the project's package would shadow or be shadowed by; choose another"
        )


def importable(name: str) -> ModuleSpec | None:
    """What ``import name`` finds in this environment, leaving the working directory out.

    A project named after an installed distribution's module (``anyio``, ``click``)
    replaces it in its own virtualenv, and pip then backtracks to ancient releases of
    whatever needs it. The working directory is not part of the environment: ``python
    -m onebin`` puts it first on ``sys.path`` and ``onebin`` does not, and a directory
    there (the project's own, being created) would refuse a good name.
    """
    if name in sys.modules:
        return sys.modules[name].__spec__ or ModuleSpec(name, None)
    saved = sys.path[:]
    try:
        here = os.path.realpath(os.curdir)
        kept = [entry for entry in saved if os.path.realpath(entry or os.curdir) != here]
    except OSError:  # the working directory is gone: nothing to leave out
        kept = saved
    sys.path[:] = kept
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a finder that chokes on it: something is there
        return ModuleSpec(name, None)
    finally:
        sys.path[:] = saved


def where(spec: ModuleSpec) -> str:
    """Where a found module lives, for a message: its file, its directory, or its name."""
    if spec.has_location and spec.origin:
        return spec.origin
    locations = list(spec.submodule_search_locations or ())
    return locations[0] if locations else f"the module {spec.name}"


def title_of(name: str) -> str:
    """The app's name for people: ``my_shop`` -> ``My shop``."""
    return name.replace("_", " ").capitalize()


def make_value(text: str) -> str:
    """``text`` as the value of a Makefile variable, read back unchanged by make.

    ``$`` is doubled; ``#`` would start a comment, so it is escaped, and backslashes in
    front of it, which make reads as escapes too, are doubled; a backslash at the end
    would join the next line to the value, so an empty reference ``$()`` ends it.
    """
    value = text.replace("$", "$$")
    value = re.sub(r"(\\*)#", lambda found: found[1] * 2 + "\\#", value)
    return value + "$()" if value.endswith("\\") else value


def check_requirement(requirement: str) -> str:
    """``requirement`` without surrounding spaces, or ``ConfigError`` saying why not.

    It becomes a Makefile line and a pip argument: a newline there is a Makefile make
    rejects ("missing separator"), and no wheel path, directory or requirement pip
    takes holds a control character or a line break, at either end or inside.
    """
    text = requirement.strip(" ")
    if not text:
        raise ConfigError(
            "--onebin is blank; give a wheel, a directory or a requirement such as "
            f"onebin=={__version__}"
        )
    for char in text:
        if unicodedata.category(char) in _NOT_IN_A_REQUIREMENT:
            raise ConfigError(
                f"--onebin {requirement!r} holds U+{ord(char):04X}, a control character or "
                "line break, which no pip requirement has; give a wheel, a directory or a "
                f"requirement such as onebin=={__version__}"
            )
    return text


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
    try:
        path = Path(requirement).expanduser()
    except RuntimeError:  # ~user/... of no known user
        raise ConfigError(
            f"--onebin {requirement}: no home directory is known for {Path(requirement).parts[0]}"
        ) from None
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


def template_root() -> Traversable:
    """The template's directory in this onebin, or ``OnebinError`` saying where it is.

    ``onebin build`` leaves the template out of what it packs (no packed app writes
    projects), so a packed executable running ``new`` would otherwise fail on a path
    inside its own unpacked files.
    """
    root = resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR)
    if not root.is_dir():
        raise OnebinError(
            "onebin new needs onebin installed with pip (from a wheel or a checkout), not "
            "a packed executable, which carries no project template"
        )
    return root


def template_files(root: Traversable | None = None) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path parts, text) of every file of the template, in a stable order."""
    yield from _walk(root or template_root(), ())


def _walk(directory: Traversable, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    for entry in sorted(directory.iterdir(), key=lambda entry: entry.name):
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        parts = (*prefix, entry.name)
        if entry.is_dir():
            yield from _walk(entry, parts)
        elif entry.is_file():
            yield parts, entry.read_text(encoding="utf-8")


def absolute_target(directory: Path) -> Path:
    """``directory`` with ``~`` expanded, made absolute; symbolic links are kept.

    Kept, so that the project is written through a link into the directory it names,
    and ``next_steps`` says ``cd`` to the path the user gave.
    """
    try:
        return directory.expanduser().absolute()
    except RuntimeError:  # ~user/... of no known user: pathlib's message names no path
        raise ConfigError(
            f"cannot use {directory}: no home directory is known for {directory.parts[0]}"
        ) from None


def check_target(directory: Path, shown: Path | None = None) -> None:
    """Refuse a target that is not new or an empty directory; ``shown`` names it."""
    shown = shown or directory
    try:
        if directory.is_dir():  # also through a symbolic link
            if any(directory.iterdir()):
                raise ConfigError(f"{shown} is not empty; give a new or empty directory with --dir")
        elif directory.is_symlink():
            raise ConfigError(
                f"{shown} is a symbolic link to {os.readlink(directory)}, which is no "
                "directory; give a new or empty directory with --dir"
            )
        elif directory.exists():
            raise ConfigError(f"{shown} exists and is not a directory")
    except OSError as error:
        raise ConfigError(f"cannot use {shown}: {error.strerror or error}") from None


def outermost_missing(path: Path) -> Path | None:
    """The first of ``path``'s ancestors (or itself) that does not exist: what
    ``mkdir(parents=True)`` creates, and a failure removes again."""
    missing = None
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            break
        missing = candidate
    return missing


def create_project(name: str, directory: Path, requirement: str) -> Path:
    """Write the project for app ``name`` into ``directory``; its absolute path.

    ``directory`` must be new or empty (a symbolic link to an empty directory is
    written through); its parents are created. ``requirement`` is how the project's
    virtualenv installs onebin (a wheel, a source directory or a pip requirement; a
    relative path is made absolute). Every check runs before anything is written;
    ``ConfigError`` says which failed, naming ``directory`` as it was given.
    """
    check_name(name)
    values = substitutions(name, local_requirement(check_requirement(requirement)))
    target = absolute_target(directory)
    check_target(target, directory)
    files = [(project_path(parts, name), render(text, values)) for parts, text in template_files()]
    write_project(target, files, directory)
    return target


def write_project(target: Path, files: list[tuple[Path, str]], shown: Path) -> None:
    """Write ``files`` into the new or empty directory ``target``, all or nothing.

    They are written into a hidden staging directory inside ``target`` and then moved
    up into it. Inside, not beside: ``target`` itself is never replaced, so it may
    be the working directory of the shell that ran ``onebin new --dir .``, a mount
    point, a directory reached through a symbolic link, or one with its own owner or
    permissions in a parent the user cannot write to. A failure removes what was
    written and the directories that were created, and names ``shown``.
    """
    created = outermost_missing(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target))
    except OSError as error:
        remove_created(target, created)
        raise ConfigError(
            f"cannot create the project in {shown}: {error.strerror or error}"
        ) from None
    moved: list[Path] = []
    try:
        for relative, text in files:
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        # Again: something may have appeared meanwhile, which a move would overwrite.
        if any(entry.name != staging.name for entry in target.iterdir()):
            raise ConfigError(f"{shown} is not empty; give a new or empty directory with --dir")
        for entry in sorted(staging.iterdir()):
            moved.append(entry.replace(target / entry.name))
        staging.rmdir()
    except BaseException as error:
        for path in moved:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        remove_created(target, created)
        if isinstance(error, OSError):
            raise OnebinError(
                f"cannot write the project in {shown}: {error.strerror or error}"
            ) from None
        raise


def remove_created(target: Path, created: Path | None) -> None:
    """Remove ``target`` and its parents up to ``created``, as long as they are empty."""
    if created is None:
        return
    for directory in (target, *target.parents):
        try:
            directory.rmdir()
        except OSError:
            return
        if directory == created:
            return


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
