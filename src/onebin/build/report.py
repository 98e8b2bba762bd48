"""Where the bytes of an artifact go: a per-component size report.

The report is a pure function over a list of packed files, so the same code explains
the executable and the zipapp, and it is tested without building anything. A file
belongs to the first component that claims it: the frontend assets (a path prefix),
the application's own package, the installed distribution that owns its top-level
name, and otherwise the Python runtime (interpreter, standard library, bundled
shared libraries, launcher).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RUNTIME = "python runtime"
APP = "app code"
ASSETS = "frontend assets"


@dataclass(frozen=True)
class PackedFile:
    """One file inside an artifact; ``path`` is relative to the artifact's import root."""

    path: str
    size: int
    compressed: int


@dataclass(frozen=True)
class Component:
    name: str
    files: int
    size: int
    compressed: int


@dataclass(frozen=True)
class SizeReport:
    components: tuple[Component, ...]
    artifact_size: int

    @property
    def size(self) -> int:
        return sum(component.size for component in self.components)

    @property
    def compressed(self) -> int:
        return sum(component.compressed for component in self.components)


def normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503), so ``PyYAML`` is ``pyyaml``."""
    return name.lower().replace("_", "-").replace(".", "-")


def component_of(
    path: str, owners: Mapping[str, str], *, app_package: str, assets_prefix: str | None
) -> str:
    """The component a packed file belongs to.

    ``owners`` maps a top-level import name to its distribution (as
    ``importlib.metadata.packages_distributions`` does); ``.dist-info``
    directories belong to the distribution they describe.
    """
    if assets_prefix and path.startswith(assets_prefix):
        return ASSETS
    top = path.split("/", 1)[0]
    if top.endswith(".dist-info"):
        distribution = normalize(top.split("-", 1)[0])
    else:
        module = top.split(".", 1)[0]
        distribution = normalize(owners.get(module, module if module == app_package else ""))
    if distribution == normalize(app_package):
        return APP
    return distribution or RUNTIME


def size_report(
    files: Iterable[PackedFile],
    owners: Mapping[str, str],
    *,
    app_package: str,
    assets_prefix: str | None,
    artifact_size: int,
) -> SizeReport:
    """Group ``files`` into components, largest first; the runtime and app lines always show."""
    totals: dict[str, list[int]] = {RUNTIME: [0, 0, 0], APP: [0, 0, 0]}
    if assets_prefix:
        totals[ASSETS] = [0, 0, 0]
    for packed in files:
        name = component_of(
            packed.path, owners, app_package=app_package, assets_prefix=assets_prefix
        )
        row = totals.setdefault(name, [0, 0, 0])
        row[0] += 1
        row[1] += packed.size
        row[2] += packed.compressed
    components = sorted(
        (
            Component(name, count, size, compressed)
            for name, (count, size, compressed) in totals.items()
        ),
        key=lambda component: (-component.size, component.name),
    )
    return SizeReport(tuple(components), artifact_size)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


def format_report(title: str, report: SizeReport) -> str:
    """A fixed-width table: one line per component, then the totals and the file itself."""
    lines = [
        title,
        f"  {'component':<24} {'files':>6} {'uncompressed':>13} {'compressed':>12}",
    ]
    for component in report.components:
        lines.append(
            f"  {component.name:<24} {component.files:>6} "
            f"{_mb(component.size):>13} {_mb(component.compressed):>12}"
        )
    files = sum(component.files for component in report.components)
    lines.append(f"  {'total':<24} {files:>6} {_mb(report.size):>13} {_mb(report.compressed):>12}")
    lines.append(f"  {'artifact on disk':<24} {'':>6} {'':>13} {_mb(report.artifact_size):>12}")
    return "\n".join(lines)
