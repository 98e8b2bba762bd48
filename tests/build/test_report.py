from __future__ import annotations

from onebin.build.report import (
    ONEBIN,
    RUNTIME,
    PackedFile,
    app_component,
    component_of,
    format_report,
    size_report,
    static_component,
)

OWNERS = {
    "cryptography": "cryptography",
    "yaml": "PyYAML",
    "_cffi_backend": "cffi",
    "onebin": "onebin",
    "guestbook": "guestbook",
}
APP = app_component("guestbook")
STATIC = static_component("guestbook.static")
ITEMS = app_component("onebin.items")
ITEMS_STATIC = static_component("onebin.items.web")


def classify(path: str) -> str:
    return component_of(path, OWNERS, app_code="guestbook", static="guestbook.static")


def classify_items(path: str) -> str:
    return component_of(path, OWNERS, app_code="onebin.items", static="onebin.items.web")


def test_component_names_say_whose_code_and_files_they_are():
    assert APP == "app code (guestbook)"
    assert STATIC == "static files (guestbook.static)"


def test_component_of_names_the_owning_distribution():
    assert classify("cryptography/hazmat/bindings/_rust.abi3.so") == "cryptography"
    assert classify("yaml/__init__.pyc") == "pyyaml"
    assert classify("_cffi_backend.cpython-311-x86_64-linux-gnu.so") == "cffi"
    assert classify("onebin/cli.pyc") == ONEBIN


def test_component_of_reads_dist_info_directories():
    assert classify("cryptography-50.0.2.dist-info/METADATA") == "cryptography"
    assert classify("PyYAML-6.0.4.dist-info/RECORD") == "pyyaml"
    assert classify("onebin-0.1.0.dist-info/METADATA") == ONEBIN
    assert classify("guestbook-2.0.dist-info/METADATA") == APP


def test_component_of_puts_static_files_before_app_code():
    assert classify("guestbook/static/index.html.br") == STATIC
    assert classify("guestbook/static/__init__.pyc") == STATIC
    assert classify("guestbook/app.pyc") == APP
    assert classify("guestbook/__init__.pyc") == APP
    assert classify("guestbookish/x.pyc") == RUNTIME


def test_component_of_an_app_that_is_one_module_without_a_distribution():
    assert component_of("tiny.pyc", {}, app_code="tiny", static=None) == app_component("tiny")
    assert component_of("tiny.py", {}, app_code="tiny", static=None) == app_component("tiny")


def test_component_of_the_items_app_is_onebins_subpackage():
    assert classify_items("onebin/items/web/_app/immutable/entry/app.js.br") == ITEMS_STATIC
    assert classify_items("onebin/items/api.pyc") == ITEMS
    assert classify_items("onebin/items/__init__.pyc") == ITEMS
    assert classify_items("onebin/__init__.py") == ONEBIN
    assert classify_items("onebin-0.1.0.dist-info/METADATA") == ONEBIN


def test_component_of_leaves_unowned_files_to_the_runtime():
    assert classify("libpython3.11.so.1.0") == RUNTIME
    assert classify("asyncio/base_events.pyc") == RUNTIME
    assert classify("../guestbook") == RUNTIME  # the bootloader, beside the import root
    assert classify("_onebin_main.py") == RUNTIME
    assert classify("_bootstrap/__init__.py") == RUNTIME


def test_size_report_lists_app_static_onebin_then_distributions_then_runtime():
    files = [
        PackedFile("cryptography/a.so", 900, 300),
        PackedFile("cryptography/b.pyc", 100, 50),
        PackedFile("yaml/__init__.pyc", 1200, 400),
        PackedFile("libpython3.11.so.1.0", 5000, 2000),
        PackedFile("onebin/cli.pyc", 40, 20),
        PackedFile("guestbook/app.pyc", 30, 15),
        PackedFile("guestbook/static/index.html", 30, 10),
        PackedFile("guestbook/static/index.html.br", 12, 12),
    ]
    report = size_report(
        files, OWNERS, app_code="guestbook", static="guestbook.static", artifact_size=600
    )
    rows = [(c.name, c.files, c.size, c.compressed) for c in report.components]
    assert rows == [
        (APP, 1, 30, 15),
        (STATIC, 2, 42, 22),
        (ONEBIN, 1, 40, 20),
        ("pyyaml", 1, 1200, 400),
        ("cryptography", 2, 1000, 350),
        (RUNTIME, 1, 5000, 2000),
    ]
    assert (report.size, report.compressed, report.artifact_size) == (7312, 2807, 600)


def test_size_report_always_shows_app_static_onebin_and_runtime_lines():
    report = size_report([], OWNERS, app_code="tiny", static="tiny.static", artifact_size=0)
    names = [c.name for c in report.components]
    assert names == [app_component("tiny"), static_component("tiny.static"), ONEBIN, RUNTIME]
    bare = size_report([], OWNERS, app_code="tiny", static=None, artifact_size=0)
    assert [c.name for c in bare.components] == [app_component("tiny"), ONEBIN, RUNTIME]


def test_format_report_has_a_line_per_component_and_the_totals():
    files = [PackedFile("cryptography/a.so", 2_500_000, 1_000_000)]
    report = size_report(
        files,
        OWNERS,
        app_code="tinyapp",
        static="tinyapp.static",
        artifact_size=1_200_000,
    )
    text = format_report("dist/tiny (exe)", report)
    lines = text.splitlines()
    assert lines[0] == "dist/tiny (exe)"
    assert lines[2].split()[:3] == ["app", "code", "(tinyapp)"]
    assert any(line.split()[:4] == ["cryptography", "1", "2.50", "MB"] for line in lines)
    assert lines[-2].split()[:2] == ["total", "1"]
    assert lines[-1].split()[-2:] == ["1.20", "MB"]
    # The longest component name still leaves the columns aligned.
    assert len({line.index("MB") for line in lines[2:-1]}) == 1
