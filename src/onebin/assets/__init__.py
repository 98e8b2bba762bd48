"""Embedded frontend assets: an in-memory index of a package's built files and the
raw ASGI handler that serves them with precompression, caching and SPA fallback."""

from __future__ import annotations

from onebin.assets.handler import AssetsApp, assets_app

__all__ = ["AssetsApp", "assets_app"]
