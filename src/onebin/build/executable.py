"""The single executable: a trimmed PyInstaller one-directory build behind the launcher.

PyInstaller runs in a subprocess because it owns its process (logging, ``sys.exit``)
and because an artifact must be built by the build virtualenv's interpreter.
Options and why:

- one-directory, wrapped by ``launcher``: unpack once per build, not on every start;
- ``--collect-submodules``/``--collect-data`` of the whole app package: modules
  imported lazily (commands, TLS) and the frontend files are found without a list
  that would go stale;
- ``--copy-metadata``: ``onebin --version`` reads ``importlib.metadata``;
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
from collections.abc import Iterator, Mapping
from pathlib import Path

from onebin.build.archive import sort_zip, tree_entries, write_tar_gz
from onebin.build.launcher import launcher
from onebin.build.report import PackedFile
from onebin.build.trim import excluded_modules
from onebin.errors import BuildError

# Where PyInstaller puts everything but the bootloader in a one-directory build.
CONTENTS = "_internal"
# PyInstaller's type code for the module archive inside the bootloader's package.
_PYZ_TYPECODE = "z"


def pyinstaller_command(
    *, name: str, entry_script: Path, app_package: str, distribution: str, work: Path
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--onedir",
        "--noconfirm",
        "--log-level=WARN",
        f"--name={name}",
        f"--distpath={work / 'dist'}",
        f"--workpath={work / 'build'}",
        f"--specpath={work}",
        f"--collect-submodules={app_package}",
        f"--collect-data={app_package}",
        f"--copy-metadata={distribution}",
        "--strip",
        "--optimize=1",
    ]
    command += [f"--exclude-module={module}" for module in excluded_modules()]
    return [*command, str(entry_script)]


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
    for module, (_, _, length) in modules.toc.items():
        data = modules.extract(module, raw=True) or b""
        archived += length
        yield PackedFile(module.replace(".", "/") + ".pyc", len(data), length)
    rest = executable.stat().st_size - archived
    yield PackedFile(executable.name, rest, rest)


def build_executable(
    *,
    name: str,
    entry_script: Path,
    app_package: str,
    distribution: str,
    target: Path,
    work: Path,
    epoch: int,
    environ: Mapping[str, str],
) -> list[PackedFile]:
    """Write the executable to ``target``; return the files it carries."""
    command = pyinstaller_command(
        name=name,
        entry_script=entry_script,
        app_package=app_package,
        distribution=distribution,
        work=work,
    )
    run_pyinstaller(command, {**environ, "SOURCE_DATE_EPOCH": str(epoch)})
    tree = work / "dist" / name
    sort_zip(tree / CONTENTS / "base_library.zip", epoch)
    staged = target.with_name(f".{target.name}.tmp")
    staged.write_bytes(launcher(name, write_tar_gz(tree, epoch)))
    staged.chmod(0o755)
    os.replace(staged, target)
    return list(packed_files(tree, name))
