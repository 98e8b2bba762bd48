"""Which store serves which engine, and the PostgreSQL SQL as pure functions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from onebin import search_terms
from onebin.items import item_store
from onebin.items.listing import RANKED_CANDIDATES, ListQuery, parse_list_query
from onebin.items.postgres import PostgresItemStore, build_list_sql, tsquery_text
from onebin.items.sqlite import SQLiteItemStore


@pytest.mark.parametrize(
    ("engine", "store"), [("sqlite", SQLiteItemStore), ("postgresql", PostgresItemStore)]
)
def test_item_store_follows_the_database_engine(engine, store):
    db = SimpleNamespace(engine=engine)
    chosen = item_store(db, SimpleNamespace(), SimpleNamespace())
    assert type(chosen) is store
    assert chosen.db is db


def test_item_store_refuses_an_engine_it_has_no_sql_for():
    with pytest.raises(RuntimeError, match="'mysql'"):
        item_store(SimpleNamespace(engine="mysql"), SimpleNamespace(), SimpleNamespace())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hammer", "'hammer':*"),
        ("Claw HAMMER", "'claw':* & 'hammer':*"),
        # A single character matches only that whole word, as on SQLite.
        ("a frame", "'a' & 'frame':*"),
        ("é", "'é'"),
        # FTS5 reads "foo_bar"* as the phrase foo bar*: so does this.
        ("foo_bar", "('foo' <-> 'bar':*)"),
        ("a_b", "('a' <-> 'b':*)"),
        ("_x_", "'x':*"),
        ("hammer ___", "'hammer':*"),
    ],
)
def test_tsquery_text_requires_every_word_and_prefixes_words_of_two_or_more(text, expected):
    assert tsquery_text(search_terms(text)) == expected


@pytest.mark.parametrize("text", ["___", "_"])
def test_tsquery_text_without_a_word_is_none(text):
    assert tsquery_text(search_terms(text)) is None


@pytest.mark.parametrize(
    "text", ["'", "\\", "a & b", "!x", "x:*", "(a | b)", "a <-> b", "a:A", "'x' | 'y'"]
)
def test_tsquery_operators_typed_by_a_user_are_never_operators(text):
    query = tsquery_text(search_terms(text)) or ""
    # Every lexeme is quoted; the only operators are the ones tsquery_text writes.
    unquoted = "".join(query.split("'")[::2])
    assert set(unquoted) <= set(" &():*<->")
    assert "|" not in query
    assert "!" not in query


def test_build_list_sql_keyset_compares_names_as_nocase_does():
    sql, params = build_list_sql(
        ListQuery(limit=5, sort_field="name", descending=False, after=("m", 3)), None
    )
    assert '(lower(name), id) > (lower(%(after)s::text COLLATE "C"), %(after_id)s)' in sql
    assert sql.endswith("ORDER BY lower(name) ASC, id ASC LIMIT %(limit)s")
    assert params == {"after": "m", "after_id": 3, "limit": 6}
    sql, _ = build_list_sql(ListQuery(after=("2026", 9)), None)
    assert "(created_at, id) < (%(after)s, %(after_id)s)" in sql


def test_build_list_sql_ranks_the_newest_matches_then_pages_by_score():
    query = parse_list_query({"q": "hammer"})
    sql, params = build_list_sql(query, "'hammer':*")
    assert "ORDER BY id DESC LIMIT %(candidates)s) AS newest" in sql
    assert sql.endswith("ORDER BY score, id LIMIT %(limit)s")
    assert params == {"q": "'hammer':*", "candidates": RANKED_CANDIDATES, "limit": 21}
    after = ListQuery(terms=("hammer",), sort_field="relevance", descending=False, after=(-0.5, 7))
    sql, params = build_list_sql(after, "'hammer':*")
    assert "WHERE (score, id) > (%(after)s, %(after_id)s)" in sql
    assert (params["after"], params["after_id"]) == (-0.5, 7)
