from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebin.etags import entity_tags, none_match, strong_tags


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ('"a"', ['"a"']),
        ('"a", W/"b"', ['"a"', 'W/"b"']),
        (' "a" ,, "b" ', ['"a"', '"b"']),
        ('"a,b", "c"', ['"a,b"', '"c"']),
        ('"a", junk, "b"', ['"a"']),
        ('"unterminated', []),
        ("", []),
    ],
)
def test_entity_tags_follow_the_grammar(header, tags):
    assert entity_tags(header) == tags


def test_star_means_any():
    assert entity_tags(" * ") is None
    assert strong_tags("*") is None


def test_none_match_uses_weak_comparison_and_star():
    assert none_match('"x"', '"x"')
    assert none_match('W/"x"', '"x"')
    assert none_match('"y", "x"', '"x"')
    assert none_match("*", '"x"')
    assert not none_match('"y"', '"x"')
    assert not none_match("x", '"x"')


def test_if_match_keeps_only_strong_tags():
    assert strong_tags('W/"1-1", "1-2"') == ['"1-2"']


@given(st.text(max_size=200))
def test_any_header_parses_without_error(header):
    tags = entity_tags(header)
    assert tags is None or all(tag.endswith('"') for tag in tags)
