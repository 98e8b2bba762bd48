"""The items store on PostgreSQL alone: If-Match races between replicas, paging many
matches against an order computed here, and the query deadline.

Each test gets a fresh database on the session's server (tests/postgres.py); a
"replica" is a second ``PostgresDatabase`` with its own pool and app on the same
database, as a second ``onebin serve`` would be.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from onebin.compose import build_app, open_database
from onebin.config import Settings
from onebin.items import app as items_app
from onebin.items.listing import RANKED_CANDIDATES, encode_cursor, parse_list_query
from onebin.items.postgres import page_rows
from tests.conftest import app_context
from tests.items.test_api import assert_error, auth, create

pytestmark = pytest.mark.parametrize("engine", ["postgresql"])

# NOCASE folds A-Z and nothing else.
_NOCASE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@contextmanager
def replica(settings: Settings) -> Iterator[TestClient]:
    """Another serving process's app on the same database."""
    db = open_database(settings, items_app)
    try:
        yield TestClient(build_app(app_context(settings, db), items_app))
    finally:
        db.close()


def waiting_on_locks(url: str) -> int:
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return int(row[0]) if row else 0


def race(
    url: str, item_id: int, requests: list[Callable[[], httpx.Response]]
) -> list[httpx.Response]:
    """Run ``requests`` so that all of them are inside their write at once.

    A third connection holds the item's row lock; every request's statement queues
    behind it, and once all of them wait on it the lock is let go: they all read
    version 1 before any of them could commit, a race by construction.
    """
    with closing(psycopg.connect(url)) as blocker:
        blocker.execute("SELECT id FROM items WHERE id = %s FOR UPDATE", (item_id,))
        with ThreadPoolExecutor(len(requests)) as pool:
            futures = [pool.submit(request) for request in requests]
            deadline = time.monotonic() + 10
            while waiting_on_locks(url) < len(requests):
                assert time.monotonic() < deadline, "the writes never queued on the row lock"
                assert not any(f.done() for f in futures), [f.result() for f in futures if f.done()]
                time.sleep(0.01)
            blocker.commit()
            return [future.result() for future in futures]


def test_if_match_race_across_replicas_has_exactly_one_winner(settings, client, token):
    item = create(client, token, name="original")
    url = f"/api/items/{item['id']}"
    if_match = {**auth(token), "if-match": f'"{item["id"]}-1"'}
    with replica(settings) as other:

        def patch(app: TestClient, n: int) -> Callable[[], httpx.Response]:
            return lambda: app.patch(url, json={"name": f"writer {n}"}, headers=if_match)

        responses = race(
            settings.database_url,
            item["id"],
            [patch(app, n) for n, app in enumerate([client, other] * 3)],
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 412, 412, 412, 412, 412], [r.text for r in responses]
    for response in responses:
        if response.status_code == 412:
            assert_error(response, 412, "version_conflict")
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    assert winner["version"] == 2
    assert client.get(url).json() == winner


def test_if_match_race_of_deletes_and_patches_has_exactly_one_winner(settings, client, token):
    item = create(client, token, name="original")
    url = f"/api/items/{item['id']}"
    if_match = {**auth(token), "if-match": f'"{item["id"]}-1"'}
    with replica(settings) as other:
        responses = race(
            settings.database_url,
            item["id"],
            [
                lambda: client.delete(url, headers=if_match),
                lambda: other.delete(url, headers=if_match),
                lambda: client.patch(url, json={"name": "a"}, headers=if_match),
                lambda: other.patch(url, json={"name": "b"}, headers=if_match),
            ],
        )
    statuses = [response.status_code for response in responses]
    winners = [status for status in statuses if status in (200, 204)]
    assert len(winners) == 1, statuses
    # Losers hear why: the item is gone (404), or at another version (412).
    losers = {status for status in statuses if status not in (200, 204)}
    assert losers == ({404} if winners == [204] else {412}), statuses


def test_if_match_with_many_tags_and_huge_versions_is_a_plain_conflict(client, token):
    item = create(client, token)
    url = f"/api/items/{item['id']}"
    tags = ", ".join(f'"{item["id"]}-{version}"' for version in [2, 9_999_999_999_999_999_999])
    stale = client.patch(url, json={"name": "x"}, headers={**auth(token), "if-match": tags})
    assert_error(stale, 412, "version_conflict")
    ok = client.patch(
        url, json={"name": "x"}, headers={**auth(token), "if-match": tags + ', "1-1"'}
    )
    assert ok.status_code == 200, ok.text


def seed_matches(url: str, count: int) -> None:
    """``count`` items named "hammer <n>" in shuffled name order (a few "saw"), with
    shuffled cases and updated_at out of creation order."""
    with closing(psycopg.connect(url)) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO items (name, description, tags, created_at, updated_at) "
            "SELECT CASE WHEN mod(i, 50) = 0 THEN 'saw ' WHEN mod(i, 3) = 0 THEN 'Hammer ' "
            "ELSE 'hammer ' END || mod(i * 7919, %s), '', '[]', "
            "'2026-01-01T00:00:00.' || lpad(i::text, 6, '0') || 'Z', "
            "'2026-01-02T00:00:00.' || lpad(mod(i * 31, %s)::text, 6, '0') || 'Z' "
            "FROM generate_series(1, %s) AS i",
            (count, count, count),
        )
        conn.execute("ANALYZE items")


@pytest.mark.parametrize("count", [300, RANKED_CANDIDATES * 2])
@pytest.mark.parametrize("sort", ["name", "-name", "-created_at", "updated_at", "relevance"])
def test_search_pages_many_matches_in_order_without_gaps_or_repeats(settings, db, count, sort):
    seed_matches(settings.database_url, count)
    rows = db.read_sync(lambda conn: conn.execute("SELECT * FROM items").fetchall())
    hammers = [row for row in rows if row["name"].lower().startswith("hammer ")]
    field = sort.removeprefix("-")
    if sort == "relevance":
        # Equal scores: the newest RANKED_CANDIDATES matches, by id.
        expected = sorted(row["id"] for row in hammers)[-RANKED_CANDIDATES:]
    else:
        fold = (lambda value: value.translate(_NOCASE)) if field == "name" else str
        ordered = sorted(hammers, key=lambda row: (fold(row[field]), row["id"]))
        expected = [row["id"] for row in ordered]
        if sort.startswith("-"):
            expected.reverse()
    seen: list[int] = []
    params = {"q": "hamm", "sort": sort, "limit": "100"}
    while True:
        query = parse_list_query(params)
        page = db.read_sync(lambda conn, query=query: page_rows(conn, query))
        seen += [row["id"] for row in page[: query.limit]]
        if len(page) <= query.limit:
            break
        last = page[query.limit - 1]
        key = "score" if sort == "relevance" else field
        params["cursor"] = encode_cursor(query.sort, last[key], last["id"])
    assert seen == expected


def test_search_past_the_query_deadline_is_503_and_the_store_keeps_serving(settings, token):
    url = settings.database_url
    with closing(psycopg.connect(url)) as conn, conn.transaction():
        # Ranking 5,000 long matches of two words takes far longer than 10 ms.
        conn.execute(
            "INSERT INTO items (name, description, tags, created_at, updated_at) "
            "SELECT 'item ' || i, repeat('mallet w' || i || ' ', 100), '[]', "
            "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' "
            "FROM generate_series(1, %s) AS i",
            (RANKED_CANDIDATES,),
        )
    query = parse_list_query({"q": "mallet w1"})
    with closing(psycopg.connect(url, row_factory=psycopg.rows.dict_row)) as conn:
        started = time.monotonic()
        page_rows(conn, query)
        alone = time.monotonic() - started
    deadline = 0.01
    assert alone > 5 * deadline, f"the search took {alone:.3f}s: too fast to outlast the deadline"
    hurried = dataclasses.replace(settings, query_timeout=deadline)
    db = open_database(hurried, items_app)
    try:
        client = TestClient(build_app(app_context(hurried, db), items_app))
        started = time.monotonic()
        response = client.get("/api/items", params={"q": "mallet w1"})
        assert_error(response, 503, "query_timeout")
        assert response.headers["retry-after"]
        assert time.monotonic() - started < alone
        assert client.get("/api/items/1").status_code == 200
        assert client.get("/api/items", params={"q": "mallet", "sort": "name"}).status_code == 200
    finally:
        db.close()


def test_search_folds_letters_that_unaccent_spells_out(client, token):
    """unaccent's rules go beyond dropping diacritics, which is all FTS5 does."""
    create(client, token, name="Straße æble Łódź ﬁsh")
    for q in ["strasse", "aeble", "lodz", "fish", "straße"]:
        assert [i["name"] for i in client.get("/api/items", params={"q": q}).json()["items"]] == [
            "Straße æble Łódź ﬁsh"
        ], q
