from __future__ import annotations

import gzip
import logging
import stat
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from onebin.assets import SecurityHeaders, content_hashed
from onebin.assets.caching import IMMUTABLE, REVALIDATE
from onebin.assets.index import build_index, media_type, package_index, published_file
from tests.assets.conftest import JS, JS_BR, PYTHON_FILES, SITE, write_package


def headers_of(variant):
    return {name.decode(): value.decode() for name, value in variant.headers}


def test_build_index_groups_precompressed_siblings_as_variants(site):
    asset = site["/_app/immutable/entry/a1.js"]
    assert asset.encodings == ("identity", "br", "gzip")
    assert asset.variants["br"].body == JS_BR
    assert gzip.decompress(asset.variants["gzip"].body) == JS
    assert "/_app/immutable/entry/a1.js.br" not in site
    assert "/_app/immutable/entry/a1.js.gz" not in site


def test_build_index_keeps_files_without_variants_and_orphan_archives(site):
    assert site["/robots.txt"].encodings == ("identity",)
    assert site["/_app/immutable/chunks/only-gzip.js"].encodings == ("identity", "gzip")
    assert site["/download.tar.gz"].variants["identity"].body == SITE["download.tar.gz"]


def test_build_index_leaves_out_the_package_marker(site):
    assert "/__init__.py" not in site


def test_build_index_gives_each_variant_its_own_strong_etag(site):
    variants = site["/_app/immutable/entry/a1.js"].variants.values()
    etags = {variant.etag for variant in variants}
    assert len(etags) == 3
    assert all(not tag.startswith("W/") for tag in etags)


def test_build_index_prebuilds_complete_headers_per_variant(site):
    br = headers_of(site["/_app/immutable/entry/a1.js"].variants["br"])
    assert br == {
        "content-type": "text/javascript; charset=utf-8",
        "content-length": str(len(JS_BR)),
        "etag": site["/_app/immutable/entry/a1.js"].variants["br"].etag,
        "cache-control": IMMUTABLE,
        "vary": "accept-encoding",
        "x-content-type-options": "nosniff",
        "content-encoding": "br",
    }
    identity = headers_of(site["/_app/immutable/entry/a1.js"].variants["identity"])
    assert "content-encoding" not in identity
    assert identity["content-length"] == str(len(JS))


def test_build_index_sets_vary_only_when_there_is_a_choice(site):
    assert "vary" not in headers_of(site["/robots.txt"].variants["identity"])
    assert headers_of(site["/robots.txt"].variants["identity"])["cache-control"] == REVALIDATE


def test_build_index_adds_policy_headers_to_html_only(site):
    shell = headers_of(site["/index.html"].variants["br"])
    assert "'sha256-" in shell["content-security-policy"]
    assert shell["referrer-policy"]
    assert shell["cache-control"] == REVALIDATE
    assert "content-security-policy" not in headers_of(site["/robots.txt"].variants["identity"])


def test_build_index_not_modified_headers_carry_validators_only(site):
    variant = site["/_app/immutable/entry/a1.js"].variants["gzip"]
    assert dict(variant.not_modified_headers) == {
        b"etag": variant.etag.encode(),
        b"cache-control": IMMUTABLE.encode(),
        b"vary": b"accept-encoding",
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a.js", "text/javascript; charset=utf-8"),
        ("/a.CSS", "text/css; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/_app/version.json", "application/json"),
        ("/icon.svg", "image/svg+xml"),
        ("/photo.png", "image/png"),
        ("/no-extension", "application/octet-stream"),
    ],
)
def test_media_type_is_the_same_on_every_machine(path, expected):
    assert media_type(path) == expected


def test_package_index_reads_a_package_through_importlib_resources(site_package):
    assets = package_index(site_package, immutable=content_hashed, headers=SecurityHeaders())
    assert assets["/_app/immutable/entry/a1.js"].variants["br"].body == JS_BR


def test_package_index_reads_a_package_inside_a_zip(site_package, zipped_site_package):
    assert "site.zip" in str(resources.files(zipped_site_package))
    zipped = package_index(zipped_site_package, immutable=content_hashed, headers=SecurityHeaders())
    unzipped = package_index(site_package, immutable=content_hashed, headers=SecurityHeaders())
    assert zipped == unzipped
    assert zipped["/_app/immutable/entry/a1.js"].variants["br"].body == JS_BR


def test_package_index_is_empty_for_a_missing_package():
    assert (
        package_index("onebin_no_such_package", immutable=content_hashed, headers=SecurityHeaders())
        == {}
    )


def test_build_index_leaves_out_hidden_files(site):
    assert "/.hidden" not in site


def index_of(root: Path) -> dict:
    return build_index(root, immutable=content_hashed, headers=SecurityHeaders())


def test_build_index_never_serves_python_code(site):
    assert not set(PYTHON_FILES) & set(site)
    assert not [path for path in site if "__pycache__" in path]


def test_package_index_never_serves_python_code_from_a_zip(zipped_site_package):
    zipped = package_index(zipped_site_package, immutable=content_hashed, headers=SecurityHeaders())
    assert not set(PYTHON_FILES) & set(zipped)
    assert "/robots.txt" in zipped


def test_package_index_of_a_code_package_is_empty():
    """``Static("json")`` once served the standard library's source at /decoder.py."""
    assert package_index("json", immutable=content_hashed, headers=SecurityHeaders()) == {}


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("app.js", True),
        ("download.tar.gz", True),
        ("python.svg", True),
        ("notes.pyx.txt", True),
        ("helper.py", False),
        ("helper.py.br", False),
        ("helper.py.gz", False),
        ("HELPER.PY", False),
        ("stub.pyi", False),
        ("gui.pyw", False),
        ("mod.pyc", False),
        ("mod.pyo", False),
        ("ext.abi3.so", False),
        ("ext.pyd", False),
        (".env", False),
        (".env.gz", False),
    ],
)
def test_published_file_leaves_out_python_and_hidden_files_and_their_variants(name, published):
    assert published_file(name) is published


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the package, standing in for /etc."""
    directory = tmp_path / "etc"
    directory.mkdir()
    (directory / "passwd").write_bytes(b"root:x:0:0")
    return directory


def test_build_index_never_follows_symlinks_and_warns_once(
    tmp_path: Path, outside: Path, caplog: pytest.LogCaptureFixture
):
    name = write_package(
        tmp_path / "src", {"__init__.py": b"", "robots.txt": b"ok", "a/b.txt": b"b"}
    )
    root = tmp_path / "src" / name
    (root / "etcdir").symlink_to(outside, target_is_directory=True)
    (root / "passwd").symlink_to(outside / "passwd")
    (root / "alias.txt").symlink_to(root / "robots.txt")  # even one inside the package
    (root / "a" / "up").symlink_to(root, target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="onebin.assets"):
        index = index_of(root)
    assert sorted(index) == ["/a/b.txt", "/robots.txt"]
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    for link in ("/etcdir", "/passwd", "/alias.txt", "/a/up"):
        assert link in warning.getMessage()


def test_build_index_without_symlinks_logs_nothing(site_package, caplog):
    with caplog.at_level(logging.WARNING, logger="onebin.assets"):
        package_index(site_package, immutable=content_hashed, headers=SecurityHeaders())
    assert not caplog.records


def test_package_index_never_follows_symlinks_stored_in_a_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """``zip --symlinks`` stores a link as an entry holding its target, marked by its mode."""
    archive = tmp_path / "linked.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("linked_site/__init__.py", b"")
        zipped.writestr("linked_site/robots.txt", b"ok")
        link = zipfile.ZipInfo("linked_site/passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zipped.writestr(link, b"/etc/passwd")
    monkeypatch.syspath_prepend(str(archive))
    with caplog.at_level(logging.WARNING, logger="onebin.assets"):
        index = package_index("linked_site", immutable=content_hashed, headers=SecurityHeaders())
    assert sorted(index) == ["/robots.txt"]
    assert "/passwd" in caplog.text
