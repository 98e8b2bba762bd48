"""The raw ASGI handler serving the asset index, and ``Static``, which configures it.

No framework on this path: it runs for every asset and page load, and the index
has already prepared each response, so a request costs a path check, one header
scan, a cached negotiation and two ``send`` calls.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from onebin.assets.caching import content_hashed
from onebin.assets.index import Asset, Headers, Immutable, Variant, package_index
from onebin.assets.negotiation import IDENTITY, choose_encoding
from onebin.assets.paths import asset_path, is_navigation
from onebin.assets.shell import SecurityHeaders
from onebin.errors import AppError
from onebin.etags import none_match
from onebin.types import Receive, Scope, Send

logger = logging.getLogger("onebin.assets")

# JSON like every other onebin error, so clients need one error parser.
_NOT_FOUND_BODY = b'{"error":{"code":"not_found","message":"no such file"}}'
_NOT_ALLOWED_BODY = b'{"error":{"code":"method_not_allowed","message":"use GET or HEAD"}}'
_JSON_ERROR = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
]
_NOT_FOUND = [*_JSON_ERROR, (b"content-length", str(len(_NOT_FOUND_BODY)).encode())]
_NOT_ALLOWED = [
    *_JSON_ERROR,
    (b"content-length", str(len(_NOT_ALLOWED_BODY)).encode()),
    (b"allow", b"GET, HEAD"),
]


@dataclass(frozen=True)
class Static:
    """An application's static files: a package directory served from memory.

    ``package`` is a dotted package name whose directory holds the built site (it
    needs an ``__init__.py``, so it is found inside a zip or a frozen binary too).
    ``/`` and every path ending in ``/`` serve that directory's ``index.html``.

    ``spa_fallback``: a page load of a path that names no file gets ``shell`` with
    200, for a single-page app whose router draws the page. Off, it gets
    ``not_found_page`` with 404 when the site has one, else a JSON 404. A request for
    a missing file with an extension (``/x.js``) is a 404 either way.

    ``immutable`` says which URL paths are content-hashed (cached for a year);
    ``content_hashed`` knows SvelteKit's and Vite's names. Everything else is
    revalidated on each use.
    """

    package: str
    spa_fallback: bool = False
    shell: str = "/index.html"
    not_found_page: str = "/404.html"
    immutable: Immutable = content_hashed


class AssetsApp:
    """Serve built files from memory, with a page for page loads that miss."""

    def __init__(
        self,
        assets: Mapping[str, Asset],
        *,
        shell: str | None = None,
        not_found_page: str | None = None,
    ) -> None:
        self.assets = assets
        self.shell = assets.get(shell) if shell else None
        self.not_found_page = assets.get(not_found_page) if not_found_page else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await _respond(send, 405, _NOT_ALLOWED, b"" if method == "HEAD" else _NOT_ALLOWED_BODY)
            return
        asset, status = self.lookup(method, scope["path"], scope.get("raw_path"))
        if asset is None:
            await _respond(send, 404, _NOT_FOUND, b"" if method == "HEAD" else _NOT_FOUND_BODY)
            return
        accept_encoding, if_none_match = _request_headers(scope["headers"])
        variant = select_variant(asset, accept_encoding)
        if status == 200 and if_none_match is not None and none_match(if_none_match, variant.etag):
            await _respond(send, 304, variant.not_modified_headers, b"")
        else:
            body = b"" if method == "HEAD" else variant.body
            await _respond(send, status, variant.headers, body)

    def lookup(self, method: str, path: str, raw_path: bytes | None) -> tuple[Asset | None, int]:
        """The asset answering a request and its status: a file, an index, the shell."""
        key = asset_path(path, raw_path)
        if key is None:
            return None, 404
        asset = self.assets.get(key + "index.html" if key.endswith("/") else key)
        if asset is not None:
            return asset, 200
        if is_navigation(method, key):
            if self.shell is not None:
                return self.shell, 200
            return self.not_found_page, 404
        return None, 404


def select_variant(asset: Asset, accept_encoding: str | None) -> Variant:
    if not asset.negotiable:
        return asset.variants[IDENTITY]
    return asset.variants[choose_encoding(accept_encoding, asset.encodings)]


def _request_headers(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """``Accept-Encoding`` and ``If-None-Match``, repeated lines joined as RFC 9110 §5.3 says."""
    accept_encoding: str | None = None
    if_none_match: str | None = None
    for name, value in headers:
        if name == b"accept-encoding":
            text = value.decode("latin-1")
            accept_encoding = text if accept_encoding is None else f"{accept_encoding}, {text}"
        elif name == b"if-none-match":
            text = value.decode("latin-1")
            if_none_match = text if if_none_match is None else f"{if_none_match}, {text}"
    return accept_encoding, if_none_match


async def _respond(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def assets_app(static: Static | None, headers: SecurityHeaders) -> AssetsApp | None:
    """The handler for an application's static files; None (with a warning) if empty.

    A package that is not there at all is an ``AppError``: a typo in its name, or a
    frontend not built yet, would otherwise serve an empty site without a word.
    """
    if static is None:
        return None
    try:
        found = importlib.util.find_spec(static.package)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise AppError(
            f"static package {static.package!r} is not importable: a typo in its name, "
            "or its files are not built yet"
        )
    assets = package_index(static.package, immutable=static.immutable, headers=headers)
    if not assets:
        logger.warning("no files in package %s; serving the routes only", static.package)
        return None
    if static.spa_fallback and static.shell not in assets:
        logger.warning(
            "package %s has no %s; page navigations will get 404", static.package, static.shell
        )
    logger.info("serving %d static files from package %s", len(assets), static.package)
    return AssetsApp(
        assets,
        shell=static.shell if static.spa_fallback else None,
        not_found_page=None if static.spa_fallback else static.not_found_page,
    )
