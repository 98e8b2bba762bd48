"""The reference application: a catalogue of items, with its API and frontend.

It uses onebin only through the public names ``onebin`` exports, the same way your
own application would (docs/library.md).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from onebin import App, Context, Database, Events, Semantic, SemanticSearch, Static, __version__
from onebin.items.api import ItemsApi
from onebin.items.postgres import PostgresItemStore
from onebin.items.repository import MIGRATIONS, ItemStore, item_texts
from onebin.items.sqlite import SQLiteItemStore

# The one place the engine matters: each has its own store, with its own SQL.
STORES = {"sqlite": SQLiteItemStore, "postgresql": PostgresItemStore}


# Items found by meaning: each item's vector is made from its name, tags and description.
SEMANTIC = Semantic("items", text=item_texts)


def item_store(db: Database, events: Events, semantic: SemanticSearch) -> ItemStore:
    """The store for ``db``'s engine; every change it makes appends to ``events`` and
    marks the item for ``semantic`` search."""
    store = STORES.get(db.engine)
    if store is None:
        raise RuntimeError(f"the items app has no store for the {db.engine!r} database engine")
    return store(db, events, semantic)


def routes(context: Context) -> list[BaseRoute]:
    store = item_store(context.db, context.events, context.semantic[SEMANTIC.name])
    api = ItemsApi(
        store, context.require_token, body_limits=context.body_limits, events=context.events
    )
    return list(api.routes())


app = App(
    name="items",
    version=__version__,
    migrations=MIGRATIONS,
    routes=routes,
    # The SvelteKit build: its router draws every page, so unknown paths get the shell.
    static=Static("onebin.items.web", spa_fallback=True),
    semantic=(SEMANTIC,),
)
