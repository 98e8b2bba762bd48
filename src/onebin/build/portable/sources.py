"""The toolchain's sources: Debian source packages at the versions ``sources.lock`` pins.

They are fetched on the build host with its own ``apt-get``, through a private apt
state (its own sources list, package lists and download cache), so the host's apt
configuration is neither read nor changed. apt checks each file against the
mirror's signed index with the host's Debian keyring, which knows the current
releases' keys; the old build root's keyring may not. ``dpkg-source -x`` then
unpacks each package with Debian's patches applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from onebin.errors import BuildError

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# The releases whose source packages the lock takes versions from.
SUITES = ("bookworm", "trixie")

Run = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class SourcePackage:
    name: str
    version: str

    @property
    def dsc(self) -> str:
        """The file name of the package's description (the version without its epoch)."""
        return f"{self.name}_{self.version.partition(':')[2] or self.version}.dsc"


def lock_text() -> str:
    return resources.files(__package__).joinpath("sources.lock").read_text()


def parse_lock(text: str) -> list[SourcePackage]:
    """The packages of a lock file: ``name version`` a line, ``#`` comments."""
    packages = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.partition("#")[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise BuildError(f"sources.lock line {number}: expected 'name version', got {line!r}")
        packages.append(SourcePackage(*words))
    return packages


def sources_list(mirror: str = MIRROR, security: str = SECURITY_MIRROR) -> str:
    """The private apt state's sources: the releases' source packages and their fixes."""
    lines = []
    for suite in SUITES:
        lines.append(f"deb-src {mirror} {suite} main")
        lines.append(f"deb-src {mirror} {suite}-updates main")
        lines.append(f"deb-src {security} {suite}-security main")
    return "\n".join(lines) + "\n"


def apt_options(state: Path) -> list[str]:
    """apt-get options that keep everything it reads and writes under ``state``."""
    return [
        "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        # The downloads land in a directory of root's; apt's sandbox user could not write it.
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip


def fetch_sources(packages: Sequence[SourcePackage], into: Path, run: Run) -> Path:
    """Download ``packages`` and unpack each into ``into/src/NAME``; that directory.

    ``run`` runs one command and raises ``BuildError`` if it fails.
    """
    state = into / "apt"
    for directory in (state / "lists" / "partial", state / "cache" / "archives" / "partial"):
        directory.mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text(sources_list())
    downloads = into / "downloads"
    downloads.mkdir(exist_ok=True)
    options = apt_options(state)
    run(["apt-get", *options, "-q", "update"])
    wanted = [f"{package.name}={package.version}" for package in packages]
    run(["sh", "-c", 'cd "$0" && exec "$@"', str(downloads), "apt-get", *options, "-q",
         "source", "--download-only", *wanted])  # fmt: skip
    unpacked = into / "src"
    unpacked.mkdir(exist_ok=True)
    for package in packages:
        target = unpacked / package.name
        if not target.exists():
            # --no-check: apt has checked every file against the signed index already.
            run(["dpkg-source", "--no-check", "-x", str(downloads / package.dsc), str(target)])
    return unpacked
