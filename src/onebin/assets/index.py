"""The asset index: every built file, its stored variants and their prebuilt headers.

Built once at start-up from a package's files through ``importlib.resources``, so it
reads the same whether the package is a directory, a zip or inside a frozen binary.
All bytes are held in memory and every response header list is prepared here, so
serving a request is a dict lookup and two ``send`` calls. Compressed variants are
the build's ``.br``/``.gz`` siblings; a file without them is served as it is.

What is read is decided by the names and links alone, never by how the package is
packed, so ``onebin serve``, the zipapp and the executable serve the same files:
the package's Python code (which PyInstaller keeps in its archive rather than on
disk) and hidden files are never part of the site, and symbolic links are never
followed (one inside a package could publish ``/etc``).
"""

from __future__ import annotations

import logging
import mimetypes
import stat
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from onebin.assets.caching import cache_control, strong_etag
from onebin.assets.negotiation import IDENTITY
from onebin.assets.shell import SecurityHeaders

Headers = list[tuple[bytes, bytes]]

logger = logging.getLogger("onebin.assets")

SUFFIXES = {"br": ".br", "gzip": ".gz"}
# Python's own files: source, stubs, byte code and extension modules. They make the
# directory a package (``__init__.py``) or are code beside the site, never the site;
# spelled out rather than read from ``importlib.machinery`` so the answer is the
# same on every platform.
PYTHON_SUFFIXES = (".py", ".pyw", ".pyi", ".pyc", ".pyo", ".pyd", ".so")
# The byte-code cache directory, whatever it holds.
PYTHON_DIRECTORIES = frozenset({"__pycache__"})
# The platform's mime.types differs between machines; these answers must not.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
}
_BUILTIN_TYPES = mimetypes.MimeTypes()


@dataclass(frozen=True, slots=True)
class Variant:
    """One stored encoding of an asset with its complete response headers."""

    encoding: str
    body: bytes
    etag: str
    headers: Headers
    not_modified_headers: Headers


@dataclass(frozen=True, slots=True)
class Asset:
    path: str
    variants: Mapping[str, Variant]
    encodings: tuple[str, ...]

    @property
    def negotiable(self) -> bool:
        return len(self.encodings) > 1


def media_type(path: str) -> str:
    suffix = "." + path.rpartition(".")[2].lower() if "." in path else ""
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    guessed, _ = _BUILTIN_TYPES.guess_type(path, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


def response_headers(
    *,
    content_type: str,
    encoding: str,
    length: int,
    etag: str,
    cache: str,
    negotiable: bool,
    extra: Mapping[str, str],
) -> tuple[Headers, Headers]:
    """Headers for a 200 and for a 304 of one variant (RFC 9110 §15.4.5 lists the latter)."""
    validators = [("etag", etag), ("cache-control", cache)]
    if negotiable:
        validators.append(("vary", "accept-encoding"))
    full = [
        ("content-type", content_type),
        ("content-length", str(length)),
        *validators,
        ("x-content-type-options", "nosniff"),
        *extra.items(),
    ]
    if encoding != IDENTITY:
        full.append(("content-encoding", encoding))
    return _encode(full), _encode(validators)


def _encode(headers: list[tuple[str, str]]) -> Headers:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def published_directory(name: str) -> bool:
    """Whether a directory of the package may hold site files: not hidden, not a cache.

    Hidden directories (``.git``, ``.svelte-kit``) hold a project's workings, not
    its site.
    """
    return not name.startswith(".") and name not in PYTHON_DIRECTORIES


def published_file(name: str) -> bool:
    """Whether a file of the package is part of the site by its name.

    Hidden files (``.env``, ``.DS_Store``) and Python files are not, nor are the
    ``.br``/``.gz`` variants of either: ``helper.py.gz`` is the source still.
    """
    if name.startswith("."):
        return False
    lowered = name.lower()
    for suffix in SUFFIXES.values():
        if lowered.endswith(suffix):
            lowered = lowered.removesuffix(suffix)
            break
    return not lowered.endswith(PYTHON_SUFFIXES)


def is_symlink(entry: Traversable) -> bool:
    """Whether a package entry is a symbolic link, for the two Traversables a package gives.

    A package directory gives ``pathlib.Path`` (PyInstaller's reader too), a zip
    gives ``zipfile.Path``, whose links are entries with the link mode in their
    Unix attributes (``zip --symlinks``). Others (a namespace package's
    ``MultiplexedPath``) are made of those two below their root.
    """
    if isinstance(entry, Path):
        return entry.is_symlink()
    if isinstance(entry, zipfile.Path):
        try:
            info = entry.root.getinfo(entry.at)
        except KeyError:  # a directory the archive only implies
            return False
        return stat.S_ISLNK(info.external_attr >> 16)
    return False


def walk(
    root: Traversable, prefix: str = "", links: list[str] | None = None
) -> Iterator[tuple[str, Traversable]]:
    """(URL path, file) for every published file below ``root``, in a stable order.

    Symbolic links, to files or directories, are left out and their paths appended
    to ``links``: following them would serve whatever they point at.
    """
    for entry in sorted(root.iterdir(), key=lambda entry: entry.name):
        path = f"{prefix}/{entry.name}"
        if entry.name.startswith("."):
            continue
        if is_symlink(entry):
            if links is not None:
                links.append(path)
        elif entry.is_dir():
            if published_directory(entry.name):
                yield from walk(entry, path, links)
        elif entry.is_file() and published_file(entry.name):
            yield path, entry


Immutable = Callable[[str], bool]


def build_index(
    root: Traversable, *, immutable: Immutable, headers: SecurityHeaders
) -> dict[str, Asset]:
    """Map each URL path to its asset; ``x.js.br`` is a variant of ``x.js`` when both exist.

    ``immutable`` says which paths are content-hashed; ``headers`` are added to HTML.
    """
    links: list[str] = []
    files = {path: entry.read_bytes() for path, entry in walk(root, links=links)}
    if links:
        logger.warning(
            "not serving %d symbolic link(s) in %s, links are never followed: %s",
            len(links),
            root,
            ", ".join(links),
        )
    compressed = {path + suffix for path in files for suffix in SUFFIXES.values()}
    index = {}
    for path, body in files.items():
        if path in compressed:
            continue
        stored = {IDENTITY: body}
        for encoding, suffix in SUFFIXES.items():
            if path + suffix in files:
                stored[encoding] = files[path + suffix]
        index[path] = _asset(path, stored, immutable, headers)
    return index


def _asset(
    path: str, stored: dict[str, bytes], immutable: Immutable, headers: SecurityHeaders
) -> Asset:
    content_type = media_type(path)
    extra = headers.for_page(stored[IDENTITY]) if content_type.startswith("text/html") else {}
    cache = cache_control(immutable(path))
    variants = {}
    for encoding, body in stored.items():
        etag = strong_etag(body)
        headers, not_modified = response_headers(
            content_type=content_type,
            encoding=encoding,
            length=len(body),
            etag=etag,
            cache=cache,
            negotiable=len(stored) > 1,
            extra=extra,
        )
        variants[encoding] = Variant(encoding, body, etag, headers, not_modified)
    return Asset(path, variants, tuple(stored))


def package_index(
    package: str, *, immutable: Immutable, headers: SecurityHeaders
) -> dict[str, Asset]:
    """The index of a package's files; empty when the package is absent (not built)."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        return {}
    return build_index(root, immutable=immutable, headers=headers)
