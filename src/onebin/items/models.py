"""The shapes of the items API: what clients send and what they get back.

msgspec structs double as validators (types, lengths, unknown fields) and as the
source of the OpenAPI schemas, so the documented contract and the enforced one are
the same object.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

# Control characters rewrite a terminal or hide text; bidi overrides and isolates
# make "gpj.exe" read as "exe.jpg". A description may keep its tabs and line breaks.
# The patterns document the rule in the OpenAPI schema and msgspec applies them
# (JSON Schema's regex dialect); ``unprintable_field`` also refuses the one case
# Python's ``$`` lets through, a single trailing line break.
_BIDI = "\\u202a-\\u202e\\u2066-\\u2069"
_NOT_IN_LINE = f"\\x00-\\x1f\\x7f{_BIDI}"
_NOT_IN_TEXT = f"\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f{_BIDI}"
LINE = f"^[^{_NOT_IN_LINE}]*$"
TEXT = f"^[^{_NOT_IN_TEXT}]*$"
_IN_LINE = re.compile(f"[{_NOT_IN_LINE}]")
_IN_TEXT = re.compile(f"[{_NOT_IN_TEXT}]")

Name = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=200, pattern=LINE, description="1 to 200 characters"),
]
Description = Annotated[
    str,
    msgspec.Meta(
        max_length=10_000,
        pattern=TEXT,
        description="up to 10,000 characters; tabs and line breaks allowed",
    ),
]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=LINE)]
Tags = Annotated[
    list[Tag], msgspec.Meta(max_length=20, description="up to 20 tags of 1-50 characters")
]


def unprintable_field(fields: ItemCreate | ItemPatch) -> str | None:
    """The first field given holding a character no catalogue text should, or None."""
    texts = [("name", fields.name, _IN_LINE), ("description", fields.description, _IN_TEXT)]
    tags = [] if fields.tags is msgspec.UNSET else fields.tags
    texts += [("tags", tag, _IN_LINE) for tag in tags]
    for field, value, forbidden in texts:
        if isinstance(value, str) and forbidden.search(value):
            return field
    return None


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


class SimilarItems(msgspec.Struct, kw_only=True):
    """The items nearest in meaning to one item, most similar first."""

    items: list[Item]
    limit: int


class NotFound(Exception):
    """The requested item does not exist."""


class VersionConflict(Exception):
    """A write was conditioned on a version that is no longer current."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the current version is {current_version}")
        self.current_version = current_version
