"""A semantic collection on each engine: marks in writes, the embedding job, searches
in several processes' copies, a change racing the job, a new model."""

from __future__ import annotations

import asyncio

import pytest

from onebin.events import Events
from onebin.items import SEMANTIC, item_store
from onebin.items.models import ItemCreate, ItemPatch
from onebin.items.repository import embedding_text
from onebin.jobs.queue import JobQueue
from onebin.semantic.indexer import EMBED_KIND
from onebin.semantic.model import MODEL_ID, embed
from onebin.semantic.search import SemanticSearch
from onebin.store.notices import notices_for
from tests.semantic.catalogue import CATALOGUE

pytestmark = pytest.mark.parametrize("engine_settings", ["sqlite", "postgresql"], indirect=True)


def run(coroutine):
    return asyncio.run(coroutine)


def store_of(db, search=None):
    search = search or SemanticSearch(SEMANTIC, db, JobQueue(db))
    return item_store(db, Events(db, notices_for(db, ())), search), search


def add(store, catalogue=CATALOGUE[:3]) -> list[int]:
    async def create() -> list[int]:
        made = [
            await store.create(ItemCreate(name=name, description=text, tags=tags))
            for name, text, tags in catalogue
        ]
        return [item.id for item in made]

    return run(create())


def nearest(search, text: str, limit: int = 3) -> list[int]:
    return [match.id for match in run(search.nearest(text, limit))]


def stored(db, row_id: int):
    return db.read_sync(
        lambda conn: conn.execute(
            "SELECT dirty, vector FROM onebin_vectors WHERE collection = 'items' AND row_id = "
            + str(row_id)
        ).fetchone()
    )


def test_rows_are_found_by_meaning_once_the_job_embedded_them(engine_db):
    store, search = store_of(engine_db)
    hammer, dress, espresso = add(store)
    assert nearest(search, "carpentry gear to bang in nails") == []  # not embedded yet
    assert run(search.indexer.drain()) == 3
    assert nearest(search, "carpentry gear to bang in nails")[0] == hammer
    assert nearest(search, "a morning cup of joe")[0] == espresso
    assert nearest(search, "what to wear at a garden party")[0] == dress
    scores = [match.score for match in run(search.nearest("hammer", 3))]
    assert scores == sorted(scores, reverse=True)
    assert all(-1 <= score <= 1 for score in scores)
    assert scores[0] > 0.3


def test_every_process_searches_what_any_process_embedded(engine_db):
    store, search = store_of(engine_db)
    (hammer,) = add(store, CATALOGUE[:1])
    run(search.indexer.drain())
    elsewhere = SemanticSearch(SEMANTIC, engine_db, JobQueue(engine_db))  # another process
    assert nearest(elsewhere, "tool for nails")[0] == hammer
    (dress,) = add(store, CATALOGUE[1:2])
    run(search.indexer.drain())
    assert nearest(elsewhere, "floral cotton frock")[0] == dress


def test_an_update_is_embedded_again_and_a_delete_removes_the_row(engine_db):
    store, search = store_of(engine_db)
    _, dress, espresso = add(store)
    run(search.indexer.drain())
    run(
        store.update(
            dress,
            ItemPatch(
                name="Garden hose", description="30 m hose for watering plants.", tags=["garden"]
            ),
            None,
        )
    )
    run(store.delete(espresso, None))
    run(search.indexer.drain())
    assert nearest(search, "water the lawn", 1) == [dress]
    assert espresso not in nearest(search, "coffee maker", 3)
    assert stored(engine_db, espresso)["vector"] is None


def test_a_change_made_while_its_batch_was_embedded_is_embedded_again(engine_db):
    store, search = store_of(engine_db)
    (hammer,) = add(store, CATALOGUE[:1])
    indexer = search.indexer
    batch = engine_db.read_sync(indexer._marked)  # the job read the old text...
    run(store.update(hammer, ItemPatch(name="Garden hose", description="Hose for plants."), None))
    old = [(row_id, mark, embed(text)) for row_id, mark, text in batch]
    engine_db.write_sync(lambda conn: indexer.save(conn, old))  # ...and saves its vector
    assert stored(engine_db, hammer)["dirty"] > 0  # the newer change keeps its mark
    run(indexer.drain())
    current = run(store.get(hammer))
    assert bytes(stored(engine_db, hammer)["vector"]) == embed(embedding_text(current))


def test_a_burst_of_changes_queues_one_job_for_its_minute(engine_db):
    store, _ = store_of(engine_db)
    add(store, CATALOGUE * 5)
    jobs = engine_db.read_sync(
        lambda conn: conn.execute(
            f"SELECT count(*) AS n FROM onebin_jobs WHERE kind = '{EMBED_KIND}'"
        ).fetchone()["n"]
    )
    assert 1 <= jobs <= 2  # the burst may straddle a minute


def test_vectors_of_another_model_are_dropped_and_every_row_marked_at_start(engine_db):
    store, search = store_of(engine_db)
    hammer, *_ = add(store)
    run(search.indexer.drain())
    assert search.indexer.prepare_sync() is False  # same model, nothing marked
    engine_db.write_sync(
        lambda conn: conn.execute("UPDATE onebin_vector_models SET model = 'an-older-model'")
    )
    assert search.indexer.prepare_sync() is True
    assert stored(engine_db, hammer)["vector"] is None
    assert stored(engine_db, hammer)["dirty"] > 0
    fresh = SemanticSearch(SEMANTIC, engine_db, JobQueue(engine_db))
    assert nearest(fresh, "tool for nails") == []
    run(search.indexer.drain())
    assert nearest(fresh, "tool for nails")[0] == hammer
    model = engine_db.read_sync(
        lambda conn: conn.execute("SELECT model FROM onebin_vector_models").fetchone()["model"]
    )
    assert model == MODEL_ID


def test_similar_rows_leave_the_row_out_and_embed_a_row_not_yet_embedded(engine_db):
    store, search = store_of(engine_db)
    knives = [
        ("Chef's knife", "20 cm stainless blade for chopping vegetables.", ["kitchen"]),
        ("Bread knife", "Serrated blade that slices crusty loaves.", ["kitchen"]),
        ("Summer dress", "Light cotton dress with a floral print.", ["clothing"]),
    ]
    chef, bread, dress = add(store, knives)
    run(search.indexer.drain())
    (later,) = add(store, [("Paring knife", "Small blade for peeling fruit.", ["kitchen"])])
    found = [match.id for match in run(search.similar(chef, 3))]
    assert chef not in found
    assert found.index(bread) < found.index(dress)
    assert run(search.similar(later, 1))[0].id in (chef, bread)  # embedded on the spot
    assert run(search.similar(999_999, 3)) == []


def test_a_stopping_process_ends_its_slot_at_once_and_hands_the_rest_over(engine_db):
    store, search = store_of(engine_db)
    add(store)
    indexer = search.indexer

    async def follow_then_stop() -> int:
        following = asyncio.create_task(indexer.follow(indexer.clock() + 600))
        await asyncio.sleep(0)  # under way
        indexer.stop()
        return await asyncio.wait_for(following, timeout=10)  # not the 600 s

    run(follow_then_stop())
    handed_over = engine_db.read_sync(
        lambda conn: conn.execute(
            f"SELECT count(*) AS n FROM onebin_jobs WHERE kind = '{EMBED_KIND}' "
            "AND idempotency_key IS NULL AND state = 'queued'"
        ).fetchone()["n"]
    )
    assert handed_over == 1  # another process follows the rest of the slot


def test_a_start_queues_the_embedding_even_when_this_slot_had_its_job(engine_db):
    store, search = store_of(engine_db)
    add(store)  # this slot's job is queued (another process may have finished it)
    engine_db.write_sync(lambda conn: conn.execute("UPDATE onebin_jobs SET state = 'done'"))
    assert search.indexer.prepare_sync() is True
    queued = engine_db.read_sync(
        lambda conn: conn.execute(
            f"SELECT count(*) AS n FROM onebin_jobs WHERE kind = '{EMBED_KIND}' "
            "AND state = 'queued'"
        ).fetchone()["n"]
    )
    assert queued == 1
