"""The raw ASGI handler serving the asset index.

No framework on this path: it runs for every asset and page load, and the index
has already prepared each response, so a request costs a path check, one header
scan, a cached negotiation and two ``send`` calls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from onebin.assets.index import Asset, Headers, Variant, package_index
from onebin.assets.negotiation import IDENTITY, choose_encoding
from onebin.assets.paths import asset_path, is_navigation
from onebin.etags import none_match
from onebin.types import Receive, Scope, Send

logger = logging.getLogger("onebin.assets")

SHELL = "/index.html"
IMMUTABLE_PREFIXES = ("/_app/immutable/",)
EXCLUDED_PREFIXES = ("/api/",)

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


class AssetsApp:
    """Serve built files from memory, with the app shell for page navigations."""

    def __init__(
        self,
        assets: Mapping[str, Asset],
        *,
        shell: str = SHELL,
        excluded_prefixes: Sequence[str] = EXCLUDED_PREFIXES,
    ) -> None:
        self.assets = assets
        self.shell = assets.get(shell)
        self.excluded_prefixes = tuple(excluded_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await _respond(send, 405, _NOT_ALLOWED, b"" if method == "HEAD" else _NOT_ALLOWED_BODY)
            return
        asset = self.lookup(method, scope["path"], scope.get("raw_path"))
        if asset is None:
            await _respond(send, 404, _NOT_FOUND, b"" if method == "HEAD" else _NOT_FOUND_BODY)
            return
        accept_encoding, if_none_match = _request_headers(scope["headers"])
        variant = select_variant(asset, accept_encoding)
        if if_none_match is not None and none_match(if_none_match, variant.etag):
            await _respond(send, 304, variant.not_modified_headers, b"")
        else:
            await _respond(send, 200, variant.headers, b"" if method == "HEAD" else variant.body)

    def lookup(self, method: str, path: str, raw_path: bytes | None) -> Asset | None:
        key = asset_path(path, raw_path)
        if key is None:
            return None
        asset = self.assets.get(key)
        if asset is None and is_navigation(method, key, self.excluded_prefixes):
            return self.shell
        return asset


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


def assets_app(package: str | None) -> AssetsApp | None:
    """The handler for a package's built frontend, or None (with a warning) if unbuilt."""
    if package is None:
        return None
    assets = package_index(package, immutable_prefixes=IMMUTABLE_PREFIXES)
    if not assets:
        logger.warning("no built frontend in package %s; serving the API only", package)
        return None
    if SHELL not in assets:
        logger.warning("package %s has no %s; page navigations will get 404", package, SHELL)
    logger.info("serving %d frontend files from package %s", len(assets), package)
    return AssetsApp(assets)
