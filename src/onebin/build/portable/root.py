"""The old-glibc build root: a minimal Debian 11 tree that commands run inside.

Whatever is compiled against a glibc runs on that glibc or newer, so the
toolchain is built where glibc is old: Debian 11 (bullseye, glibc 2.31), the
oldest release still on Debian's mirror, made by ``debootstrap`` from the same
mirror apt uses. The few symbols 2.29-2.31 versioned anew are pinned back to
2.28 by ``toolchain.sh``.

Commands enter the root through ``unshare --mount`` and ``chroot``: ``/dev`` and
``/proc`` are mounted inside a private mount namespace, so the mounts end with
the command, even when it fails or is killed, and deleting a root never reaches
through a leftover bind mount into the host's ``/dev``. The root shares the
host's network, for apt and pip; the host's DNS settings and CA bundle (a
workplace may intercept TLS) are copied in before each command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from onebin.errors import BuildError

SUITE = "bullseye"
# What building CPython and its libraries needs, beyond debootstrap's minimal base.
BUILD_PACKAGES = (
    "build-essential",
    "perl",
    "pkg-config",
    # expat's configure is generated in the build (autoreconf).
    "autoconf",
    "automake",
    "libtool",
    "ca-certificates",
    # SQLite's build generates its amalgamation with tclsh.
    "tcl",
)
# What the host runs for a portable build, and the Debian package each comes in.
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "unshare": "util-linux",
    "chroot": "coreutils",
    "apt-get": "apt",
    "dpkg-source": "dpkg-dev",
    "objdump": "binutils",
}
# The host's CA bundle, copied into the root where pip inside is told to look.
CA_BUNDLE = "etc/onebin-build/ca-certificates.crt"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_ENTER = 'root=$1; shift; mount --rbind /dev "$root/dev" && mount -t proc proc "$root/proc" && exec chroot "$root" "$@"'  # noqa: E501
# Kept in a failure's message: enough for the compiler's error, not the whole log.
_TAIL = 6000


def missing_tools(is_root: bool, which: Mapping[str, str | None]) -> list[str]:
    """What the host lacks for a portable build, as advice; empty when it has all.

    ``which`` maps each tool to its path (``shutil.which``), ``None`` when absent.
    """
    problems = [] if is_root else ["run as root: the build root needs chroot and mounts"]
    absent = sorted({package for tool, package in HOST_TOOLS.items() if which.get(tool) is None})
    if absent:
        problems.append(f"install {' '.join(absent)} (apt-get install {' '.join(absent)})")
    return problems


def host_problems() -> list[str]:
    which = {tool: shutil.which(tool) for tool in HOST_TOOLS}
    return missing_tools(os.geteuid() == 0, which)


def enter_command(root: Path, command: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The host's command line that runs ``command`` inside ``root`` with only ``env`` set.

    ``PATH`` and ``HOME`` default to the root's own; nothing else of the host's
    environment crosses into the root.
    """
    variables = {"PATH": PATH, "HOME": "/root", **env}
    assignments = [f"{key}={value}" for key, value in variables.items()]
    enter = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _ENTER, "sh"]
    return [*enter, str(root), "/usr/bin/env", "-i", *assignments, *command]


def run_logged(command: Sequence[str], log: Path) -> None:
    """Run ``command``, its output added to ``log``; if it fails, ``BuildError`` with the tail."""
    with log.open("ab") as output:
        output.write(f"\n$ {' '.join(command)}\n".encode())
        output.flush()
        result = subprocess.run(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = log.read_bytes()[-_TAIL:].decode(errors="replace")
        raise BuildError(f"{command[0]} failed ({result.returncode}); the end of {log}:\n{tail}")


class BuildRoot:
    """A Debian tree at ``path`` that commands run inside, logging to ``log``.

    ``ca_bundle`` is the host's CA bundle, copied in for pip.
    """

    def __init__(self, path: Path, log: Path, ca_bundle: Path | None) -> None:
        self.path = path
        self.log = log
        self.ca_bundle = ca_bundle

    def create(self, mirror: str) -> None:
        """debootstrap the tree, then install the build packages with its own apt."""
        run_logged(["debootstrap", "--variant=minbase", SUITE, str(self.path), mirror], self.log)
        self.run(["apt-get", "-q", "update"])
        self.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *BUILD_PACKAGES],
            {"DEBIAN_FRONTEND": "noninteractive"},
        )

    def run(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Run ``command`` inside the root with only ``env`` (and PATH, HOME) set."""
        self._copy_host_settings()
        run_logged(enter_command(self.path, command, env or {}), self.log)

    def _copy_host_settings(self) -> None:
        resolv = Path("/etc/resolv.conf")
        if resolv.is_file():
            shutil.copyfile(resolv, self.path / "etc/resolv.conf")
        if self.ca_bundle is not None:
            target = self.path / CA_BUNDLE
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.ca_bundle, target)
