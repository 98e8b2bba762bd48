from __future__ import annotations

from pathlib import Path

import pytest

from onebin.build.plan import plan_build
from onebin.build.stage import stage_packages
from onebin.build.trim import excluded_distributions
from onebin.build.zipapp import stage
from tests.build.tiny import NAME, REFERENCE, write_tiny_app

DEV_AND_TRIMMED = {
    "pytest",
    "_pytest",
    "hypothesis",
    "playwright",
    "schemathesis",
    "PyInstaller",
    "shiv",
    "watchfiles",
    "websockets",
    "yaml",
    "dotenv",
    "brotli",
    "_brotli",
}


def test_stage_adds_the_runtime_closure_and_metadata_to_the_staged_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.syspath_prepend(str(write_tiny_app(tmp_path / "src")))
    packages = tmp_path / "packages"
    stage_packages(packages, plan_build(REFERENCE, name=NAME, static="tinyapp.static"))
    site = tmp_path / "site-packages"
    # The tiny app has no distribution of its own: onebin's closure, trimmed.
    stage(site, packages, ["onebin"], excluded_distributions())
    top = {path.name.split(".", 1)[0] for path in site.iterdir()}
    assert {"onebin", "tinyapp", "starlette", "uvicorn", "cryptography", "acme", "msgspec"} <= top
    assert (site / "tinyapp" / "static" / "index.html.br").is_file()
    assert not (site / "onebin" / "items").exists()
    (info,) = site.glob("onebin-*.dist-info")
    assert (info / "METADATA").is_file()
    assert (info / "entry_points.txt").is_file()
    assert not (info / "RECORD").exists()
    assert not (info / "direct_url.json").exists()
    assert not top & DEV_AND_TRIMMED
    assert not [p for p in site.rglob("*") if "__pycache__" in p.parts or p.name.endswith(".pth")]
