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
