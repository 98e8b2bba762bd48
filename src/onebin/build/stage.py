"""The staged packages both artifacts carry: onebin, the app, and the entry module.

Packages are copied by top-level import name from wherever this interpreter
imports them, rather than from their distributions' ``RECORD``: an editable
install's ``RECORD`` lists only a ``.pth`` pointing into a source tree, which must
never reach an artifact, and an app may be importable without being installed at
all. The static package gets its precompressed variants here, in the copy, and
the generated entry module sits beside the packages.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath

from onebin.build.compress import precompress
from onebin.build.entry import ENTRY_MODULE, entry_module
from onebin.build.plan import Plan
from onebin.errors import BuildError

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
    """Whether a file of a staged package goes in, ``left_out`` being path prefixes."""
    path = relative.as_posix()
    return keep(relative) and not any(path.startswith(prefix) for prefix in left_out)


def package_files(name: str) -> Iterator[tuple[Path, PurePosixPath]]:
    """(file on disk, path inside site-packages) of a top-level package or module."""
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
        for directory, _, filenames in os.walk(root):
            for filename in sorted(filenames):
                path = Path(directory) / filename
                yield path, PurePosixPath(name, path.relative_to(root).as_posix())


def stage_packages(root: Path, plan: Plan) -> None:
    """Copy the plan's packages into ``root``, precompress its static files, add the entry."""
    for package in plan.packages:
        for source, relative in package_files(package):
            if packed(relative, plan.left_out):
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                shutil.copymode(source, target)
    if plan.static is not None:
        static = root / plan.static.replace(".", "/")
        if not (static / "__init__.py").is_file():
            raise BuildError(
                f"the static package {plan.static} is not there to pack (is its site built?)"
            )
        precompress(static)
    (root / f"{ENTRY_MODULE}.py").write_text(entry_module(plan.reference))
