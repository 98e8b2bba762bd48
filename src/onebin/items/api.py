"""The items REST API: thin handlers between HTTP and the ``ItemStore``.

Handlers parse and check input, call the store once, and shape the answer. Every
item response carries a strong ``ETag`` built from the item's id and version, so
``If-Match`` on ``PATCH``/``DELETE`` lets two editors find out about each other
instead of silently overwriting (RFC 9110 §13.1.1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from onebin import (
    ApiError,
    BodyLimits,
    Events,
    JsonResponse,
    TokenRecord,
    none_match,
    not_modified,
    read_json,
    resource,
    strong_tags,
)
from onebin.items.listing import (
    MAX_ITEM_ID,
    ListQueryError,
    parse_list_query,
    parse_similar_query,
)
from onebin.items.models import (
    Item,
    ItemCreate,
    ItemPatch,
    NotFound,
    SimilarItems,
    VersionConflict,
    unprintable_field,
)
from onebin.items.openapi import openapi_document
from onebin.items.repository import ItemStore

T = TypeVar("T")


def item_etag(item_id: int, version: int) -> str:
    return f'"{item_id}-{version}"'


def expected_versions(header: str | None, item_id: int) -> set[int] | None:
    """Versions an ``If-Match`` header accepts; None when it sets no condition.

    ``*`` matches any current version (the item must merely exist). Weak tags and
    tags of other items never match: If-Match uses strong comparison.
    """
    if header is None:
        return None
    tags = strong_tags(header)
    if tags is None:
        return None
    prefix = f'"{item_id}-'
    versions = set()
    for tag in tags:
        digits = tag[len(prefix) : -1]
        # Only the tags onebin writes: no leading zeros, no more digits than a version
        # can have (and no 4,300-digit number for int() to refuse with a 500).
        if tag.startswith(prefix) and tag.endswith('"') and _canonical(digits):
            versions.add(int(digits))
    return versions


def _canonical(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and len(digits) <= 19 and digits[0] != "0"


def require_printable(fields: ItemCreate | ItemPatch) -> None:
    """A 422 for text with control or bidi-override characters (see ``unprintable_field``)."""
    field = unprintable_field(fields)
    if field is not None:
        raise ApiError(
            422,
            "validation_error",
            f"{field} must not contain control characters or bidirectional overrides",
        )


def parse_item_id(request: Request) -> int:
    raw = request.path_params["item_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_ITEM_ID:
        raise ApiError(400, "invalid_id", "item id must be a positive whole number")
    return int(raw)


def item_response(item: Item, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JsonResponse(item, status, {"etag": item_etag(item.id, item.version), **(headers or {})})


TokenCheck = Callable[[Request], Awaitable[TokenRecord]]


class ItemsApi:
    """Routes for ``/api`` bound to one store and one token check."""

    def __init__(
        self,
        items: ItemStore,
        require_token: TokenCheck,
        *,
        body_limits: BodyLimits,
        events: Events,
    ) -> None:
        self.items = items
        self.require_token = require_token
        self.body_limits = body_limits
        self.events = events

    def routes(self) -> list[Mount]:
        """Everything below ``/api``: a path there that no route names is a JSON 404."""
        return [
            Mount(
                "/api",
                routes=[
                    resource("/items", {"GET": self.list_items, "POST": self.create_item}),
                    resource(
                        "/items/{item_id}",
                        {
                            "GET": self.get_item,
                            "PATCH": self.update_item,
                            "DELETE": self.delete_item,
                        },
                    ),
                    resource("/items/{item_id}/similar", {"GET": self.similar_items}),
                    resource("/token", {"GET": self.token}),
                    resource("/events", {"GET": self.subscribe}),
                    resource("/openapi.json", {"GET": self.openapi}),
                ],
            )
        ]

    async def subscribe(self, request: Request) -> Response:
        """Every change to an item, live, as Server-Sent Events (no token: reads are public)."""
        return self.events.stream(request)  # type: ignore[return-value]

    async def list_items(self, request: Request) -> Response:
        try:
            query = parse_list_query(dict(request.query_params))
        except ListQueryError as exc:
            raise ApiError(400, "invalid_query", str(exc)) from None
        return JsonResponse(await self.items.list(query))

    async def similar_items(self, request: Request) -> Response:
        """The items nearest in meaning to one item, most similar first."""
        item_id = parse_item_id(request)
        try:
            limit = parse_similar_query(dict(request.query_params))
        except ListQueryError as exc:
            raise ApiError(400, "invalid_query", str(exc)) from None
        try:
            items = await self.items.similar(item_id, limit)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        return JsonResponse(SimilarItems(items=items, limit=limit))

    async def get_item(self, request: Request) -> Response:
        item_id = parse_item_id(request)
        try:
            item = await self.items.get(item_id)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        etag = item_etag(item.id, item.version)
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and none_match(if_none_match, etag):
            return not_modified(etag)
        return item_response(item)

    async def create_item(self, request: Request) -> Response:
        await self.require_token(request)
        new = await read_json(request, ItemCreate, self.body_limits)
        require_printable(new)
        item = await self.items.create(new)
        return item_response(item, 201, {"location": f"/api/items/{item.id}"})

    async def update_item(self, request: Request) -> Response:
        await self.require_token(request)
        item_id = parse_item_id(request)
        patch = await read_json(request, ItemPatch, self.body_limits)
        require_printable(patch)
        if not any(
            getattr(patch, field) is not msgspec.UNSET for field in ItemPatch.__struct_fields__
        ):
            raise ApiError(422, "validation_error", "the patch changes nothing: send a field")
        versions = expected_versions(request.headers.get("if-match"), item_id)
        item = await self._conditional(lambda: self.items.update(item_id, patch, versions))
        return item_response(item)

    async def delete_item(self, request: Request) -> Response:
        await self.require_token(request)
        item_id = parse_item_id(request)
        versions = expected_versions(request.headers.get("if-match"), item_id)
        await self._conditional(lambda: self.items.delete(item_id, versions))
        return Response(status_code=204)

    async def token(self, request: Request) -> Response:
        """Whose token this is: lets a page check a pasted token before keeping it."""
        record = await self.require_token(request)
        return JsonResponse({"name": record.name})

    async def openapi(self, request: Request) -> Response:
        return JsonResponse(openapi_document())

    async def _conditional(self, write: Callable[[], Awaitable[T]]) -> T:
        try:
            return await write()
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except VersionConflict as exc:
            raise ApiError(
                412,
                "version_conflict",
                f"If-Match names no current version of this item (it is now version "
                f"{exc.current_version}): it was changed since you read it, or the tag is "
                "not one of its ETags; reload it and try again",
            ) from None
