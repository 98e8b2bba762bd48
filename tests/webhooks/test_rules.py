"""What a webhook may be, and which events its patterns match: pure rules."""

from __future__ import annotations

import pytest

from onebin.webhooks.rules import check_pattern, check_url, matches, parse_patterns, redacted


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "http://127.0.0.1:8080/h?x=1", "https://[::1]/", "http://a"],
)
def test_check_url_accepts_http_and_https_with_a_host(url):
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///hook", "no host"),
        ("https://", "no host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/#top", "fragment"),
        ("https://[::1/", "not a valid URL"),
        ("https://example.com/" + "a" * 2000, "at most"),
    ],
)
def test_check_url_refuses_anything_else_with_the_reason(url, why):
    with pytest.raises(ValueError, match=why):
        check_url(url)


@pytest.mark.parametrize("pattern", ["*", "item.*", "item.created", "*.deleted", "a-b_c.d*e"])
def test_check_pattern_accepts_dotted_types_with_wildcards(pattern):
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern", ["", "Item.*", "item..x", ".item", "item.", "item.?", "item.[ab]", "1x", "a" * 65]
)
def test_check_pattern_refuses_what_no_event_type_looks_like(pattern):
    with pytest.raises(ValueError, match="dotted lower-case"):
        check_pattern(pattern)


def test_parse_patterns_splits_commas_drops_repeats_and_defaults_to_everything():
    assert parse_patterns([]) == ["*"]
    assert parse_patterns(["item.*, item.deleted", "item.*"]) == ["item.*", "item.deleted"]
    with pytest.raises(ValueError, match="event pattern '' must be"):
        parse_patterns(["item.*,"])  # an empty pattern is a typo, not "everything"


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "item.created", True),
        (["item.*"], "item.created", True),
        (["item.*"], "item.sub.created", True),
        (["item.*"], "item", False),
        (["item.*"], "items.created", False),
        (["item.created"], "item.created", True),
        (["item.created"], "item.created2", False),
        (["*.deleted"], "item.deleted", True),
        (["*.deleted"], "item.updated", False),
        (["item.c*d"], "item.created", True),
        (["order.*", "item.deleted"], "item.deleted", True),
        ([], "item.created", False),
    ],
)
def test_matches_the_whole_type(patterns, event_type, expected):
    assert matches(patterns, event_type) is expected


def test_redacted_keeps_where_but_drops_credentials_and_query():
    assert redacted("https://user:pw@example.com:8443/a/b?token=s3cret") == (
        "https://example.com:8443/a/b"
    )
    assert redacted("http://[::1]") == "http://[::1]/"
