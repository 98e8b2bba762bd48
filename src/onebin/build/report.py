"""Where the bytes of an artifact go: a per-component size report.

The report is a pure function over a list of packed files, so the same code explains
the executable and the zipapp, and it is tested without building anything. A file
belongs to the first component that claims it: the app's static files (their
package's directory), the app's own code (its package, and its distribution's
metadata), the installed distribution that owns its top-level name (onebin among
them), and otherwise the Python runtime (interpreter, standard library, bundled
shared libraries, bootloader, shiv's bootstrap, the entry module).

Components are listed in that order, the distributions largest first, so the
lines an app's author controls come first and the runtime, which nobody packing
an app can shrink, last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RUNTIME = "python runtime"
ONEBIN = "onebin"


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


def app_component(app_code: str) -> str:
    return f"app code ({app_code})"


def static_component(static: str) -> str:
    return f"static files ({static})"


def _under(path: str, package: str) -> bool:
    return path.startswith(package.replace(".", "/") + "/")


def component_of(path: str, owners: Mapping[str, str], *, app_code: str, static: str | None) -> str:
    """The component a packed file belongs to.

    ``owners`` maps a top-level import name to its distribution (as
    ``importlib.metadata.packages_distributions`` does); ``.dist-info``
    directories belong to the distribution they describe. ``app_code`` and
    ``static`` are dotted package names (``guestbook``, ``guestbook.static``).
    """
    if static is not None and _under(path, static):
        return static_component(static)
    top = path.split("/", 1)[0]
    module = top.split(".", 1)[0]
    if _under(path, app_code) or module == app_code:
        return app_component(app_code)
    if top.endswith(".dist-info"):
        distribution = normalize(top.split("-", 1)[0])
    else:
        distribution = normalize(owners.get(module, ONEBIN if module == ONEBIN else ""))
    app_distribution = normalize(owners.get(app_code, ""))
    if distribution and distribution == app_distribution:
        return app_component(app_code)
    return distribution or RUNTIME


def size_report(
    files: Iterable[PackedFile],
    owners: Mapping[str, str],
    *,
    app_code: str,
    static: str | None,
    artifact_size: int,
) -> SizeReport:
    """Group ``files`` into components; the app, static, onebin and runtime lines always show."""
    first = [app_component(app_code)]
    if static is not None:
        first.append(static_component(static))
    first.append(ONEBIN)
    totals: dict[str, list[int]] = {name: [0, 0, 0] for name in [*first, RUNTIME]}
    for packed in files:
        name = component_of(packed.path, owners, app_code=app_code, static=static)
        row = totals.setdefault(name, [0, 0, 0])
        row[0] += 1
        row[1] += packed.size
        row[2] += packed.compressed
    components = {name: Component(name, *row) for name, row in totals.items()}
    others = sorted(
        (component for name, component in components.items() if name not in {*first, RUNTIME}),
        key=lambda component: (-component.size, component.name),
    )
    ordered = [components[name] for name in first] + others + [components[RUNTIME]]
    return SizeReport(tuple(ordered), artifact_size)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


def format_report(title: str, report: SizeReport) -> str:
    """A fixed-width table: one line per component, then the totals and the file itself."""
    width = max([24, *(len(component.name) for component in report.components)])
    lines = [
        title,
        f"  {'component':<{width}} {'files':>6} {'uncompressed':>13} {'compressed':>12}",
    ]
    for component in report.components:
        lines.append(
            f"  {component.name:<{width}} {component.files:>6} "
            f"{_mb(component.size):>13} {_mb(component.compressed):>12}"
        )
    files = sum(component.files for component in report.components)
    lines.append(
        f"  {'total':<{width}} {files:>6} {_mb(report.size):>13} {_mb(report.compressed):>12}"
    )
    lines.append(
        f"  {'artifact on disk':<{width}} {'':>6} {'':>13} {_mb(report.artifact_size):>12}"
    )
    return "\n".join(lines)
