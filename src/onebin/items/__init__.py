"""The reference application: a catalogue of items, with its API and frontend.

It uses onebin only through the public names ``onebin`` exports, the same way your
own application would (docs/library.md).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from onebin import App, Context, Database, Events, Static, __version__
from onebin.items.api import ItemsApi
from onebin.items.postgres import PostgresItemStore
from onebin.items.repository import MIGRATIONS, ItemStore
from onebin.items.sqlite import SQLiteItemStore

# The one place the engine matters: each has its own store, with its own SQL.
STORES = {"sqlite": SQLiteItemStore, "postgresql": PostgresItemStore}


def item_store(db: Database, events: Events) -> ItemStore:
    """The store for ``db``'s engine; every change it makes appends to ``events``."""
    store = STORES.get(db.engine)
    if store is None:
        raise RuntimeError(f"the items app has no store for the {db.engine!r} database engine")
    return store(db, events)


def routes(context: Context) -> list[BaseRoute]:
    store = item_store(context.db, context.events)
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
)
