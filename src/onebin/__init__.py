"""onebin: a whole web service in one executable file.

The names below are onebin's public library API, described in docs/library.md;
every other module and name inside onebin is private and may change. They are
imported on first use (PEP 562), so ``onebin --version`` or a ``token`` command
does not pay for the web stack.
"""

from __future__ import annotations

import importlib
from typing import Any

# The one place the version is written; pyproject.toml reads it from here. A
# literal, not importlib.metadata: that import alone cost ~60 ms of every start.
__version__ = "0.1.0"

_PUBLIC = {
    # the application and what it is handed
    "App": "onebin.app",
    "Context": "onebin.app",
    "Settings": "onebin.config",
    "Database": "onebin.store",
    "Migration": "onebin.store",
    "TokenRecord": "onebin.store",
    # changes as events, streamed live
    "Events": "onebin.events",
    "Event": "onebin.events",
    # background jobs
    "Job": "onebin.jobs.queue",
    "Periodic": "onebin.jobs.schedule",
    # static files and their headers
    "Static": "onebin.assets",
    "SecurityHeaders": "onebin.assets",
    "content_hashed": "onebin.assets",
    # JSON over HTTP
    "ApiError": "onebin.http",
    "ErrorBody": "onebin.http",
    "BodyLimits": "onebin.http",
    "JsonResponse": "onebin.http",
    "not_modified": "onebin.http",
    "read_json": "onebin.http",
    "resource": "onebin.http",
    "none_match": "onebin.etags",
    "strong_tags": "onebin.etags",
    # search by meaning
    "Semantic": "onebin.semantic.collection",
    "SemanticMatch": "onebin.semantic.search",
    "SemanticSearch": "onebin.semantic.search",
    "embed": "onebin.semantic.model",
    "fuse": "onebin.semantic.fusion",
    # full-text search input
    "SearchTextError": "onebin.store.fulltext",
    "match_expression": "onebin.store.fulltext",
    "search_terms": "onebin.store.fulltext",
    # the command line, for an app's own entry point
    "main": "onebin.cli",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'onebin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
