"""The shapes of the items API: what clients send and what they get back.

msgspec structs double as validators (types, lengths, unknown fields) and as the
source of the OpenAPI schemas, so the documented contract and the enforced one are
the same object.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="1 to 200 characters")]
Description = Annotated[str, msgspec.Meta(max_length=10_000, description="up to 10,000 characters")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Tags = Annotated[
    list[Tag], msgspec.Meta(max_length=20, description="up to 20 tags of 1-50 characters")
]


class Item(msgspec.Struct, kw_only=True):
    id: int
    name: str
    description: str
    tags: list[str]
    created_at: str
    updated_at: str
    version: int


class ItemCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    description: Description = ""
    tags: Tags = msgspec.field(default_factory=list)


class ItemPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Only the fields present are changed; an empty patch is refused."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET


class ItemPage(msgspec.Struct, kw_only=True):
    items: list[Item]
    next_cursor: str | None = None
    limit: int


class NotFound(Exception):
    """The requested item does not exist."""


class VersionConflict(Exception):
    """A write was conditioned on a version that is no longer current."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the current version is {current_version}")
        self.current_version = current_version
