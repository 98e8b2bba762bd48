"""``onebin build``: both artifacts of one app and their size reports.

The build packs what the running virtualenv has installed (the pinned versions the
tests ran against) plus onebin and the app as they are on disk, staged once
(``stage``) and shared by both packers, so the executable and the zipapp carry the
same code and the same precompressed static files. Each artifact is written next
to its final name and renamed into place, so a failed build never leaves a
half-written file where a working one was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from onebin.app import App
from onebin.build import EXECUTABLE, TARGETS, ZIPAPP
from onebin.build.archive import source_date_epoch
from onebin.build.closure import dependencies, installed_requires
from onebin.build.executable import build_executable
from onebin.build.plan import ONEBIN, Plan, plan_build
from onebin.build.report import PackedFile, SizeReport, normalize, size_report
from onebin.build.stage import stage_packages
from onebin.build.trim import excluded_distributions, excluded_modules
from onebin.build.zipapp import build_zipapp
from onebin.errors import BuildError


@dataclass(frozen=True)
class Artifact:
    kind: str
    path: Path
    report: SizeReport


def build(
    app: App,
    reference: str,
    dist_dir: Path,
    *,
    name: str | None = None,
    targets: Collection[str] = TARGETS,
    environ: Mapping[str, str],
) -> list[Artifact]:
    """Build ``targets`` of the app ``reference`` names into ``dist_dir``.

    The files are ``NAME`` and ``NAME.pyz``, ``name`` defaulting to the app's;
    both run onebin's command line with this app as the default.
    """
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise BuildError(f"unknown build targets: {', '.join(sorted(unknown))}")
    static = app.static.package if app.static is not None else None
    plan = plan_build(reference, name=name or app.name, static=static)
    epoch = source_date_epoch(environ)
    owners = {module: names[0] for module, names in metadata.packages_distributions().items()}
    distributions = _distributions(plan, owners)
    app_needs = _app_needs(distributions)
    dist_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    with tempfile.TemporaryDirectory(prefix="onebin-build-") as temporary:
        work = Path(temporary)
        packages = work / "packages"
        stage_packages(packages, plan)
        if EXECUTABLE in targets:
            target = dist_dir / plan.name
            files = build_executable(
                name=plan.name,
                packages=packages,
                package_names=plan.packages,
                distributions=distributions,
                excluded=excluded_modules(app_needs),
                target=target,
                work=work / EXECUTABLE,
                epoch=epoch,
                environ=environ,
            )
            artifacts.append(_artifact(EXECUTABLE, target, files, plan, owners))
        if ZIPAPP in targets:
            target = dist_dir / f"{plan.name}.pyz"
            files = build_zipapp(
                packages=packages,
                distributions=distributions,
                excluded=excluded_distributions(app_needs),
                target=target,
                work=work / ZIPAPP,
                epoch=epoch,
                environ=environ,
            )
            artifacts.append(_artifact(ZIPAPP, target, files, plan, owners))
    return artifacts


def _distributions(plan: Plan, owners: Mapping[str, str]) -> list[str]:
    """The installed distributions the staged packages come from; an app may have none."""
    return list(dict.fromkeys(owners[package] for package in plan.packages if package in owners))


def _app_needs(distributions: Collection[str]) -> list[str]:
    """What the app's distribution needs at run time besides onebin (and onebin's needs).

    Packed even where onebin's trimming would leave it out: the trim table says
    what onebin never runs, not what the app does.
    """
    app = [distribution for distribution in distributions if normalize(distribution) != ONEBIN]
    return dependencies(app, installed_requires, [ONEBIN])


def _artifact(
    kind: str, target: Path, files: list[PackedFile], plan: Plan, owners: Mapping[str, str]
) -> Artifact:
    report = size_report(
        files,
        owners,
        app_code=plan.app_code,
        static=plan.static,
        artifact_size=target.stat().st_size,
    )
    return Artifact(kind, target, report)
