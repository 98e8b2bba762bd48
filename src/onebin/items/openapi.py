"""The OpenAPI 3.1 document for the items API.

Schemas come from the same msgspec structs that validate requests, so what is
documented is what is enforced. The document is built once and cached.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from onebin import ErrorBody, __version__
from onebin.items.listing import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    HYBRID,
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    MODES,
    RANKED_CANDIDATES,
    SEMANTIC,
    SIMILAR_LIMIT,
    SORTS,
    TEXT,
)
from onebin.items.models import Item, ItemCreate, ItemPage, ItemPatch, SimilarItems


def _limit(default: int) -> dict[str, Any]:
    """The ``limit`` query parameter of a list, 1 to ``MAX_LIMIT``."""
    return {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "string"},
        "description": "seconds to wait before trying again (a busy or timed-out query)",
    }
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): _json(_ref("ErrorBody"), "error", _RETRY_AFTER if status == 503 else None)
        for status in statuses
    }


_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "strong entity tag of the item"}}
_CACHE_CONTROL = {
    "Cache-Control": {
        "schema": {"type": "string"},
        "description": "the same on 200 and 304: clients revalidate before reuse",
    }
}
_ITEM_ID = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "ETag the change is based on; a stale one gets 412",
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "ETags the client holds; a match (weak comparison) gets 304",
}
_JSON_BODY = "application/json"


@cache
def openapi_document() -> dict[str, Any]:
    (_, components) = msgspec.json.schema_components(
        [Item, ItemCreate, ItemPatch, ItemPage, SimilarItems, ErrorBody],
        ref_template="#/components/schemas/{name}",
    )
    # An empty patch is refused (it would only bump the version); say so in the schema.
    components["ItemPatch"]["minProperties"] = 1
    write = {"security": [{"bearer": []}]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "onebin items API", "version": __version__},
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/items": {
                "get": {
                    "summary": "List items, newest first by default, with search and cursor paging",
                    "parameters": [
                        _limit(DEFAULT_LIMIT),
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "maxLength": MAX_QUERY_CHARS,
                                "pattern": r"^[^\x00-\x1f\x7f]*$",
                            },
                            "description": "search in name, description and tags, by words "
                            "and meaning (see mode); by words, ignoring case and accents: every "
                            "word must match, words of 2+ characters as prefixes; text without "
                            "words matches nothing; control characters are refused (400)",
                        },
                        {
                            "name": "mode",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(MODES)},
                            "description": f"how a search ranks: {TEXT} (words, full-text "
                            f"relevance), {SEMANTIC} (nearness in meaning, from the embedding "
                            f"model inside onebin), {HYBRID} (both, fused by rank; the default "
                            f"with q and relevance order); another sort filters by words, so "
                            f"it needs {TEXT} (the default then)",
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(SORTS)},
                            "description": f"default {DEFAULT_SORT}, or relevance when q is "
                            f"given (which ranks the newest {RANKED_CANDIDATES} matches); "
                            "relevance needs q",
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "next_cursor of the previous page",
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("ItemPage"), "a page of items"),
                        **_errors(400, 503),
                    },
                },
                "post": {
                    "summary": "Create an item",
                    **write,
                    "requestBody": {
                        "required": True,
                        "content": {_JSON_BODY: {"schema": _ref("ItemCreate")}},
                    },
                    "responses": {
                        "201": _json(
                            _ref("Item"),
                            "created",
                            {**_ETAG, "Location": {"schema": {"type": "string"}}},
                        ),
                        **_errors(400, 401, 413, 415, 422, 429, 503, 507),
                    },
                },
            },
            "/api/token": {
                "get": {
                    "summary": "Whose token this is (check a token before keeping it)",
                    **write,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                                "required": ["name"],
                            },
                            "the token's name",
                        ),
                        **_errors(401, 429, 503),
                    },
                },
            },
            "/api/items/{item_id}/similar": {
                "parameters": [_ITEM_ID],
                "get": {
                    "summary": "The items nearest in meaning to one item, most similar first",
                    "parameters": [_limit(SIMILAR_LIMIT)],
                    "responses": {
                        "200": _json(_ref("SimilarItems"), "similar items, the item left out"),
                        **_errors(400, 404, 503),
                    },
                },
            },
            "/api/items/{item_id}": {
                "parameters": [_ITEM_ID],
                "get": {
                    "summary": "Get one item",
                    "parameters": [_IF_NONE_MATCH],
                    "responses": {
                        "200": _json(_ref("Item"), "the item", {**_ETAG, **_CACHE_CONTROL}),
                        "304": {
                            "description": "not modified (If-None-Match)",
                            "headers": {**_ETAG, **_CACHE_CONTROL},
                        },
                        **_errors(400, 404, 503),
                    },
                },
                "patch": {
                    "summary": "Change some fields of an item",
                    **write,
                    "parameters": [_IF_MATCH],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON_BODY: {"schema": _ref("ItemPatch")}},
                    },
                    "responses": {
                        "200": _json(_ref("Item"), "the changed item", _ETAG),
                        **_errors(400, 401, 404, 412, 413, 415, 422, 429, 503, 507),
                    },
                },
                "delete": {
                    "summary": "Delete an item",
                    **write,
                    "parameters": [_IF_MATCH],
                    "responses": {
                        "204": {"description": "deleted"},
                        **_errors(400, 401, 404, 412, 429, 503, 507),
                    },
                },
            },
        },
    }
