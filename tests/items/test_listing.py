from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebin.items.listing import (
    MAX_LIMIT,
    ListQuery,
    ListQueryError,
    decode_cursor,
    encode_cursor,
    parse_limit,
    parse_list_query,
    parse_sort,
)
from onebin.items.sqlite import build_list_sql


def test_parse_limit_defaults_and_bounds():
    assert parse_limit(None) == 20
    assert parse_limit("1") == 1
    assert parse_limit(str(MAX_LIMIT)) == MAX_LIMIT
    for bad in ["0", "-1", str(MAX_LIMIT + 1), "1e3", "", " 5", "١٢"]:
        with pytest.raises(ListQueryError):
            parse_limit(bad)


def test_parse_sort_reads_direction_prefix():
    assert parse_sort(None) == ("created_at", True)
    assert parse_sort("name") == ("name", False)
    assert parse_sort("-updated_at") == ("updated_at", True)
    with pytest.raises(ListQueryError):
        parse_sort("id; DROP TABLE items")


def test_cursor_round_trips_and_is_bound_to_its_sort():
    cursor = encode_cursor("-name", "Zebra", 42)
    assert decode_cursor(cursor, "-name") == ("Zebra", 42)
    with pytest.raises(ListQueryError):
        decode_cursor(cursor, "name")


@pytest.mark.parametrize("junk", ["", "!!!", "e30", "WzEsMiwzXQ", "a" * 50])
def test_decode_cursor_rejects_junk(junk):
    with pytest.raises(ListQueryError):
        decode_cursor(junk, "-created_at")


def test_build_list_sql_uses_keyset_condition_in_sort_direction():
    sql, params = build_list_sql(
        ListQuery(limit=5, sort_field="name", descending=False, after=("m", 3))
    )
    assert "(name, id) > (?, ?)" in sql
    assert sql.endswith("ORDER BY name ASC, id ASC LIMIT ?")
    assert params == ["m", 3, 6]
    sql, _ = build_list_sql(ListQuery(after=("2026", 9)))
    assert "(created_at, id) < (?, ?)" in sql


def test_parse_list_query_rejects_unknown_parameters():
    with pytest.raises(ListQueryError, match="unknown query parameter"):
        parse_list_query({"page": "2"})


@given(
    st.dictionaries(
        st.sampled_from(["limit", "q", "sort", "cursor", "page"]), st.text(max_size=300), max_size=5
    )
)
def test_parse_list_query_accepts_or_raises_list_query_error_only(params):
    try:
        query = parse_list_query(params)
    except ListQueryError:
        return  # the refusal the API turns into a 400
    assert 1 <= query.limit <= MAX_LIMIT
    assert query.sort_field in {"created_at", "updated_at", "name", "relevance"}


def test_build_list_sql_walks_the_sort_index_only_for_many_matches():
    query = parse_list_query({"q": "hammer", "sort": "name"})
    few, params = build_list_sql(query)
    many, same_params = build_list_sql(query, many_matches=True)
    assert "WHERE id IN (SELECT rowid FROM items_fts" in few
    assert "WHERE +id IN (SELECT rowid FROM items_fts" in many
    assert params == same_params == ['"hammer"*', 21]
    relevance = parse_list_query({"q": "hammer"})
    assert build_list_sql(relevance, many_matches=True) == build_list_sql(relevance)


def test_a_search_ranks_by_hybrid_relevance_unless_told_otherwise():
    query = parse_list_query({"q": "hammer"})
    assert (query.sort_field, query.mode) == ("relevance", "hybrid")
    assert query.sort == "relevance:hybrid"
    assert parse_list_query({"q": "hammer", "mode": "semantic"}).mode == "semantic"
    text = parse_list_query({"q": "hammer", "mode": "text"})
    assert (text.mode, text.sort) == ("text", "relevance")


def test_a_search_in_another_order_filters_by_words():
    query = parse_list_query({"q": "hammer", "sort": "-created_at"})
    assert (query.mode, query.by_meaning) == ("text", False)
    assert parse_list_query({"q": "hammer", "sort": "name", "mode": "text"}).mode == "text"
    for mode in ("semantic", "hybrid"):
        with pytest.raises(ListQueryError, match="sort=relevance or mode=text"):
            parse_list_query({"q": "hammer", "sort": "name", "mode": mode})


def test_mode_is_checked_and_means_nothing_without_a_search():
    with pytest.raises(ListQueryError, match="mode must be one of text, semantic, hybrid"):
        parse_list_query({"q": "hammer", "mode": "fuzzy"})
    with pytest.raises(ListQueryError, match="mode must be one of"):
        parse_list_query({"mode": "fuzzy"})
    assert parse_list_query({"mode": "semantic"}).mode == "text"
    assert parse_list_query({"q": "  ", "mode": "hybrid"}).terms is None


def test_a_cursor_belongs_to_the_mode_that_made_it():
    hybrid = encode_cursor("relevance:hybrid", -0.03, 7)
    assert parse_list_query({"q": "hammer", "cursor": hybrid}).after == (-0.03, 7)
    for other in ({"mode": "semantic"}, {"mode": "text"}):
        with pytest.raises(ListQueryError, match="another sort order"):
            parse_list_query({"q": "hammer", "cursor": hybrid, **other})
