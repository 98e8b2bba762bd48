from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import pytest

from onebin.semantic.tokenizer import MAX_TOKENS, Vocabulary, token_ids

# Written by tools/make_model.py with the real Hugging Face tokenizer of the model.
CASES = json.loads(Path(__file__).with_name("tokenizer_cases.json").read_text())


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    vocab = resources.files("onebin.semantic") / "weights" / "vocab.txt"
    return Vocabulary.from_tokens(vocab.read_text().splitlines())


def tokens(text: str, vocabulary: Vocabulary) -> list[str]:
    names = {index: token for token, index in vocabulary.ids.items()}
    return [names[index] for index in token_ids(text, vocabulary)]


def test_tokenizer_cases_cover_the_hard_parts():
    texts = [case["text"] for case in CASES]
    assert len(texts) >= 190
    assert "" in texts
    assert any("日" in text for text in texts)
    assert any("\x00" in text for text in texts)
    assert any(len(text) > 100 and " " not in text for text in texts)


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_tokenizer_gives_hugging_face_ids(case, vocabulary):
    assert token_ids(case["text"], vocabulary, limit=10**6) == case["ids"]


def test_tokenizer_cuts_words_into_known_pieces(vocabulary):
    assert tokens("Café-crème, unbelievably!", vocabulary) == [
        *("cafe", "-", "cr", "##eme", ","),
        *("un", "##bel", "##ie", "##va", "##bly", "!"),
    ]
    assert tokens("日本", vocabulary) == ["日", "本"]
    assert tokens("x" * 101, vocabulary) == ["[UNK]"]


def test_tokenizer_reads_special_tokens_as_plain_words(vocabulary):
    assert tokens("[UNK] [PAD]", vocabulary) == ["[", "un", "##k", "]", "[", "pad", "]"]


def test_tokenizer_keeps_a_huge_text_to_its_first_tokens(vocabulary):
    text = "perceuse sans fil à deux batteries " * 300_000  # 10 MB, not all ASCII
    started = time.perf_counter()
    ids = token_ids(text, vocabulary)
    elapsed = time.perf_counter() - started
    assert len(ids) == MAX_TOKENS
    assert ids == token_ids(text[:5000], vocabulary)
    # Without the limits this takes seconds; with them about a millisecond.
    assert elapsed < 0.5
