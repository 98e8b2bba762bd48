"""An event log on each engine (``engine_db`` of tests/conftest.py)."""

from __future__ import annotations

import pytest

from onebin.events import EventLog
from onebin.store.database import Engine
from onebin.store.notices import notices_for


@pytest.fixture
def log(engine_db: Engine) -> EventLog:
    return EventLog(engine_db, notices_for(engine_db, ()))
