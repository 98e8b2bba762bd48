"""``Semantic``: an application's declaration of rows it wants found by meaning.

The application names the collection and says how to read the text of its rows;
onebin stores a vector per row, keeps it current in the background, and searches
them. The text function is the one thing onebin cannot know: which columns make up
what a user would describe (for the items app, name, tags and description).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from onebin.errors import AppError
from onebin.store.database import Connection

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")

# text(conn, row_ids) -> {row_id: text} for the rows that exist; a missing id is a
# row that is gone, and its vector is removed.
TextOf = Callable[[Connection, Sequence[int]], Mapping[int, str]]


@dataclass(frozen=True)
class Semantic:
    """A collection of rows searchable by meaning: ``Semantic("entries", text=entry_texts)``.

    - ``name``: 1-64 of ``a-z``, ``0-9``, ``-``, ``_``, starting with a letter; the key
      of ``context.semantic``.
    - ``text``: ``text(conn, row_ids)`` returns ``{row_id: text}`` for those of
      ``row_ids`` that exist (a missing id is a deleted row). It runs in a read, in
      batches of a few hundred ids, so it should select by primary key.
    """

    name: str
    text: TextOf

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise AppError(
                f"semantic collection name {self.name!r} must be 1-64 of a-z, 0-9, - and _, "
                "starting with a letter"
            )
        if not callable(self.text):
            raise AppError(
                f"semantic collection {self.name!r}: text must be a function "
                "text(conn, row_ids) -> {row_id: text}"
            )
