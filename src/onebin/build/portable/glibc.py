"""The promise of the portable build, checked: no file needs a glibc newer than 2.28.

A dynamically linked ELF file names the glibc version of every symbol it takes
from glibc (``memcpy@GLIBC_2.14``); the dynamic loader refuses to start a program
when one of them is newer than the system's glibc. So the check reads those
references from every ELF file the executable unpacks (``objdump -T``, from
binutils, which the build needs anyway for ``--strip``) and fails the build naming
each file and symbol above the limit, rather than shipping a file that breaks only
on the oldest systems.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from onebin.errors import BuildError

# glibc 2.28: Debian 10, RHEL 8 and its rebuilds, Ubuntu 18.10; older systems are
# past their vendors' support.
LIMIT = (2, 28)
# An undefined (imported) dynamic symbol with a glibc version, as objdump -T prints
# it: ``0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.14) memcpy``.
_REFERENCE = re.compile(r"\*UND\*\s+\S+\s+\(?GLIBC_([0-9.]+)\)?\s+(\S+)")
_ELF_MAGIC = b"\x7fELF"

Version = tuple[int, ...]


@dataclass(frozen=True)
class Reference:
    """One glibc symbol an ELF file imports, and the version it asks for."""

    symbol: str
    version: Version

    def __str__(self) -> str:
        return f"{self.symbol}@GLIBC_{'.'.join(map(str, self.version))}"


def references(objdump_output: str) -> list[Reference]:
    """The glibc symbols in ``objdump -T`` output, in the order listed."""
    return [
        Reference(symbol, tuple(int(part) for part in version.split(".")))
        for version, symbol in _REFERENCE.findall(objdump_output)
    ]


def too_new(found: list[Reference], limit: Version = LIMIT) -> list[Reference]:
    """The references above ``limit``, newest first, each symbol once."""
    unique = {(reference.version, reference.symbol): reference for reference in found}
    return [unique[key] for key in sorted(unique, reverse=True) if key[0] > limit]


def highest(found: list[Reference]) -> Version | None:
    """The newest glibc version among ``found``; ``None`` for a file that imports none."""
    return max((reference.version for reference in found), default=None)


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == _ELF_MAGIC


def elf_files(tree: Path) -> list[Path]:
    """Every regular ELF file under ``tree`` (symbolic links are checked at their target)."""
    return sorted(
        path
        for path in tree.rglob("*")
        if path.is_file() and not path.is_symlink() and is_elf(path)
    )


def file_references(path: Path) -> list[Reference]:
    result = subprocess.run(
        ["objdump", "-T", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"objdump could not read {path}: {result.stderr.strip()}")
    return references(result.stdout)


def check_tree(tree: Path, limit: Version = LIMIT) -> dict[str, Version | None]:
    """The newest glibc version each ELF file under ``tree`` needs, by relative path.

    Raises ``BuildError`` naming every file above ``limit``, a line each, with its
    symbols above it, newest first.
    """
    needs: dict[str, Version | None] = {}
    failures = []
    for path in elf_files(tree):
        relative = path.relative_to(tree).as_posix()
        found = file_references(path)
        needs[relative] = highest(found)
        newer = too_new(found, limit)
        if newer:
            failures.append(f"  {relative}: {', '.join(map(str, newer))}")
    if failures:
        wanted = ".".join(map(str, limit))
        raise BuildError(
            f"{len(failures)} file(s) need a glibc newer than {wanted}:\n" + "\n".join(failures)
        )
    return needs
