"""Text -> vector, with the embedding model that ships inside onebin.

The model is a static table: one row per token of BERT's uncased vocabulary, distilled by
model2vec from all-MiniLM-L6-v2 at build time (tools/make_model.py, docs/model.md). A
text's vector is the mean of its tokens' rows, L2-normalised and stored as int8. That is
tens of microseconds of Python instead of a transformer run, and the files are read
with importlib.resources, so they come from the package wherever it lies (a wheel, a
zipapp, a one-file executable) and never from the network.

Nothing is read at import but model.json (about a kilobyte, for ``MODEL_ID``): the
table (7.6 MB) is read and checked on the first ``embed``, under a lock, so commands
that never embed start as fast as before.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import struct
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import simsimd

from onebin.errors import OnebinError
from onebin.semantic.tokenizer import Vocabulary, token_ids

DIMENSIONS = 256
_WEIGHTS = resources.files("onebin.semantic") / "weights"
# Rows kept as float32 copies, at most (about 1 kB each). A text's tokens are summed by
# SIMD kernels on float32, and converting an int8 row costs far more than adding it;
# the tokens of a catalogue repeat, so most are converted once. Bounded, so memory stays
# a few MB however many different tokens come by.
_CACHED_ROWS = 8192
_ROW = struct.Struct(f"{DIMENSIONS}b")


class ModelDamaged(OnebinError):
    """The model files inside the package do not match model.json (a broken build)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"embedding model file {name}: {problem}")
        self.name = name
        self.problem = problem


def _read_meta() -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((_WEIGHTS / "model.json").read_text())
    return meta


# Names the weights: stored vectors carry it, and a different one makes onebin embed
# everything again (vectors of two models cannot be compared).
MODEL_ID: str = _read_meta()["id"]


def quantise(vector: Any) -> bytes:
    """A float32 vector (any buffer) scaled to length 127 and rounded to int8; all zeros
    for a zero vector.

    int8 keeps a vector in DIMENSIONS bytes, and a dot product of two of these is about
    the cosine times 127², so search compares them without converting them back."""
    norm = math.sqrt(simsimd.dot(vector, vector))
    if not norm:
        return bytes(len(memoryview(vector)))
    scaled = simsimd.wsum(vector, vector, alpha=127 / norm, beta=0.0)
    return array.array("b", map(round, memoryview(scaled))).tobytes()


@dataclass
class _Table:
    vocabulary: Vocabulary
    rows: bytes
    scales: tuple[float, ...]
    _floats: dict[int, array.array[float]] = field(init=False, default_factory=dict)

    def row(self, token: int) -> array.array[float]:
        """The token's int8 row as float32 (its scale is applied when summing)."""
        floats = self._floats.get(token)
        if floats is None:
            if len(self._floats) >= _CACHED_ROWS:
                self._floats.clear()
            floats = array.array("f", _ROW.unpack_from(self.rows, token * DIMENSIONS))
            self._floats[token] = floats
        return floats

    def embed(self, text: str) -> bytes:
        unk = self.vocabulary.unk
        tokens = [token for token in token_ids(text, self.vocabulary) if token != unk]
        if not tokens:
            return bytes(DIMENSIONS)
        # The mean's direction is the sum's, and only the direction is kept.
        total: Any = array.array("f", bytes(4 * DIMENSIONS))
        for token in tokens:
            total = simsimd.wsum(total, self.row(token), alpha=1.0, beta=self.scales[token])
        return quantise(total)


def _load() -> _Table:
    meta = _read_meta()
    data = {name: (_WEIGHTS / name).read_bytes() for name in meta["files"]}
    for name, digest in meta["files"].items():
        if hashlib.sha256(data[name]).hexdigest() != digest:
            raise ModelDamaged(name, "its sha256 differs from model.json's")
    if meta["dimensions"] != DIMENSIONS:
        raise ModelDamaged("model.json", f"{meta['dimensions']} dimensions, not {DIMENSIONS}")
    count = meta["rows"]
    rows, scales = data["embeddings.i8"], data["scales.f16"]
    vocabulary = Vocabulary.from_tokens(data["vocab.txt"].decode().splitlines())
    if len(rows) != count * DIMENSIONS or len(scales) != 2 * count:
        raise ModelDamaged("embeddings.i8", f"not {count} rows of {DIMENSIONS}")
    if len(vocabulary.ids) != count:
        raise ModelDamaged("vocab.txt", f"not {count} tokens")
    return _Table(vocabulary, rows, struct.unpack(f"<{count}e", scales))


_lock = threading.Lock()
_table: _Table | None = None


def _loaded() -> _Table:
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _load()
    return _table


def embed(text: str) -> bytes:
    """The text's vector: DIMENSIONS signed bytes, length 127 (see ``quantise``).

    A text with no known token (empty, only punctuation or unknown symbols) gives all
    zeros, which is no nearer to one text than to another. Only the first
    ``tokenizer.MAX_TOKENS`` tokens count. Thread-safe; the first call reads the model."""
    return _loaded().embed(text)
