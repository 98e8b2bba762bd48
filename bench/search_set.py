"""A labelled set for measuring search quality, and the rules that keep it honest.

``bench/search_set.json`` holds the catalogue of a general store (``items``, each with a
``key``) and ``queries``, each with the one item a shop assistant would hand over for it
(``answer``). ``bench/search.py`` reports top-1 and MRR per search mode over it. A query is
one of two kinds:

- ``exact``: words the shopper knows from the item, as typed by someone who knows what
  they want ("bamboo cutting board"). Every word is in the answer as typed (or begins
  one of its words), and no other item has them all as prominently (in its name, when
  the answer has them in its name), so the answer is the obvious best keyword match;
- ``paraphrase``: the need in the shopper's own words ("keep a crawling toddler off the
  steps" for a safety gate). It shares no word, nor a word's stem, with its answer, so
  only a search that understands meaning can find it. Function words on the query side
  (``STOP_WORDS``) do not count.

The rules are checked here rather than trusted, because one careless edit of an item's
description can quietly turn a paraphrase into a keyword match and flatter text search.

Run: ``.venv/bin/python bench/search_set.py`` prints a summary and any problems (exit 1).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypedDict

SET_PATH = Path(__file__).with_name("search_set.json")

MIN_ITEMS = 300
MIN_QUERIES_PER_KIND = 30
KINDS = ("exact", "paraphrase")

# Words that carry no meaning of their own (and the pieces of "don't", "I'm"...);
# ignored on the query side only, so a paraphrase may say "something for my..." even
# when its item says "for".
STOP_WORDS = frozenset(
    """
    a an the to for of in on my me i with and or that something thing things what it is
    can you your from at by be are am was were will so this these those we our us they
    them their he she his her its do does how which who when where there if as into onto
    out up off about than too very just some any all one not no
    s t m d ll re ve don
    """.split()  # noqa: SIM905 (as prose the list reads at a glance)
)

# Endings removed before comparing two words ("hangs"/"hang", "batteries"/"battery",
# "knives"/"knife"); a trailing "e" is dropped as well so "bake"/"baking" match.
SUFFIXES = (("s", ""), ("es", ""), ("ing", ""), ("ed", ""), ("ies", "y"), ("ves", "f"))
MIN_PREFIX = 4  # "hang" is "hanging"; "cup" is not "cupboard"

KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
TAG = re.compile(r"^[a-z]{1,20}$")
SENTENCE_END = re.compile(r"[.!?](\s|$)")


class Item(TypedDict):
    key: str
    name: str
    description: str
    tags: list[str]


class Query(TypedDict):
    text: str
    kind: Literal["exact", "paraphrase"]
    answer: str


class SearchSet(TypedDict):
    items: list[Item]
    queries: list[Query]


def load(path: Path = SET_PATH) -> SearchSet:
    """The set as stored; ``problems`` says whether it keeps its rules."""
    return json.loads(path.read_text(encoding="utf-8"))


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: "Chef's knife, 20cm" -> chef s knife 20cm."""
    return re.findall(r"[a-z0-9]+", text.lower())


@cache
def stems(word: str) -> frozenset[str]:
    """The word and what is left of it without a plural, "-ing" or "-ed" ending."""
    forms = {word}
    for suffix, replacement in SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            forms.add(word[: -len(suffix)] + replacement)
    return frozenset(forms | {form[:-1] for form in forms if form.endswith("e") and len(form) > 3})


def same_word(a: str, b: str) -> bool:
    """Whether two words count as one: equal stems, or one starts the other (4+ letters)."""
    if a[0] != b[0]:  # neither rule can hold; most pairs end here
        return False
    stems_a, stems_b = stems(a), stems(b)
    if stems_a & stems_b:
        return True
    return any(
        (len(y) >= MIN_PREFIX and x.startswith(y)) or (len(x) >= MIN_PREFIX and y.startswith(x))
        for x in stems_a
        for y in stems_b
    )


def item_words(item: Item) -> set[str]:
    return set(words(" ".join([item["name"], item["description"], *item["tags"]])))


def content_words(query: str) -> list[str]:
    return [word for word in words(query) if word not in STOP_WORDS]


def shared_words(query: str, item: Item) -> list[str]:
    """The query's content words that the item also has (under ``same_word``)."""
    vocabulary = item_words(item)
    return [w for w in content_words(query) if any(same_word(w, v) for v in vocabulary)]


def _well_formed_item(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) == {"key", "name", "description", "tags"}
        and all(isinstance(item[field], str) for field in ("key", "name", "description"))
        and isinstance(item["tags"], list)
        and all(isinstance(tag, str) for tag in item["tags"])
    )


def _well_formed_query(query: Any) -> bool:
    return (
        isinstance(query, dict)
        and set(query) == {"text", "kind", "answer"}
        and all(isinstance(value, str) for value in query.values())
    )


def _item_problems(item: Item) -> list[str]:
    key, name, description, tags = item["key"], item["name"], item["description"], item["tags"]
    found = []
    if not KEY.match(key):
        found.append(f"item {key!r}: key is not lower-case-with-hyphens")
    if not 1 <= len(name) <= 200 or not 2 <= len(name.split()) <= 8:
        found.append(f"item {key!r}: name needs 2-8 words and 1-200 characters")
    if not 10 <= len(description.split()) <= 50:
        found.append(f"item {key!r}: description needs 10-50 words")
    if not 1 <= len(SENTENCE_END.findall(description)) <= 3:
        found.append(f"item {key!r}: description needs 1-3 sentences")
    if len(tags) > 3 or len(set(tags)) != len(tags):
        found.append(f"item {key!r}: up to 3 distinct tags")
    found += [
        f"item {key!r}: tag {t!r} is not a short lower-case word" for t in tags if not TAG.match(t)
    ]
    return found


def _holders(items: dict[str, Item]) -> Callable[[str], set[str]]:
    """Which items have a word (under ``same_word``), from an index built once."""
    index: dict[str, set[str]] = {}
    for key, item in items.items():
        for word in item_words(item):
            index.setdefault(word, set()).add(key)

    @cache
    def holders(word: str) -> set[str]:
        return set().union(*(keys for v, keys in index.items() if same_word(word, v)))

    return holders


def _query_problems(
    query: Query, items: dict[str, Item], holders: Callable[[str], set[str]]
) -> list[str]:
    text, kind, answer = query["text"], query["kind"], query["answer"]
    if kind not in KINDS:
        return [f"query {text!r}: kind must be one of {', '.join(KINDS)}"]
    if answer not in items:
        return [f"query {text!r}: answer {answer!r} is no item's key"]
    if not 2 <= len(text.split()) <= 8:
        return [f"query {text!r}: needs 2-8 words"]
    shared = shared_words(text, items[answer])
    if kind == "paraphrase":
        return [f"paraphrase {text!r} shares {', '.join(shared)} with {answer!r}"] if shared else []
    found = []
    # Literally: a word typed in full or begun ("pyjama" for "pyjamas"), never "pyjamas"
    # for "pyjama", which only stemming would find.
    vocabulary = item_words(items[answer])
    missing = [w for w in content_words(text) if not any(v.startswith(w) for v in vocabulary)]
    if not content_words(text) or missing:
        found.append(f"exact query {text!r}: {answer!r} lacks {', '.join(missing) or text}")
    having_all = set(items).intersection(*(holders(w) for w in content_words(text)))
    rivals = [
        key for key in sorted(having_all - {answer}) if _rivals(text, items[key], items[answer])
    ]
    if rivals:
        found.append(f"exact query {text!r} matches {', '.join(rivals)} as well as the answer")
    return found


def _in_name(query: str, item: Item) -> bool:
    names = words(item["name"])
    return all(any(same_word(w, v) for v in names) for w in content_words(query))


def _rivals(query: str, item: Item, answer: Item) -> bool:
    """Whether ``item``, having every word of an exact query, has them as prominently.

    A word in the name outranks the same word in a description, so "tennis balls"
    may also be in the table tennis set's description but not in its name.
    """
    return _in_name(query, item) or not _in_name(query, answer)


def _repeated(label: str, values: list[str]) -> list[str]:
    return [f"{label} {value!r} appears {n} times" for value, n in Counter(values).items() if n > 1]


def problems(data: Any) -> list[str]:
    """Every broken rule of a search set, one sentence each; empty when it is usable."""
    if not (
        isinstance(data, dict)
        and set(data) == {"items", "queries"}
        and all(isinstance(data[part], list) for part in data)
    ):
        return ["the set is an object with exactly two lists, items and queries"]
    found = [
        f"malformed {part[:-1]} {entry!r:.60}"
        for part, well_formed in (("items", _well_formed_item), ("queries", _well_formed_query))
        for entry in data[part]
        if not well_formed(entry)
    ]
    items: list[Item] = [item for item in data["items"] if _well_formed_item(item)]
    queries: list[Query] = [query for query in data["queries"] if _well_formed_query(query)]
    for item in items:
        found += _item_problems(item)
    found += _repeated("item key", [item["key"] for item in items])
    found += _repeated("item name", [item["name"].lower() for item in items])
    found += _repeated("query", [query["text"].lower() for query in queries])
    by_key = {item["key"]: item for item in items}
    holders = _holders(by_key)
    for query in queries:
        found += _query_problems(query, by_key, holders)
    if len(items) < MIN_ITEMS:
        found.append(f"items: {len(items)}; at least {MIN_ITEMS} are needed")
    kinds = Counter(query["kind"] for query in queries)
    found += [
        f"{kind} queries: {kinds[kind]}; at least {MIN_QUERIES_PER_KIND} are needed"
        for kind in KINDS
        if kinds[kind] < MIN_QUERIES_PER_KIND
    ]
    return found


def summary(data: SearchSet) -> list[str]:
    """What the set covers: sizes, categories (an item's first tag) and query lengths."""
    category = {item["key"]: (item["tags"] or ["-"])[0] for item in data["items"]}
    categories = sorted(set(category.values()))
    lines = [f"{len(category)} items in {len(categories)} categories: " + ", ".join(categories)]
    for kind in KINDS:
        queries = [q for q in data["queries"] if q["kind"] == kind]
        lengths = [len(q["text"].split()) for q in queries]
        answered = {category[q["answer"]] for q in queries}
        lines.append(
            f"{len(queries)} {kind} queries of {min(lengths)}-{max(lengths)} words "
            f"(mean {sum(lengths) / len(lengths):.1f}), answers in {len(answered)} categories"
        )
    return lines


def main() -> int:
    data = load()
    found = problems(data)
    if not found:
        print("\n".join(summary(data)))
    print("\n".join(found) if found else "no problems")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
