from __future__ import annotations

import array
import json
import math
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from onebin.semantic import model
from onebin.semantic.model import DIMENSIONS, MODEL_ID, ModelDamaged, embed, quantise

# Written by tools/make_model.py: model2vec's own StaticModel.encode of these texts.
CASES = json.loads(Path(__file__).with_name("model_cases.json").read_text())
WEIGHTS = resources.files("onebin.semantic") / "weights"


def values(vector: bytes) -> array.array:
    return array.array("b", vector)


def cosine(a: bytes, b: bytes) -> float:
    x, y = values(a), values(b)
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    return dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))


def run_isolated(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, in a network namespace of its own (no interface
    but a down loopback), with an audit hook that fails any connect or name lookup."""
    guard = (
        "import sys\n"
        "def refuse(event, args):\n"
        "    if event in ('socket.connect', 'socket.getaddrinfo'):\n"
        "        raise RuntimeError(f'network use: {event} {args}')\n"
        "sys.addaudithook(refuse)\n"
    )
    return subprocess.run(
        ["unshare", "--net", sys.executable, "-c", guard + code, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embed_gives_dimensions_int8_of_length_127():
    vector = embed("Claw hammer, 16 oz: forged steel head, fibreglass handle.")
    assert len(vector) == DIMENSIONS
    assert 126 < math.sqrt(sum(x * x for x in values(vector))) < 128


def test_embed_is_deterministic():
    text = "stainless steel water bottle, keeps drinks cold for 24 hours"
    assert embed(text) == embed(text)
    assert embed(text) != embed("stainless steel water bottle")


@pytest.mark.parametrize(
    ("query", "related", "unrelated"),
    [
        ("claw hammer 16 oz", "tool to drive nails", "cotton summer dress"),
        ("puppy food for small breeds", "dog kibble", "stainless steel kettle"),
        (
            "wireless noise-cancelling headphones",
            "something to listen to music on the train",
            "garden hose with spray nozzle",
        ),
        ("umbrella", "keeps you dry in the rain", "laptop stand"),
    ],
)
def test_embed_puts_related_texts_nearer(query, related, unrelated):
    assert cosine(embed(query), embed(related)) > cosine(embed(query), embed(unrelated)) + 0.1


@pytest.mark.parametrize("text", ["", "   ", "\x00\u200b", "🎉"])
def test_embed_of_a_text_without_known_tokens_is_zeros(text):
    assert embed(text) == bytes(DIMENSIONS)


def test_quantise_scales_to_127_and_keeps_zero():
    assert values(quantise(array.array("f", [3.0, -4.0]))) == array.array("b", [76, -102])
    assert quantise(array.array("f", [0.0] * 4)) == bytes(4)


def test_embed_agrees_with_model2vec():
    assert len(CASES) >= 20
    for case in CASES:
        expected = case["vector"]
        got = values(embed(case["text"]))
        dot = sum(p * q for p, q in zip(got, expected, strict=True))
        norm = math.sqrt(sum(p * p for p in got) * sum(q * q for q in expected))
        assert dot / norm >= 0.99, case["text"]


def test_model_id_and_licence_name_these_weights():
    meta = json.loads((WEIGHTS / "model.json").read_text())
    assert meta["id"] == MODEL_ID
    assert MODEL_ID.startswith(f"minilm-l6-static-{DIMENSIONS}-")
    assert meta["dimensions"] == DIMENSIONS
    assert meta["source"]["licence"] == "Apache-2.0"
    # Apache-2.0 asks for a copy of the licence beside the work derived from it.
    licence = (WEIGHTS / meta["source"]["licence_file"]).read_text()
    assert "Apache License" in licence
    assert "Version 2.0, January 2004" in licence


def test_damaged_weights_are_refused(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    shutil.copytree(Path(str(WEIGHTS)), weights)
    table = bytearray((weights / "embeddings.i8").read_bytes())
    table[1000] ^= 1
    (weights / "embeddings.i8").write_bytes(table)
    monkeypatch.setattr(model, "_WEIGHTS", weights)
    monkeypatch.setattr(model, "_table", None)
    with pytest.raises(ModelDamaged, match=r"embeddings\.i8"):
        embed("hammer")


def test_embed_works_without_a_network():
    done = run_isolated(
        "import onebin.semantic.model as model\nprint(model.embed(sys.argv[1]).hex())",
        "claw hammer",
    )
    assert done.returncode == 0, done.stderr
    assert bytes.fromhex(done.stdout) == embed("claw hammer")


def test_isolation_catches_network_use():
    """The guard of the test above works: a name lookup or a connect fails."""
    for attempt in (
        "import socket; socket.getaddrinfo('example.com', 443)",
        "import socket; socket.create_connection(('127.0.0.1', 9))",
    ):
        done = run_isolated(attempt)
        assert done.returncode != 0
        assert "network use" in done.stderr


def test_import_reads_no_table_and_first_embeds_load_it_once():
    """The table is read on the first embed, not at import (start-up stays fast), and
    threads that embed at once share one load."""
    done = run_isolated(
        "import threading\n"
        "reads = []\n"
        "sys.addaudithook(lambda event, args: event == 'open'"
        " and str(args[0]).endswith('embeddings.i8') and reads.append(1))\n"
        "import onebin.semantic.model as model\n"
        "at_import = len(reads)\n"
        "barrier = threading.Barrier(8)\n"
        "vectors = []\n"
        "def worker():\n"
        "    barrier.wait()\n"
        "    vectors.append(model.embed('claw hammer'))\n"
        "threads = [threading.Thread(target=worker) for _ in range(8)]\n"
        "[thread.start() for thread in threads]\n"
        "[thread.join() for thread in threads]\n"
        "print(at_import, len(reads), len(vectors), len(set(vectors)))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1", "8", "1"]
