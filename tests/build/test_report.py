from __future__ import annotations

from onebin.build.report import (
    APP,
    ASSETS,
    RUNTIME,
    PackedFile,
    component_of,
    format_report,
    size_report,
)

OWNERS = {"cryptography": "cryptography", "yaml": "PyYAML", "_cffi_backend": "cffi"}
PREFIX = "onebin/items/web/"


def classify(path: str) -> str:
    return component_of(path, OWNERS, app_package="onebin", assets_prefix=PREFIX)


def test_component_of_names_the_owning_distribution():
    assert classify("cryptography/hazmat/bindings/_rust.abi3.so") == "cryptography"
    assert classify("yaml/__init__.pyc") == "pyyaml"
    assert classify("_cffi_backend.cpython-311-x86_64-linux-gnu.so") == "cffi"


def test_component_of_reads_dist_info_directories():
    assert classify("cryptography-50.0.2.dist-info/METADATA") == "cryptography"
    assert classify("PyYAML-6.0.4.dist-info/RECORD") == "pyyaml"
    assert classify("onebin-0.1.0.dist-info/METADATA") == APP


def test_component_of_puts_frontend_files_before_app_code():
    assert classify("onebin/items/web/_app/immutable/entry/app.js.br") == ASSETS
    assert classify("onebin/items/api.pyc") == APP
    assert classify("onebin/__init__.py") == APP


def test_component_of_leaves_unowned_files_to_the_runtime():
    assert classify("libpython3.11.so.1.0") == RUNTIME
    assert classify("asyncio/base_events.pyc") == RUNTIME
    assert classify("onebin") == APP  # the bootloader is named after the app package
    assert component_of("onebin", {}, app_package="app", assets_prefix=None) == RUNTIME


def test_size_report_sums_components_largest_first():
    files = [
        PackedFile("cryptography/a.so", 900, 300),
        PackedFile("cryptography/b.pyc", 100, 50),
        PackedFile("libpython3.11.so.1.0", 500, 200),
        PackedFile("onebin/cli.pyc", 40, 20),
        PackedFile("onebin/items/web/index.html", 30, 10),
    ]
    report = size_report(
        files, OWNERS, app_package="onebin", assets_prefix=PREFIX, artifact_size=600
    )
    rows = [(c.name, c.files, c.size, c.compressed) for c in report.components]
    assert rows == [
        ("cryptography", 2, 1000, 350),
        (RUNTIME, 1, 500, 200),
        (APP, 1, 40, 20),
        (ASSETS, 1, 30, 10),
    ]
    assert (report.size, report.compressed, report.artifact_size) == (1570, 580, 600)


def test_size_report_always_shows_runtime_app_and_assets_lines():
    report = size_report([], OWNERS, app_package="onebin", assets_prefix=PREFIX, artifact_size=0)
    assert {c.name for c in report.components} == {RUNTIME, APP, ASSETS}
    no_assets = size_report([], OWNERS, app_package="onebin", assets_prefix=None, artifact_size=0)
    assert ASSETS not in {c.name for c in no_assets.components}


def test_format_report_has_a_line_per_component_and_the_totals():
    files = [PackedFile("cryptography/a.so", 2_500_000, 1_000_000)]
    report = size_report(
        files, OWNERS, app_package="onebin", assets_prefix=None, artifact_size=1_200_000
    )
    text = format_report("dist/onebin (exe)", report)
    lines = text.splitlines()
    assert lines[0] == "dist/onebin (exe)"
    assert any(line.split()[:4] == ["cryptography", "1", "2.50", "MB"] for line in lines)
    assert lines[-2].split()[:2] == ["total", "1"]
    assert lines[-1].split()[-2:] == ["1.20", "MB"]
