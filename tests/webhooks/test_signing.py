"""The delivery signature: HMAC-SHA256 over "timestamp.body", checked as a receiver does."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from onebin.webhooks.signing import new_secret, signature, verify

SECRET = "0f" * 32
ROOT = Path(__file__).parents[2]
BODY = b'{"id":7,"type":"item.created","time":"2026-01-01T00:00:00.000Z","data":{"id":1}}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_700_000_000, BODY) == f"v1={expected}"


def test_verify_accepts_a_fresh_signature_and_one_among_several():
    header = signature(SECRET, 1_700_000_000, BODY)
    assert verify(SECRET, header, "1700000000", BODY, now=1_700_000_010)
    assert verify(SECRET, f"v0=abc, {header}", "1700000000", BODY, now=1_700_000_010)


def test_verify_refuses_another_secret_body_or_timestamp():
    header = signature(SECRET, 1_700_000_000, BODY)
    assert not verify(new_secret(), header, "1700000000", BODY, now=1_700_000_000)
    assert not verify(SECRET, header, "1700000000", BODY + b" ", now=1_700_000_000)
    assert not verify(SECRET, header, "1700000001", BODY, now=1_700_000_000)
    assert not verify(SECRET, header, "17e8", BODY, now=1_700_000_000)


def test_verify_refuses_a_replay_older_than_five_minutes():
    header = signature(SECRET, 1_700_000_000, BODY)
    assert verify(SECRET, header, "1700000000", BODY, now=1_700_000_300)
    assert not verify(SECRET, header, "1700000000", BODY, now=1_700_000_301)
    assert not verify(SECRET, header, "1700000000", BODY, now=1_699_999_699)  # from the future


def test_new_secrets_are_256_random_bits():
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in secrets)


def documented_recipe(path: Path) -> Callable[..., bool]:
    """The receiver's ``verify`` as the Webhooks section of ``path`` writes it."""
    section = path.read_text().split("## Webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)
    return namespace["verify"]  # type: ignore[return-value]


@pytest.mark.parametrize("document", ["README.md", "docs/library.md"])
def test_the_documented_receiver_recipe_checks_what_onebin_sends(document):
    verify_as_documented = documented_recipe(ROOT / document)
    now = int(time.time())
    headers = {"Onebin-Timestamp": str(now), "Onebin-Signature": signature(SECRET, now, BODY)}
    assert verify_as_documented(SECRET, headers, BODY)
    assert not verify_as_documented(new_secret(), headers, BODY)
    assert not verify_as_documented(SECRET, headers, BODY + b" ")
    then = now - 301
    old = {"Onebin-Timestamp": str(then), "Onebin-Signature": signature(SECRET, then, BODY)}
    assert not verify_as_documented(SECRET, old, BODY)
