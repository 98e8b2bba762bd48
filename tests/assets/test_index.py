from __future__ import annotations

import gzip
from importlib import resources

import pytest

from onebin.assets import SecurityHeaders, content_hashed
from onebin.assets.caching import IMMUTABLE, REVALIDATE
from onebin.assets.index import media_type, package_index
from tests.assets.conftest import JS, JS_BR, SITE


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
