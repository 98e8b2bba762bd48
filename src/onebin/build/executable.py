"""The single executable: a trimmed PyInstaller one-directory build behind the launcher.

PyInstaller runs in a subprocess because it owns its process (logging, ``sys.exit``)
and because an artifact must be built by the build virtualenv's interpreter. It
analyses the staged packages (``stage``), not the installed ones: they come first
on its ``PYTHONPATH`` and the current directory is kept off its path (``-P``), so
what it collects is what the zipapp gets too, precompressed static files included
and left-out parts of onebin absent. Options and why:

- one-directory, wrapped by ``launcher``: unpack once per build, not on every start;
- the generated entry module as the script, ``--collect-submodules`` and
  ``--collect-data`` of every staged package: the app is imported by name at run
  time, and modules imported lazily (commands, TLS) and static files are found
  without a list that would go stale;
- ``--copy-metadata`` of the distributions the staged packages come from, for code
  that asks ``importlib.metadata`` for their versions;
- ``--strip``: the interpreter and extensions ship with debug symbols (libpython
  alone shrinks from 23 MB to 5.6 MB);
- ``--optimize 1``: no asserts; not 2, because msgspec derives the OpenAPI
  descriptions from docstrings;
- pure-Python modules stay in PyInstaller's archive inside the bootloader (no
  ``noarchive``): the first start creates files one by one, and on this machine's
  ext4 each costs ~0.7 ms, so 700 loose ``.pyc`` files would add half a second.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from onebin.build.archive import sort_zip, tree_entries, write_tar_gz
from onebin.build.entry import ENTRY_MODULE
from onebin.build.launcher import launcher
from onebin.build.report import PackedFile
from onebin.errors import BuildError

# Where PyInstaller puts everything but the bootloader in a one-directory build.
CONTENTS = "_internal"
# PyInstaller's type code for the module archive inside the bootloader's package.
_PYZ_TYPECODE = "z"
# Type codes of packages (regular and namespace) inside that module archive.
_PYZ_PACKAGES = (1, 3)


def pyinstaller_command(
    *,
    name: str,
    packages: Path,
    package_names: Sequence[str],
    distributions: Sequence[str],
    excluded: Sequence[str],
    work: Path,
) -> list[str]:
    """PyInstaller's command line for the packages staged in ``packages``.

    ``package_names`` are their top-level names, ``distributions`` those they come
    from, ``excluded`` the modules to leave out (``trim``).
    """
    command = [
        sys.executable,
        "-P",
        "-m",
        "PyInstaller",
        "--onedir",
        "--noconfirm",
        "--log-level=WARN",
        f"--name={name}",
        f"--distpath={work / 'dist'}",
        f"--workpath={work / 'build'}",
        f"--specpath={work}",
    ]
    for package in package_names:
        command += [f"--collect-submodules={package}", f"--collect-data={package}"]
    command += [f"--copy-metadata={distribution}" for distribution in distributions]
    command += ["--strip", "--optimize=1"]
    command += [f"--exclude-module={module}" for module in excluded]
    return [*command, str(packages / f"{ENTRY_MODULE}.py")]


def search_path(packages: Path, existing: str) -> str:
    """``PYTHONPATH`` with the staged packages ahead of every installed copy.

    Empty entries are dropped: they would put the current directory on the path.
    """
    return os.pathsep.join(
        [str(packages), *(entry for entry in existing.split(os.pathsep) if entry)]
    )


def run_pyinstaller(command: list[str], environ: Mapping[str, str]) -> None:
    if getattr(sys, "frozen", False) or importlib.util.find_spec("PyInstaller") is None:
        raise BuildError("building the executable needs PyInstaller: pip install 'onebin[build]'")
    result = subprocess.run(command, capture_output=True, text=True, env=dict(environ), check=False)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed ({result.returncode}):\n{result.stderr[-4000:]}")


def packed_files(tree: Path, name: str) -> Iterator[PackedFile]:
    """The files of a one-directory build, named as the importer sees them.

    Files on disk are deflated one by one for their compressed size; the payload
    is one gzip stream, so this slightly overstates what a component costs.
    """
    contents = tree / CONTENTS
    for path in tree_entries(contents):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            relative = path.relative_to(contents).as_posix()
            yield PackedFile(relative, len(data), len(zlib.compress(data, 9)))
    yield from bootloader_files(tree / name)


def bootloader_files(executable: Path) -> Iterator[PackedFile]:
    """The bootloader's embedded module archive, one entry per module, then the rest."""
    from PyInstaller.archive.readers import CArchiveReader

    package = CArchiveReader(str(executable))
    archive = next(name for name, entry in package.toc.items() if entry[-1] == _PYZ_TYPECODE)
    modules = package.open_embedded_archive(archive)
    archived = 0
    for module, (typecode, _, length) in modules.toc.items():
        data = modules.extract(module, raw=True) or b""
        archived += length
        yield PackedFile(archived_path(module, typecode), len(data), length)
    rest = executable.stat().st_size - archived
    # The bootloader sits beside the import root (``_internal``), not inside it.
    yield PackedFile(f"../{executable.name}", rest, rest)


def archived_path(module: str, typecode: int) -> str:
    """The path a module of the archive would have on disk: a package is its ``__init__``."""
    path = module.replace(".", "/")
    return f"{path}/__init__.pyc" if typecode in _PYZ_PACKAGES else f"{path}.pyc"


def build_executable(
    *,
    name: str,
    packages: Path,
    package_names: Sequence[str],
    distributions: Sequence[str],
    excluded: Sequence[str],
    target: Path,
    work: Path,
    epoch: int,
    environ: Mapping[str, str],
) -> list[PackedFile]:
    """Write the executable of the ``packages`` staged to ``target``; the files it carries."""
    command = pyinstaller_command(
        name=name,
        packages=packages,
        package_names=package_names,
        distributions=distributions,
        excluded=excluded,
        work=work,
    )
    run_pyinstaller(
        command,
        {
            **environ,
            "PYTHONPATH": search_path(packages, environ.get("PYTHONPATH", "")),
            "SOURCE_DATE_EPOCH": str(epoch),
        },
    )
    tree = work / "dist" / name
    sort_zip(tree / CONTENTS / "base_library.zip", epoch)
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_bytes(launcher(name, write_tar_gz(tree, epoch)))
    staging.chmod(0o755)
    os.replace(staging, target)
    return list(packed_files(tree, name))
