"""Static files: an in-memory index of a package's built files and the raw ASGI
handler that serves them with precompression, caching and an SPA fallback."""

from __future__ import annotations

from onebin.assets.caching import content_hashed
from onebin.assets.handler import AssetsApp, Static, assets_app
from onebin.assets.shell import SecurityHeaders

__all__ = ["AssetsApp", "SecurityHeaders", "Static", "assets_app", "content_hashed"]
