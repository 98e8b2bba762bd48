"""The staged packages both artifacts carry: onebin, the app, and the entry module.

Packages are copied by top-level import name from wherever this interpreter
imports them, rather than from their distributions' ``RECORD``: an editable
install's ``RECORD`` lists only a ``.pth`` pointing into a source tree, which must
never reach an artifact, and an app may be importable without being installed at
all. The static package gets its precompressed variants here, in the copy, and
the generated entry module sits beside the packages.

Both artifacts are made from this one copy, so what it leaves out neither carries:
hidden files and directories (``.env``, ``.git``), which are a project's workings
and may hold secrets, and symbolic links that point outside their package or are
directories, which would pack whatever they point at. A link to a file inside its
package is packed as a file, except in the static package: the asset server never
follows links, so packing one there would make an artifact serve what ``onebin
serve`` does not.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath

from onebin.build.compress import precompress
from onebin.build.entry import ENTRY_MODULE, entry_module
from onebin.build.plan import Plan
from onebin.errors import BuildError

logger = logging.getLogger("onebin.build")

# Metadata that is local to one installation (who installed it, from which path).
LOCAL_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def keep(relative: PurePosixPath) -> bool:
    """Whether an installed file belongs in an artifact: no caches, scripts or install records."""
    return (
        ".." not in relative.parts
        and "__pycache__" not in relative.parts
        and relative.suffix != ".pyc"
        and not relative.name.startswith("__editable__")
        and relative.name not in LOCAL_METADATA
    )


def packed(relative: PurePosixPath, left_out: Collection[str]) -> bool:
    """Whether a file of a staged package goes in, ``left_out`` being path prefixes.

    Hidden files and everything in hidden directories stay out.
    """
    path = relative.as_posix()
    return (
        keep(relative)
        and not any(part.startswith(".") for part in relative.parts)
        and not any(path.startswith(prefix) for prefix in left_out)
    )


def links_out_of(path: Path, root: Path) -> bool:
    """Whether the symbolic link ``path`` resolves to somewhere outside ``root``."""
    return not path.resolve().is_relative_to(root.resolve())


def package_files(
    name: str, links: list[PurePosixPath] | None = None
) -> Iterator[tuple[Path, PurePosixPath]]:
    """(file on disk, path inside site-packages) of a top-level package or module.

    Symbolic links to directories are not followed, and links to files outside the
    package (or to nothing) are not yielded; both are appended to ``links``.
    """
    found = importlib.util.find_spec(name)
    if found is None:
        raise BuildError(f"{name!r} is not importable here, so it cannot be packed")
    if not found.submodule_search_locations:
        if found.origin is None or not Path(found.origin).is_file():
            raise BuildError(f"module {name!r} has no file to pack")
        origin = Path(found.origin)
        yield origin, PurePosixPath(origin.name)
        return
    for location in found.submodule_search_locations:
        root = Path(location)
        # os.walk lists a link to a directory among the directories but never enters it.
        for directory, directories, filenames in os.walk(root):
            for entry in sorted(directories + filenames):
                path = Path(directory) / entry
                relative = PurePosixPath(name, path.relative_to(root).as_posix())
                if path.is_symlink() and (not path.is_file() or links_out_of(path, root)):
                    if links is not None:
                        links.append(relative)
                elif entry in filenames:
                    yield path, relative


def stage_packages(root: Path, plan: Plan) -> None:
    """Copy the plan's packages into ``root``, precompress its static files, add the entry.

    The symbolic links left out are named in one warning, so a site that relied on
    one learns why a file is missing.
    """
    static_files = f"{plan.static.replace('.', '/')}/" if plan.static is not None else None
    links: list[PurePosixPath] = []
    for package in plan.packages:
        for source, relative in package_files(package, links):
            if not packed(relative, plan.left_out):
                continue
            if (
                static_files
                and source.is_symlink()
                and relative.as_posix().startswith(static_files)
            ):
                links.append(relative)
                continue
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            shutil.copymode(source, target)
    left_out = [link.as_posix() for link in links if packed(link, plan.left_out)]
    if left_out:
        logger.warning(
            "left out %d symbolic link(s), to a directory, out of their package or in "
            "the static package: %s",
            len(left_out),
            ", ".join(left_out),
        )
    if plan.static is not None:
        static = root / plan.static.replace(".", "/")
        if not (static / "__init__.py").is_file():
            raise BuildError(
                f"the static package {plan.static} is not there to pack (is its site built?)"
            )
        precompress(static)
    (root / f"{ENTRY_MODULE}.py").write_text(entry_module(plan.reference))
