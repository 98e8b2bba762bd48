from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebin.store.fulltext import MAX_TERMS, SearchTextError, match_expression, search_terms


def test_words_become_quoted_prefix_terms_and_letters_stay_whole():
    terms = search_terms('Claw "HAM" a-b: x*')
    assert terms == ("claw", "ham", "a", "b", "x")
    assert match_expression(terms) == '"claw"* "ham"* "a" "b" "x"'


def test_control_characters_and_too_many_words_are_refused():
    with pytest.raises(SearchTextError, match="control characters"):
        search_terms("ham\x00")
    with pytest.raises(SearchTextError, match="words"):
        search_terms(" ".join(["w"] * (MAX_TERMS + 1)))


@given(st.text(max_size=80))
def test_any_text_gives_a_query_fts5_accepts(text):
    """Whatever a user types is never parsed as FTS5 syntax (no syntax error, no OR)."""
    try:
        terms = search_terms(text)
    except SearchTextError:
        return
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    conn.execute("INSERT INTO t VALUES ('anything at all')")
    if terms:
        conn.execute("SELECT * FROM t WHERE t MATCH ?", (match_expression(terms),)).fetchall()
