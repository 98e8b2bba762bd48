"""``onebin build``: both artifacts and their size reports, from the installed app.

The build packs what is installed in the running virtualenv (the pinned versions
the tests ran against) plus the app package as it is on disk, frontend included.
Each artifact is written next to its final name and renamed into place, so a
failed build never leaves a half-written file where a working one was.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from onebin.app import AppSpec
from onebin.build import EXECUTABLE, TARGETS, ZIPAPP
from onebin.build.archive import source_date_epoch
from onebin.build.executable import build_executable
from onebin.build.report import PackedFile, SizeReport, size_report
from onebin.build.zipapp import build_zipapp
from onebin.errors import BuildError

NAME = "onebin"
PACKAGE = "onebin"
DISTRIBUTION = "onebin"
ENTRY_POINT = "onebin.cli:main"


@dataclass(frozen=True)
class Artifact:
    kind: str
    path: Path
    report: SizeReport


def build(
    spec: AppSpec,
    dist_dir: Path,
    *,
    targets: Collection[str] = TARGETS,
    environ: Mapping[str, str],
) -> list[Artifact]:
    """Build ``targets`` into ``dist_dir`` (``onebin`` and ``onebin.pyz``)."""
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise BuildError(f"unknown build targets: {', '.join(sorted(unknown))}")
    epoch = source_date_epoch(environ)
    dist_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    if EXECUTABLE in targets:
        target = dist_dir / NAME
        with tempfile.TemporaryDirectory(prefix="onebin-build-") as work:
            files = build_executable(
                name=NAME,
                entry_script=Path(__file__).resolve().parent.parent / "__main__.py",
                app_package=PACKAGE,
                distribution=DISTRIBUTION,
                target=target,
                work=Path(work),
                epoch=epoch,
                environ=environ,
            )
        artifacts.append(_artifact(EXECUTABLE, target, files, spec))
    if ZIPAPP in targets:
        target = dist_dir / f"{NAME}.pyz"
        with tempfile.TemporaryDirectory(prefix="onebin-build-") as work:
            files = build_zipapp(
                distribution=DISTRIBUTION,
                package=PACKAGE,
                entry_point=ENTRY_POINT,
                target=target,
                work=Path(work),
                epoch=epoch,
                environ=environ,
            )
        artifacts.append(_artifact(ZIPAPP, target, files, spec))
    return artifacts


def _artifact(kind: str, target: Path, files: list[PackedFile], spec: AppSpec) -> Artifact:
    owners = {module: names[0] for module, names in metadata.packages_distributions().items()}
    assets_prefix = spec.assets_package.replace(".", "/") + "/" if spec.assets_package else None
    report = size_report(
        files,
        owners,
        app_package=PACKAGE,
        assets_prefix=assets_prefix,
        artifact_size=target.stat().st_size,
    )
    return Artifact(kind, target, report)
