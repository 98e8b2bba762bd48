from __future__ import annotations

import pytest

from onebin import values


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("500ms", 0.5), ("30m", 1800), ("6h", 21600), ("1d", 86400)],
)
def test_duration(text, seconds):
    assert values.duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-1h", "1w", "h", "1.2.3s"])
def test_duration_refuses(text):
    with pytest.raises(ValueError, match=r"duration|longer than 0"):
        values.duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("512K", 524288), ("64MiB", 64 * 1024**2), ("2G", 2 * 1024**3)],
)
def test_size(text, size):
    assert values.size(text) == size


def test_networks_are_normalised_and_refused_when_not_addresses():
    assert values.network_list("10.0.0.1, 192.168.0.0/16,::1") == (
        "10.0.0.1/32",
        "192.168.0.0/16",
        "::1/128",
    )
    with pytest.raises(ValueError, match="not an IP address"):
        values.network_list("proxy.example")


def test_connection_limit_accepts_auto():
    assert values.connection_limit("auto") is None
    assert values.connection_limit("50") == 50
    with pytest.raises(ValueError, match="at least 1"):
        values.connection_limit("0")


@pytest.mark.parametrize(
    "text", ["onebin.items:app", "guestbook.app:app", "shop:api", " pkg._private:App2 "]
)
def test_app_reference(text):
    assert values.app_reference(text) == text.strip()


@pytest.mark.parametrize(
    "text",
    ["", "guestbook", "guestbook.app", ":app", "guestbook:", "guest-book:app", "a..b:app",
     ".a:app", "a.:app", "a:b:c", "a:b.c", "a:1b", "a b:app", "9lives:app"],
)  # fmt: skip
def test_app_reference_refuses_anything_but_module_colon_attribute(text):
    with pytest.raises(ValueError, match=r"^expected MODULE:ATTRIBUTE, e\.g\. guestbook\.app:app"):
        values.app_reference(text)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://onebin:secret@db.internal:5432/onebin?sslmode=verify-full",
        "postgres://db/onebin",
        "postgresql:///onebin?host=/var/run/postgresql",
        "postgresql://h1:5432,h2:5432/onebin?target_session_attrs=read-write",
    ],
)
def test_database_url_takes_postgresql_urls_as_written(url):
    assert values.database_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "text", ["mysql://u:secret@h/db", "sqlite:///data/x.sqlite3", "db.internal", "u:secret@h/db"]
)
def test_database_url_refuses_others_without_repeating_the_password(text):
    with pytest.raises(ValueError, match=r"expected a PostgreSQL URL like postgresql://") as caught:
        values.database_url(text)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u:a:b@h/db", "postgres://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        (
            "postgresql://h/db?sslmode=require&password=secret",
            "postgresql://h/db?sslmode=require&password=***",
        ),
        ("postgresql://u:s@h1,h2/db?PASSWORD=x", "postgresql://u:***@h1,h2/db?PASSWORD=***"),
    ],
)
def test_redact_hides_the_password_wherever_the_url_holds_it(url, shown):
    assert values.redact(url) == shown


def test_scrub_takes_the_password_out_of_whatever_libpq_says_about_the_url():
    url = "postgresql://u:p%zzsecret@h/db?password=other"
    said = 'invalid percent-encoded token: "p%zzsecret"; also other, and p%zzsecret'
    assert values.scrub(said, url) == 'invalid percent-encoded token: "***"; also ***, and ***'
    assert values.scrub("p@ss here", "postgresql://u:p%40ss@h/db") == "*** here"
    assert values.scrub("nothing to hide", "postgresql://u@h/db") == "nothing to hide"


@pytest.mark.parametrize("text", ["1_0", "\uff11", "\u0661", "9" * 5000, "1.5", "+", "", "0x10"])
def test_whole_numbers_are_ascii_digits_only(text):
    """int() read "1_0" as 10, and full-width or Arabic-Indic digits as digits: `jobs
    cancel` with an Arabic-Indic one cancelled job 1."""
    with pytest.raises(ValueError, match="not a whole number"):
        values.int_in(0)(text)


def test_a_row_id_fits_a_64_bit_column():
    assert values.row_id(" 42 ") == 42
    assert values.row_id(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(ValueError, match="from 1 to"):
        values.row_id(str(2**63))
