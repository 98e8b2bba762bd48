"""The items app without semantic search: the reference that ``bench/search.py --writes``
compares write throughput against.

Everything is the items app's own (routes, store, migrations, static files) except
that its store marks nothing for embedding and the app declares no semantic
collection, so no embedding job runs: what is left is what POST /api/items cost
before issue 16. Serve it from the repository's root (``--app`` finds the ``bench``
package in the current directory):

    .venv/bin/python -m onebin serve --app bench.plain_items:app --data-dir DIR
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from onebin import Context
from onebin.items import SEMANTIC
from onebin.items import app as items_app
from onebin.items import routes as items_routes


class Unsearchable:
    """Stands in for the items' ``SemanticSearch`` where the store marks changes."""

    def changed(self, conn: Any, row_id: int) -> None:
        """Marks nothing: there are no vectors to keep current."""


def routes(context: Context) -> Sequence[BaseRoute]:
    # A copy: onebin's own services (the job runner) keep the real context.
    plain = copy.copy(context)
    plain.semantic = {SEMANTIC.name: Unsearchable()}  # type: ignore[dict-item]
    return items_routes(plain)


app = dataclasses.replace(items_app, routes=routes, semantic=())
