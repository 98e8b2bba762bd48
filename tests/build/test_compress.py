from __future__ import annotations

import gzip
from pathlib import Path

import brotli

from onebin.build.compress import precompress, to_compress, variants

TEXT = b"<p>the same words, again and again</p>\n" * 50


def test_to_compress_picks_files_without_variants_only():
    paths = [
        "__init__.py",
        "index.html",
        "app.js",
        "app.js.br",
        "app.js.gz",
        "style.css",
        "style.css.br",  # the frontend build chose no .gz: its choice stands
        "logo.png",
        "font.WOFF2",
        "archive.gz",
        ".gitignore",
        "deep/page.html",
        "deep/__pycache__/x.cpython-311.pyc",
        "deep/__init__.py",
    ]
    assert to_compress(paths) == ["deep/page.html", "index.html"]


def test_variants_keeps_only_encodings_smaller_than_the_file():
    found = variants(TEXT)
    assert set(found) == {".br", ".gz"}
    assert brotli.decompress(found[".br"]) == TEXT
    assert gzip.decompress(found[".gz"]) == TEXT
    assert len(found[".br"]) < len(found[".gz"]) < len(TEXT)
    assert variants(b"") == {}
    assert variants(b"x") == {}


def test_variants_are_the_same_bytes_every_time():
    first, second = variants(TEXT), variants(TEXT)
    assert first == second
    assert first[".gz"][4:8] == bytes(4)  # no modification time in the gzip header


def test_precompress_writes_beside_the_files_and_leaves_existing_variants(tmp_path: Path):
    (tmp_path / "deep").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "index.html").write_bytes(TEXT)
    (tmp_path / "deep" / "app.js").write_bytes(TEXT)
    (tmp_path / "built.js").write_bytes(TEXT)
    (tmp_path / "built.js.br").write_bytes(b"made by the frontend build")
    (tmp_path / "tiny.txt").write_bytes(b"ok")
    written = precompress(tmp_path)
    assert written == ["deep/app.js.br", "deep/app.js.gz", "index.html.br", "index.html.gz"]
    assert brotli.decompress((tmp_path / "index.html.br").read_bytes()) == TEXT
    assert gzip.decompress((tmp_path / "deep" / "app.js.gz").read_bytes()) == TEXT
    assert (tmp_path / "built.js.br").read_bytes() == b"made by the frontend build"
    assert not (tmp_path / "built.js.gz").exists()
    assert not (tmp_path / "tiny.txt.br").exists()
    assert precompress(tmp_path) == []  # a second run finds nothing left to do
