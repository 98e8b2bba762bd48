from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebin.assets.negotiation import choose_encoding, parse_accept_encoding

ALL = ("identity", "br", "gzip")


def test_parse_accept_encoding_reads_q_values_case_insensitively():
    assert parse_accept_encoding("GZIP;q=0.5, br;Q=1.0, identity; q=0") == {
        "gzip": 0.5,
        "br": 1.0,
        "identity": 0.0,
    }


def test_parse_accept_encoding_drops_elements_with_malformed_weights():
    assert parse_accept_encoding("br;q=2, gzip;q=abc, deflate;q=0.1234, zstd;q=0.5") == {
        "zstd": 0.5
    }


def test_parse_accept_encoding_keeps_the_first_weight_of_a_repeated_coding():
    assert parse_accept_encoding("br;q=0, br") == {"br": 0.0}


def test_parse_accept_encoding_treats_x_gzip_as_gzip():
    assert parse_accept_encoding("x-gzip") == {"gzip": 1.0}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("br, gzip", "br"),
        ("gzip, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0.5, br;q=0.4", "gzip"),
        ("br;q=0.9", "br"),
        ("gzip", "gzip"),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("*;q=0", "identity"),
        ("br;q=0, gzip;q=0", "identity"),
        ("identity", "identity"),
        ("", "identity"),
        ("deflate, zstd", "identity"),
        ("br;q=0.5, identity", "identity"),
    ],
)
def test_choose_encoding_follows_weights_then_server_preference(header, expected):
    assert choose_encoding(header, ALL) == expected


def test_choose_encoding_sends_identity_without_the_header():
    assert choose_encoding(None, ALL) == "identity"


def test_choose_encoding_picks_only_stored_variants():
    assert choose_encoding("br, gzip", ("identity", "gzip")) == "gzip"
    assert choose_encoding("br", ("identity", "gzip")) == "identity"


def test_choose_encoding_falls_back_to_identity_when_even_identity_is_refused():
    assert choose_encoding("identity;q=0, br;q=0", ALL) == "identity"


@given(st.text())
def test_parse_accept_encoding_never_fails_and_weights_stay_in_range(header):
    weights = parse_accept_encoding(header)
    assert all(0.0 <= weight <= 1.0 for weight in weights.values())


codings = st.sampled_from(["br", "gzip", "identity", "*", "deflate", "BR", "x-gzip"])
qvalues = st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=0.001", " ; q=0.80"])


@given(st.lists(st.tuples(codings, qvalues), max_size=6))
def test_choose_encoding_never_sends_a_coding_the_client_refused(elements):
    header = ", ".join(coding + q for coding, q in elements)
    chosen = choose_encoding(header, ALL)
    assert chosen in ALL
    weights = parse_accept_encoding(header)
    if chosen != "identity":
        assert weights.get(chosen, weights.get("*", 0.0)) > 0
