"""The wheel of onebin (``make wheel``): built from a copy of the source, installed
without network into a throwaway directory, and run from there.

The installed copy runs under ``python -S`` with only that directory and the
virtualenv's site-packages on its path: ``-S`` skips ``.pth`` files, so the
editable onebin of this checkout cannot be what answers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from onebin import __version__
from tests.build.running import serve_any_port
from tests.support import expected_version

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "src" / "onebin" / "items" / "web"
# The same command as the Makefile's wheel target.
PIP = ["-m", "pip", "--quiet", "--disable-pip-version-check"]
PIP_WHEEL = [*PIP, "wheel", "--no-deps", "--no-build-isolation"]
# --no-index: nothing is downloaded; --no-deps: the dependencies are the virtualenv's.
PIP_INSTALL = [*PIP, "install", "--no-deps", "--no-index"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy, so setuptools' build/ and egg-info never touch the checkout."""
    if not (WEB / "index.html").is_file():
        pytest.fail("the frontend is not built into the package: run `make frontend`")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src" / "onebin",
        source / "src" / "onebin",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    out = source / "dist"
    subprocess.run([sys.executable, *PIP_WHEEL, "-w", str(out), str(source)], check=True)
    (built,) = out.iterdir()
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, *PIP_INSTALL, "--target", str(target), str(wheel)], check=True)
    return target


def isolated_env(installed: Path) -> dict[str, str]:
    """Only the installed wheel and the virtualenv's dependencies on the path."""
    site_packages = sysconfig.get_paths()["purelib"]
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{installed}:{site_packages}",
    }


def test_wheel_is_named_for_this_version_and_carries_the_frontend(wheel: Path):
    assert wheel.name == f"onebin-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "onebin/items/web/index.html" in names
    assert "onebin/items/web/index.html.br" in names
    assert "onebin/cli.py" in names
    assert not [name for name in names if "__pycache__" in name]


def test_wheel_installed_elsewhere_runs_from_there(installed: Path, tmp_path: Path):
    env = isolated_env(installed)
    where = subprocess.run(
        [sys.executable, "-S", "-c", "import onebin; print(onebin.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert Path(where.stdout.strip()) == installed / "onebin" / "__init__.py"
    version = subprocess.run(
        [sys.executable, "-S", "-m", "onebin", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert version.stdout == expected_version(sys.executable, "items", __version__) + "\n"


def test_wheel_installed_elsewhere_serves_its_frontend(installed: Path, tmp_path: Path):
    page = (installed / "onebin" / "items" / "web" / "index.html").read_bytes()
    command = [sys.executable, "-S", "-m", "onebin"]
    env = isolated_env(installed)
    with serve_any_port(command, data_dir=tmp_path / "data", cwd=tmp_path, env=env) as url:
        response = httpx.get(url + "/", headers={"accept-encoding": "identity"}, timeout=10)
    assert response.status_code == 200
    assert response.content == page
