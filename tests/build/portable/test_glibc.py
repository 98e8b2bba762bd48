"""The glibc check: what ``objdump -T`` says a file imports, and the tree check on real files."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from onebin.build.portable.glibc import (
    LIMIT,
    Reference,
    check_tree,
    highest,
    references,
    too_new,
)
from onebin.errors import BuildError

# Lines as binutils 2.40 prints them (Debian 12): libpython, libssl, libexpat, libc.
OBJDUMP = """
/usr/lib/x86_64-linux-gnu/libexample.so:     file format elf64-x86-64

DYNAMIC SYMBOL TABLE:
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.2.5) getenv
0000000000000000  w   DF *UND*\t0000000000000000 (GLIBC_2.2.5) __cxa_finalize
0000000000000000  w   D  *UND*\t0000000000000000  Base        __gmon_start__
0000000000000000      DF *UND*\t0000000000000000 (OPENSSL_3.0.0) EVP_get_cipherbyname
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.34) pthread_create
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.3.4) __snprintf_chk
0000000000009220 g    DF .text\t0000000000000011  Base        XML_FreeContentModel
00000000000870d0 g    DF .text\t0000000000000078  GLIBC_2.34  pthread_attr_getstacksize
"""

# The version glibc's oldest symbols carry on each machine.
BASE = {"x86_64": (2, 2, 5), "aarch64": (2, 17)}


def test_references_are_the_imported_glibc_symbols_in_order():
    assert references(OBJDUMP) == [
        Reference("getenv", (2, 2, 5)),
        Reference("__cxa_finalize", (2, 2, 5)),  # weak: still versioned, still checked
        Reference("pthread_create", (2, 34)),
        Reference("__snprintf_chk", (2, 3, 4)),
    ]


def test_references_ignore_other_libraries_and_symbols_the_file_defines():
    symbols = {reference.symbol for reference in references(OBJDUMP)}
    # Unversioned imports, OpenSSL's versions and the file's own (defined) symbols.
    assert symbols.isdisjoint(
        {"__gmon_start__", "EVP_get_cipherbyname", "XML_FreeContentModel",
         "pthread_attr_getstacksize"}
    )  # fmt: skip


def test_reference_prints_as_the_loader_names_it():
    assert str(Reference("memcpy", (2, 14))) == "memcpy@GLIBC_2.14"
    assert str(Reference("getenv", (2, 2, 5))) == "getenv@GLIBC_2.2.5"


def test_too_new_lists_each_symbol_once_newest_first():
    found = [
        Reference("memcpy", (2, 14)),
        Reference("pthread_create", (2, 34)),
        Reference("fcntl64", (2, 28)),
        Reference("pow", (2, 29)),
        Reference("pthread_create", (2, 34)),
        Reference("dlopen", (2, 34)),
        Reference("stat", (2, 33)),
    ]
    assert too_new(found) == [
        Reference("pthread_create", (2, 34)),
        Reference("dlopen", (2, 34)),
        Reference("stat", (2, 33)),
        Reference("pow", (2, 29)),
    ]


def test_too_new_allows_the_limit_itself():
    assert LIMIT == (2, 28)
    assert too_new([Reference("fcntl64", (2, 28))]) == []
    assert too_new([Reference("pow", (2, 29))]) == [Reference("pow", (2, 29))]
    assert too_new([Reference("pow", (2, 29))], limit=(2, 29)) == []


def test_highest_compares_versions_as_numbers():
    found = [Reference("a", (2, 2, 5)), Reference("b", (2, 9)), Reference("c", (2, 14))]
    assert highest(found) == (2, 14)
    assert highest([]) is None


def compile_library(source: str, output: Path) -> Path:
    """A shared library built here by gcc from ``source``."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-x", "c", "-", "-o", str(output)],
        input=source, text=True, check=True, capture_output=True,
    )  # fmt: skip
    return output


def test_check_tree_names_each_file_and_symbol_above_the_limit(tmp_path):
    ls = Path("/bin/ls")
    if "GLIBC_2.34" not in subprocess.run(["objdump", "-T", str(ls)], capture_output=True,
                                          text=True, check=True).stdout:  # fmt: skip
        pytest.skip("this host's /bin/ls does not need glibc 2.34")
    (tmp_path / "sub").mkdir()
    shutil.copyfile(ls, tmp_path / "sub" / "ls")
    (tmp_path / "sub" / "notes.txt").write_text("not a program\n")
    (tmp_path / "link-to-ls").symlink_to("sub/ls")
    compile_library("#include <stdio.h>\nvoid hello(void){puts(\"hi\");}\n",
                    tmp_path / "lib" / "libold.so")  # fmt: skip

    with pytest.raises(BuildError) as raised:
        check_tree(tmp_path)

    message = str(raised.value)
    assert message.startswith("1 file(s) need a glibc newer than 2.28:\n")
    failures = message.splitlines()[1:]
    assert len(failures) == 1  # the link is checked at its target, the old library passes
    assert failures[0].startswith("  sub/ls: ")
    assert "__libc_start_main@GLIBC_2.34" in failures[0]
    assert re.search(r"\w+@GLIBC_2\.3\d", failures[0])
    assert "libold" not in message
    assert "notes.txt" not in message


def test_check_tree_returns_the_newest_version_each_file_needs(tmp_path):
    old = compile_library("#include <stdio.h>\nvoid hello(void){puts(\"hi\");}\n",
                          tmp_path / "lib" / "libold.so")  # fmt: skip
    compile_library("int add(int a, int b){return a + b;}\n", tmp_path / "lib" / "libnone.so")
    (tmp_path / "lib" / "libold.so.1").symlink_to(old.name)
    (tmp_path / "README").write_text("text\n")

    needs = check_tree(tmp_path)

    assert set(needs) == {"lib/libold.so", "lib/libnone.so"}
    assert needs["lib/libnone.so"] is None  # imports nothing versioned from glibc
    assert needs["lib/libold.so"] is not None
    assert needs["lib/libold.so"] <= LIMIT
    if platform.machine() in BASE:
        assert needs["lib/libold.so"] == BASE[platform.machine()]


def test_check_tree_fails_on_an_elf_file_objdump_cannot_read(tmp_path):
    (tmp_path / "broken.so").write_bytes(b"\x7fELF" + b"\0" * 12)
    with pytest.raises(BuildError, match=r"objdump could not read .*broken\.so"):
        check_tree(tmp_path)
