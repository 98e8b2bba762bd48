from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from onebin.build.zipapp import _keep, stage


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("starlette/routing.py", True),
        ("uvloop/loop.cpython-311-x86_64-linux-gnu.so", True),
        ("starlette-1.10.0.dist-info/METADATA", True),
        ("starlette/__pycache__/routing.cpython-311.pyc", False),
        ("six.pyc", False),
        ("../../../bin/uvicorn", False),
        ("__editable__.onebin-0.1.0.pth", False),
        ("starlette-1.10.0.dist-info/RECORD", False),
        ("onebin-0.1.0.dist-info/direct_url.json", False),
    ],
)
def test_keep_drops_caches_scripts_and_installation_records(path, kept):
    assert _keep(PurePosixPath(path)) is kept


def test_stage_copies_the_app_and_its_runtime_closure_only(tmp_path: Path):
    site = tmp_path / "site-packages"
    stage(site, "onebin", "onebin")
    top = {path.name for path in site.iterdir()}
    assert {"onebin", "starlette", "uvicorn", "cryptography", "acme", "msgspec"} <= top
    assert "onebin-0.1.0.dist-info" in top or any(n.startswith("onebin-") for n in top)
    assert (site / "onebin" / "items" / "web" / "index.html").is_file()
    assert not top & {
        "pytest",
        "_pytest",
        "hypothesis",
        "playwright",
        "schemathesis",
        "PyInstaller",
    }
    assert not top & {"shiv", "watchfiles", "websockets", "yaml", "dotenv"}
    assert not [p for p in site.rglob("*") if "__pycache__" in p.parts or p.name.endswith(".pth")]
