"""The embedded store: database wrapper, migrations, and the write-token table."""

from __future__ import annotations

from onebin.store.database import Database
from onebin.store.migrations import Migration
from onebin.store.tokens import TokenRecord

__all__ = ["Database", "Migration", "TokenRecord"]
