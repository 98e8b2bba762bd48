"""Which asset a request path names, and when the app shell answers instead."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

# Encoded "/", "\" and NUL would let one path name another once decoded; a real
# link to a built file never contains them, so they are refused outright.
_FORBIDDEN_ESCAPES = (b"%2f", b"%5c", b"%00")


def asset_path(path: str, raw_path: bytes | None = None) -> str | None:
    """The index key for a request path, or None when the path is not one we serve.

    ``raw_path`` is the undecoded target ASGI servers pass along; only it can tell
    an encoded slash from a real one. Segments starting with a dot are refused:
    that rules out ``.`` and ``..`` (in any encoding, since we check after
    decoding) and keeps hidden files such as ``.DS_Store`` out of reach.
    """
    if raw_path is not None and b"%" in raw_path:
        lowered = raw_path.lower()
        if any(escape in lowered for escape in _FORBIDDEN_ESCAPES):
            return None
        try:
            path = unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not path.startswith("/") or "\x00" in path or "\\" in path or "/." in path:
        return None
    return path


def is_navigation(method: str, path: str) -> bool:
    """Whether a miss should get a page (the app shell, or a not-found page) over a 404.

    Only page loads qualify: GET or HEAD and a last segment without an extension, so
    a missing ``/_app/x.js`` stays a 404 instead of HTML the browser would try to
    run. Paths the application's routes claim never reach the assets at all.
    """
    return method in ("GET", "HEAD") and "." not in path.rpartition("/")[2]
