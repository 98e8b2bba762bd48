"""BERT's uncased tokenizer in pure Python: text -> the token ids of the embedding table.

The table (``onebin.semantic.model``) was distilled from all-MiniLM-L6-v2, whose vocabulary
is BERT's uncased WordPiece one, so a text must be cut exactly as Hugging Face's
``tokenizers`` cuts it (BertNormalizer, BertPreTokenizer, WordPiece). These few functions
do that instead of the ``tokenizers`` package, a Rust extension of several MB per platform
in every executable; tests/semantic/tokenizer_cases.json, written by the real tokenizer at
build time, keeps them identical.

The steps:

1. clean: control and format characters (Unicode category C*) and U+FFFD are dropped, every
   other whitespace character becomes a space;
2. every CJK ideograph becomes a word of its own (Chinese is not written with spaces);
3. accents go: NFD decomposition, then combining marks (category Mn) are dropped;
4. lower case, character by character (a capital sigma that ends a word too becomes a
   small sigma, never a final one);
5. words are split at whitespace, and each punctuation character (category P*, or ASCII
   punctuation such as ``$+<=>^`|~``) is a word of its own;
6. WordPiece: each word is cut greedily into the longest pieces in the vocabulary, the
   pieces after the first prefixed ``##``; a word with a part that matches nothing, or
   longer than 100 characters, is one ``[UNK]``.

One difference, on purpose: Hugging Face matches the special tokens ``[UNK]`` and
``[PAD]`` written in the text itself; here they are plain words (``[``, ``un``, ``##k``,
``]``), as a user who types them means.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Tokens embedded per text. Work is bounded whatever the text's size (a 1 MB description
# costs what its first few kB cost), and a mean over more tokens adds little: what a text
# is about is said in its first paragraphs. 512 is model2vec's default too, so the
# distilled model was judged on texts cut the same way.
MAX_TOKENS = 512
# Characters looked at: cleaning and normalising are linear in the text, so the text is
# cut before them. An English token averages about 4-5 characters with its space, so 512
# tokens end well before 8 characters per token.
MAX_CHARS = 8 * MAX_TOKENS
MAX_WORD_CHARS = 100
UNK = "[UNK]"
CONTINUATION = "##"

_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# ASCII control characters go, tab, newline and carriage return become spaces.
_ASCII_CLEAN = {code: " " if chr(code) in "\t\n\r" else None for code in (*range(0x20), 0x7F)}
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# The ideograph blocks BERT spaces out (its _is_chinese_char), as code point ranges.
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0x2F800, 0x2FA1F),
)


@dataclass(frozen=True)
class Vocabulary:
    """Token -> id, from the vocabulary file's lines (line n is id n)."""

    ids: dict[str, int]
    unk: int
    # The longest token, in characters: no piece longer than this can match, which keeps
    # WordPiece's longest-match search short for long words.
    longest: int

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> Vocabulary:
        ids = {token: index for index, token in enumerate(tokens)}
        return cls(ids=ids, unk=ids[UNK], longest=max(map(len, ids)))


def _clean_run(match: re.Match[str]) -> str:
    """Steps 1 and 2 for a run of non-ASCII characters."""
    kept = []
    for char in match.group():
        if char == "\ufffd" or unicodedata.category(char)[0] == "C":
            continue
        if char.isspace():
            kept.append(" ")
        elif char >= "\u3400" and any(low <= ord(char) <= high for low, high in _CJK):
            kept.append(f" {char} ")
        else:
            kept.append(char)
    return "".join(kept)


def _strip_marks_run(match: re.Match[str]) -> str:
    """Step 3's second half for a run of non-ASCII characters."""
    return "".join(char for char in match.group() if unicodedata.category(char) != "Mn")


def normalise(text: str) -> str:
    """Steps 1-4: the text as BERT's uncased normaliser leaves it."""
    text = text.translate(_ASCII_CLEAN)
    if text.isascii():
        return text.lower()
    text = _NON_ASCII.sub(_clean_run, text)
    text = _NON_ASCII.sub(_strip_marks_run, unicodedata.normalize("NFD", text))
    # str.lower() gives a final sigma for a capital sigma that ends a word; BERT lowers
    # character by character, which always gives the small sigma.
    return text.replace("\u03a3", "\u03c3").lower()


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or (
        not char.isascii() and unicodedata.category(char)[0] == "P"
    )


def words(normalised: str) -> Iterator[str]:
    """Step 5: whitespace-separated words, each punctuation character a word of its own."""
    for chunk in normalised.split():
        if chunk.isalnum():
            yield chunk
            continue
        start = 0
        for index, char in enumerate(chunk):
            if _is_punctuation(char):
                if start < index:
                    yield chunk[start:index]
                yield char
                start = index + 1
        if start < len(chunk):
            yield chunk[start:]


def wordpiece(word: str, vocabulary: Vocabulary) -> list[int]:
    """Step 6: the ids of one word's pieces, greedy longest match first."""
    ids = vocabulary.ids
    whole = ids.get(word)
    if whole is not None:
        return [whole]
    if len(word) > MAX_WORD_CHARS:
        return [vocabulary.unk]
    pieces = []
    start = 0
    while start < len(word):
        prefix = CONTINUATION if start else ""
        end = min(len(word), start + vocabulary.longest - len(prefix))
        while end > start:
            piece = ids.get(prefix + word[start:end])
            if piece is not None:
                pieces.append(piece)
                break
            end -= 1
        else:
            return [vocabulary.unk]
        start = end
    return pieces


def token_ids(text: str, vocabulary: Vocabulary, limit: int = MAX_TOKENS) -> list[int]:
    """The ids of the text's first ``limit`` tokens, ``[UNK]`` included (as Hugging Face
    counts them when it truncates)."""
    ids: list[int] = []
    for word in words(normalise(text[:MAX_CHARS])):
        ids += wordpiece(word, vocabulary)
        if len(ids) >= limit:
            return ids[:limit]
    return ids
