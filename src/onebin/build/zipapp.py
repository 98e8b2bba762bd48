"""The zipapp: shiv over a site-packages staged from the build virtualenv.

shiv is used because compiled extensions (uvloop, cryptography, msgspec) cannot be
imported from inside a zip: its bootstrap unpacks site-packages once into
``~/.shiv`` (or ``$SHIV_ROOT``) under a content hash. Those extensions are built
for the build interpreter, so the zipapp needs the same CPython minor version on
the host (3.11 here).

The application's own files are copied from its package directory rather than from
its RECORD, because an editable install's RECORD lists a ``.pth`` pointing into
the source tree, which must never reach the artifact.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath

from onebin.build.closure import installed_requires, runtime_closure
from onebin.build.report import PackedFile
from onebin.build.trim import excluded_distributions
from onebin.errors import BuildError

SITE_PACKAGES = "site-packages/"
# Metadata that is local to one installation (who installed it, from which path).
_LOCAL_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_APP_METADATA = ("METADATA", "entry_points.txt", "top_level.txt")


def _keep(relative: PurePosixPath) -> bool:
    return (
        ".." not in relative.parts
        and "__pycache__" not in relative.parts
        and relative.suffix != ".pyc"
        and not relative.name.startswith("__editable__")
        and relative.name not in _LOCAL_METADATA
    )


def distribution_files(name: str) -> Iterator[tuple[Path, PurePosixPath]]:
    """(installed file, path inside site-packages) for one installed distribution."""
    distribution = metadata.distribution(name)
    for entry in distribution.files or ():
        relative = PurePosixPath(entry.as_posix())
        if _keep(relative):
            yield Path(str(distribution.locate_file(entry))), relative


def app_files(distribution: str, package: str) -> Iterator[tuple[Path, PurePosixPath]]:
    """The app package from disk plus the metadata ``--version`` and shiv read."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise BuildError(f"package {package!r} is not importable")
    root = Path(next(iter(found.submodule_search_locations)))
    for directory, _, filenames in os.walk(root):
        for filename in filenames:
            path = Path(directory) / filename
            relative = PurePosixPath(package, path.relative_to(root).as_posix())
            if _keep(relative):
                yield path, relative
    installed = metadata.distribution(distribution)
    info = PurePosixPath(f"{distribution}-{installed.version}.dist-info")
    for filename in _APP_METADATA:
        path = Path(str(installed.locate_file(f"{info}/{filename}")))
        if path.is_file():
            yield path, info / filename


def stage(site_packages: Path, distribution: str, package: str) -> None:
    """Copy the app and its runtime closure into ``site_packages``."""
    closure = runtime_closure(distribution, installed_requires, excluded_distributions())
    sources = [app_files(distribution, package)]
    sources += [distribution_files(name) for name in closure[1:]]
    extensions = []
    for files in sources:
        for path, relative in files:
            target = site_packages / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            shutil.copymode(path, target)
            if ".so" in relative.suffixes:
                extensions.append(str(target))
    strip(extensions)


def strip(binaries: list[str]) -> None:
    """Drop debug symbols, as PyInstaller's ``--strip`` does (uvloop: 14 MB to 1.7 MB)."""
    if not binaries:
        return
    if shutil.which("strip") is None:
        raise BuildError("stripping extensions needs strip: install binutils")
    result = subprocess.run(
        ["strip", "--strip-unneeded", *binaries], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"strip failed:\n{result.stderr[-2000:]}")


def packed_files(archive: Path) -> list[PackedFile]:
    """The zipapp's entries, site-packages paths made relative as the importer sees them."""
    with zipfile.ZipFile(archive) as opened:
        return [
            PackedFile(
                info.filename.removeprefix(SITE_PACKAGES), info.file_size, info.compress_size
            )
            for info in opened.infolist()
            if not info.is_dir()
        ]


def build_zipapp(
    *,
    distribution: str,
    package: str,
    entry_point: str,
    target: Path,
    work: Path,
    epoch: int,
    environ: Mapping[str, str],
) -> list[PackedFile]:
    """Write the zipapp to ``target``; return the files it carries."""
    if importlib.util.find_spec("shiv") is None:
        raise BuildError("building the zipapp needs shiv: pip install 'onebin[build]'")
    site_packages = work / "site-packages"
    stage(site_packages, distribution, package)
    staged = target.with_name(f".{target.name}.tmp")
    command = [
        sys.executable,
        "-m",
        "shiv",
        f"--site-packages={site_packages}",
        f"--entry-point={entry_point}",
        f"--output-file={staged}",
        "--python=/usr/bin/env python3",
        "--compressed",
        "--reproducible",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**environ, "SOURCE_DATE_EPOCH": str(epoch)},
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"shiv failed ({result.returncode}):\n{result.stderr[-4000:]}")
    os.replace(staged, target)
    return packed_files(target)
