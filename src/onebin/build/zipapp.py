"""The zipapp: shiv over a site-packages staged from the build virtualenv.

shiv is used because compiled extensions (uvloop, cryptography, msgspec) cannot be
imported from inside a zip: its bootstrap unpacks site-packages once into
``~/.shiv`` (or ``$SHIV_ROOT``) under a content hash. Those extensions are built
for the build interpreter, so the zipapp needs the same CPython minor version on
the host (3.11 here).

site-packages is the staged packages (onebin, the app, the entry module; see
``stage``), the metadata of the distributions they come from, and the runtime
closure of those distributions copied from their installed files.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path, PurePosixPath

from onebin.build.closure import dependencies, installed_requires
from onebin.build.entry import ENTRY_POINT
from onebin.build.report import PackedFile
from onebin.build.stage import keep
from onebin.errors import BuildError

SITE_PACKAGES = "site-packages/"


def distribution_files(name: str) -> Iterator[tuple[Path, PurePosixPath]]:
    """(installed file, path inside site-packages) for one installed distribution."""
    distribution = metadata.distribution(name)
    for entry in distribution.files or ():
        relative = PurePosixPath(entry.as_posix())
        if keep(relative):
            yield Path(str(distribution.locate_file(entry))), relative


def metadata_files(name: str) -> Iterator[tuple[Path, PurePosixPath]]:
    """The ``.dist-info`` files of a distribution whose packages were staged from disk."""
    for path, relative in distribution_files(name):
        if relative.parts[0].endswith(".dist-info"):
            yield path, relative


def stage(
    site_packages: Path,
    packages: Path,
    distributions: Collection[str],
    excluded: Collection[str],
) -> None:
    """site-packages: the staged ``packages``, then what their ``distributions`` need.

    ``distributions`` are those the staged packages come from (onebin, the app's if
    it is installed): their metadata is copied, their files are not (they were
    staged from disk), and their runtime closure but the ``excluded`` distributions
    (``trim``) is copied whole.
    """
    shutil.copytree(packages, site_packages)
    needed = dependencies(distributions, installed_requires, excluded)
    sources = [metadata_files(name) for name in distributions]
    sources += [distribution_files(name) for name in needed]
    for files in sources:
        for path, relative in files:
            target = site_packages / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            shutil.copymode(path, target)
    strip(sorted(str(path) for path in site_packages.rglob("*") if _extension(path)))


def _extension(path: Path) -> bool:
    """A compiled extension or shared library (``x.abi3.so``, ``libffi.so.8``)."""
    return ".so" in path.suffixes and path.is_file()


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
    packages: Path,
    distributions: Sequence[str],
    excluded: Collection[str],
    target: Path,
    work: Path,
    epoch: int,
    environ: Mapping[str, str],
) -> list[PackedFile]:
    """Write the zipapp of the ``packages`` staged to ``target``; the files it carries.

    ``distributions`` are the installed distributions those packages come from,
    ``excluded`` the distributions left out of their closure.
    """
    if importlib.util.find_spec("shiv") is None:
        raise BuildError("building the zipapp needs shiv: pip install 'onebin[build]'")
    site_packages = work / "site-packages"
    stage(site_packages, packages, distributions, excluded)
    staged = target.with_name(f".{target.name}.tmp")
    command = [
        sys.executable,
        "-m",
        "shiv",
        f"--site-packages={site_packages}",
        f"--entry-point={ENTRY_POINT}",
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
