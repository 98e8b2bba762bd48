"""``onebin build --portable``: the app's executable, built where glibc is old.

Three steps, the first two cached under keys of their inputs:

1. **The toolchain** (``toolchain-KEY``): a Debian 11 build root (``root``) with
   CPython and its native libraries built from Debian's sources (``sources``,
   ``toolchain.sh``) in ``/opt/onebin-python``. Keyed on the script, the lock, the
   build root's release and packages, and the machine: about 6 minutes on 2 cores
   from nothing, reused by every later build.
2. **A virtualenv** (``/venvs/KEY`` in the root) of exactly the distributions, at
   exactly the versions, the host's build has installed: the app's and onebin's
   runtime closure plus the packers. Binary wheels only: pip inside the root picks
   the manylinux wheels its glibc allows, never compiling anything.
3. **The build**: onebin and the app, copied from the host by import name with
   their metadata (as ``stage`` copies them: an editable install works), go into a
   fresh work directory in the root, where ``onebin build --target exe`` runs with
   the root's interpreter. The result is unpacked on the host, every ELF file in it
   is checked against the glibc limit (``glibc``), its ``--version`` is run inside
   the root, and only then is it moved to ``DIST/portable/NAME``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from onebin.app import App
from onebin.build import EXECUTABLE
from onebin.build.closure import dependencies, installed_requires
from onebin.build.launcher import unpack
from onebin.build.plan import plan_build
from onebin.build.portable import glibc
from onebin.build.portable.root import (
    BUILD_PACKAGES,
    CA_BUNDLE,
    SUITE,
    BuildRoot,
    host_problems,
    run_logged,
)
from onebin.build.portable.sources import MIRROR, fetch_sources, lock_text, parse_lock
from onebin.build.stage import stage_packages
from onebin.errors import BuildError

PREFIX = "/opt/onebin-python"
PYTHON = f"{PREFIX}/bin/python3.11"
# Written last into a finished toolchain root: a root without it is a failed build.
COMPLETE = ".onebin-complete"
# What the build inside the root needs besides the app's runtime closure.
PACKERS = ("pyinstaller", "brotli", "packaging")
DEBIAN_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# PEP 600's override, put in the virtualenv before pip runs: pip inside the root
# (glibc 2.31) would otherwise take a manylinux_2_29..2_31 wheel, which the glibc
# check would then refuse; with it, pip picks the newest wheel at or below the limit.
MANYLINUX_POLICY = f"""\
def manylinux_compatible(tag_major: int, tag_minor: int, tag_arch: str) -> bool:
    return (tag_major, tag_minor) <= {glibc.LIMIT}
"""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PortableArtifact:
    """The file written, its size report, its own ``--version`` line, the newest glibc
    version any of its ELF files needs, and how many ELF files were checked."""

    path: Path
    report: str
    version: str
    glibc: glibc.Version | None
    elf_files: int


def default_cache(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "/root")) / ".cache")
    return Path(base) / "onebin-build" / "portable"


def toolchain_key(script: str, lock: str, machine: str) -> str:
    """The toolchain's cache key: everything that changes what ``toolchain.sh`` builds."""
    inputs = "\n\0".join([SUITE, " ".join(BUILD_PACKAGES), machine, lock, script])
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def venv_key(toolchain: str, requirements: Sequence[str]) -> str:
    inputs = "\n".join([toolchain, MANYLINUX_POLICY, *sorted(requirements)])
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def pinned(roots: Sequence[str], installed: Callable[[str], str]) -> list[str]:
    """``name==version`` for the packers and everything ``roots`` need, roots left out."""
    names = [*PACKERS, *dependencies([*roots, *PACKERS], installed_requires)]
    unique = {name.lower(): name for name in names}
    return [f"{unique[key]}=={installed(unique[key])}" for key in sorted(unique)]


def pip_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """pip's settings inside the root: the host's CA bundle and, if it has one, its index.

    A local index (``file:``) or find-links directory of the host is not visible
    inside the root, so only a network index is passed on.
    """
    env = {
        "PIP_CERT": f"/{CA_BUNDLE}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    index = environ.get("PIP_INDEX_URL", "")
    if index.startswith(("http://", "https://")):
        env["PIP_INDEX_URL"] = index
    return env


def ca_bundle(environ: Mapping[str, str]) -> Path | None:
    """The host's CA bundle, which pip inside the root needs where TLS is intercepted."""
    candidates = (environ.get("PIP_CERT"), environ.get("SSL_CERT_FILE"), DEBIAN_CA_BUNDLE)
    return next((Path(p) for p in candidates if p and Path(p).is_file()), None)


class Toolchain:
    """The cached build root with the interpreter in it, made on first use."""

    def __init__(self, cache: Path, ca_bundle: Path | None, progress: Progress) -> None:
        self.script = resources.files(__package__).joinpath("toolchain.sh").read_text()
        self.key = toolchain_key(self.script, lock_text(), platform.machine())
        self.cache = cache
        self.progress = progress
        self.log = cache / f"toolchain-{self.key}.log"
        self.root = BuildRoot(cache / f"toolchain-{self.key}", self.log, ca_bundle)

    @property
    def ready(self) -> bool:
        return (self.root.path / COMPLETE).exists()

    def ensure(self) -> BuildRoot:
        if self.ready:
            self.progress(f"toolchain {self.key}: cached in {self.root.path}")
            return self.root
        self.cache.mkdir(parents=True, exist_ok=True)
        self._remove_old()
        self.log.write_text("")
        self.progress(
            f"toolchain {self.key}: building (about 6 minutes on 2 cores; log: {self.log})"
        )
        self.progress(f"  {SUITE} build root by debootstrap")
        self.root.create(MIRROR)
        self.progress("  Debian source packages (sources.lock)")
        with tempfile.TemporaryDirectory(dir=self.cache, prefix="sources-") as temporary:
            unpacked = fetch_sources(parse_lock(lock_text()), Path(temporary), self._run_host)
            target = self.root.path / "build" / "src"
            for package in unpacked.iterdir():
                if package.is_dir():
                    shutil.copytree(package, target / package.name, symlinks=True)
        (self.root.path / "build" / "toolchain.sh").write_text(self.script)
        self.progress("  zlib, bzip2, xz, libffi, expat, SQLite, OpenSSL, CPython")
        self.root.run(
            ["sh", "/build/toolchain.sh"],
            {"SOURCES": "/build/src", "PREFIX": PREFIX, "JOBS": str(os.cpu_count() or 2)},
        )
        shutil.rmtree(self.root.path / "build")
        (self.root.path / COMPLETE).write_text(self.key + "\n")
        return self.root

    def _run_host(self, command: Sequence[str]) -> None:
        run_logged(command, self.log)

    def _remove_old(self) -> None:
        """Toolchains of other keys (2 GB each) and a failed attempt at this one."""
        for old in self.cache.glob("toolchain-*"):
            if old.is_dir():
                shutil.rmtree(old)
            elif old.suffix == ".log" and old != self.log:
                old.unlink()


def build_portable(
    app: App,
    reference: str,
    dist_dir: Path,
    *,
    name: str | None,
    cache: Path,
    environ: Mapping[str, str],
    progress: Progress,
) -> PortableArtifact:
    """Build the portable executable of the app ``reference`` names: ``DIST/portable/NAME``."""
    problems = host_problems()
    if problems:
        raise BuildError("onebin build --portable cannot run here: " + "; ".join(problems))
    static = app.static.package if app.static is not None else None
    plan = plan_build(reference, name=name or app.name, static=static)
    owners = {module: names[0] for module, names in metadata.packages_distributions().items()}
    distributions = list(dict.fromkeys(owners[p] for p in plan.packages if p in owners))
    with exclusive(cache / "lock", progress):
        toolchain = Toolchain(cache, ca_bundle(environ), progress)
        root = toolchain.ensure()
        requirements = pinned(distributions, metadata.version)
        venv = f"/venvs/{venv_key(toolchain.key, requirements)}"
        if not (root.path / venv.lstrip("/") / COMPLETE).exists():
            progress(f"virtualenv {venv}: {len(requirements)} distributions from PyPI")
            _make_venv(root, venv, requirements, pip_environment(environ))
        work = f"/work/{uuid.uuid4().hex}"
        inside = root.path / work.lstrip("/")
        try:
            stage_packages(inside / "site", plan)
            for distribution in distributions:
                packages = [p for p in plan.packages if owners.get(p) == distribution]
                _write_metadata(inside / "site", distribution, packages)
            progress(f"packing {plan.name} inside the {SUITE} root")
            epoch = {key: value for key, value in environ.items() if key == "SOURCE_DATE_EPOCH"}
            root.run(
                ["sh", "-c", 'cd "$0" && "$@" > report.txt', work, f"{venv}/bin/python", "-m",
                 "onebin", "build", "--app", reference, "--name", plan.name,
                 "--target", EXECUTABLE, "--dist", "out"],
                {"PYTHONPATH": f"{work}/site", **epoch},
            )  # fmt: skip
            built = inside / "out" / plan.name
            needs = _check_payload(built, inside / "unpacked")
            root.run(
                ["sh", "-c", '"$0/out/$1" --version > "$0/version.txt"', work, plan.name],
                {"XDG_CACHE_HOME": f"{work}/cache"},
            )
            version = (inside / "version.txt").read_text().strip()
            report = (inside / "report.txt").read_text().strip()
            target = dist_dir / "portable" / plan.name
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(built, staging)
            staging.chmod(0o755)
            os.replace(staging, target)
        finally:
            shutil.rmtree(inside, ignore_errors=True)
    known = [version for version in needs.values() if version is not None]
    return PortableArtifact(
        path=target,
        report=report.replace(f"out/{plan.name}", str(target)),
        version=version,
        glibc=max(known, default=None),
        elf_files=len(needs),
    )


@contextmanager
def exclusive(lock: Path, progress: Progress) -> Iterator[None]:
    """One portable build at a time per cache: builds share the toolchain and virtualenvs,
    and one may be making or deleting what another would use."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another portable build to finish ({lock})")
            fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _make_venv(
    root: BuildRoot, venv: str, requirements: Sequence[str], pip: Mapping[str, str]
) -> None:
    listing = root.path / venv.lstrip("/") / "requirements.txt"
    for old in (root.path / "venvs").glob("*"):
        shutil.rmtree(old)  # another key's: older pins, 150 MB each
    root.run([PYTHON, "-m", "venv", "--clear", venv])
    site = root.path / venv.lstrip("/") / "lib" / "python3.11" / "site-packages"
    (site / "_manylinux.py").write_text(MANYLINUX_POLICY)
    listing.write_text("\n".join(requirements) + "\n")
    root.run(
        [f"{venv}/bin/python", "-m", "pip", "install", "--quiet", "--no-deps",
         "--only-binary=:all:", "-r", f"{venv}/requirements.txt"],
        pip,
    )  # fmt: skip
    root.run([f"{venv}/bin/python", "-m", "pip", "check"], pip)
    (root.path / venv.lstrip("/") / COMPLETE).write_text("")


def _write_metadata(site: Path, distribution: str, packages: Sequence[str]) -> None:
    """A distribution's metadata beside its copied packages: what the build inside reads.

    ``METADATA`` carries the requirements the closure follows and the version
    PyInstaller's ``--copy-metadata`` packs; ``top_level.txt`` ties the packages to it.
    """
    found = metadata.distribution(distribution)
    directory = site / f"{found.metadata['Name'].replace('-', '_')}-{found.version}.dist-info"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "METADATA").write_text(found.read_text("METADATA") or "")
    (directory / "top_level.txt").write_text("".join(f"{p}\n" for p in packages))


def _check_payload(executable: Path, into: Path) -> dict[str, glibc.Version | None]:
    """Unpack the executable's program tree into ``into`` and check every ELF file in it."""
    unpack(executable, into)
    return glibc.check_tree(into)
