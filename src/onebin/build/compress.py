"""Precompressed ``.br`` and ``.gz`` variants of an app's static files, made at build time.

The asset server never compresses per request: it serves a file's ``.br``/``.gz``
sibling to a client that accepts it. A frontend build may have written those
already (SvelteKit's ``precompress``), and its choice stands; for every other file
the packer writes them into the staged copy of the static package, so the source
tree is never touched. A variant is kept only if it is smaller than the file, and
formats that are compressed already are not tried (brotli at its best quality
spends about a second per megabyte to gain nothing on them). gzip is written with
no name and mtime 0, and brotli's output depends only on its input, so two builds
of the same files give the same bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Collection
from pathlib import Path, PurePosixPath

import brotli

from onebin.assets.index import SUFFIXES, published_directory, published_file

BROTLI = SUFFIXES["br"]
GZIP = SUFFIXES["gzip"]
# Formats whose bytes are compressed already.
COMPRESSED_FORMATS = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".woff", ".woff2", ".zip"}
    | {".mp3", ".mp4", ".webm", ".ogg", ".br", ".gz", ".zst"}
)


def to_compress(paths: Collection[str]) -> list[str]:
    """Which of a static package's files (``/``-separated, relative) get variants, sorted.

    Left alone: files that have a variant already, the variants themselves,
    formats compressed already, and the files the server never serves (Python
    code, hidden files), whose variants would only be dead weight in the artifacts.
    """
    present = set(paths)
    chosen = []
    for path in sorted(present):
        *directories, name = PurePosixPath(path).parts
        if not (all(map(published_directory, directories)) and published_file(name)):
            continue
        if PurePosixPath(path).suffix.lower() in COMPRESSED_FORMATS:
            continue
        if any(path + suffix in present for suffix in SUFFIXES.values()):
            continue
        chosen.append(path)
    return chosen


def variants(data: bytes) -> dict[str, bytes]:
    """The ``.br`` and ``.gz`` encodings of ``data`` that are smaller than it, by suffix."""
    encoded = {
        BROTLI: brotli.compress(data, quality=11),
        GZIP: gzip.compress(data, compresslevel=9, mtime=0),
    }
    return {suffix: body for suffix, body in encoded.items() if len(body) < len(data)}


def precompress(root: Path) -> list[str]:
    """Write the variants of the files under ``root`` that need them; the paths written."""
    files = [path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()]
    written = []
    for relative in to_compress(files):
        for suffix, body in variants((root / relative).read_bytes()).items():
            (root / (relative + suffix)).write_bytes(body)
            written.append(relative + suffix)
    return written
