"""An app of its own (tests/semantic/notesapp.py) finds its rows by meaning on a real
``onebin serve`` with ``--app``, through the public API alone, on each engine."""

from __future__ import annotations

import httpx
import pytest

from onebin import App, Semantic
from onebin.errors import AppError
from tests.support import ServerProcess, wait_until

NOTES = [
    "Remember to buy milk, eggs and bread on the way home",
    "The quarterly budget review moved to Thursday afternoon",
    "Book the vet for the dog's vaccination next month",
    "Ideas for the garden: plant tulips and fix the fence",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def notes(request, tmp_path):
    env = {"ONEBIN_APP": "tests.semantic.notesapp:app"}
    if request.param == "postgresql":
        env["ONEBIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    server = ServerProcess(tmp_path / "data", env=env)
    with server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def found(client: httpx.Client, q: str) -> list[int]:
    response = client.get("/notes", params={"q": q})
    assert response.status_code == 200
    return [match["id"] for match in response.json()]


def test_an_apps_rows_are_found_by_meaning_and_leave_when_deleted(notes):
    ids = [notes.post("/notes", json={"text": text}).json()["id"] for text in NOTES]
    wait_until(lambda: len(found(notes, "groceries")) == 3, what="the notes to be embedded")
    assert found(notes, "pick up groceries")[0] == ids[0]
    assert found(notes, "appointment for my pet")[0] == ids[2]
    assert notes.get(f"/similar/{ids[0]}").json()[0] != ids[0]
    assert notes.delete(f"/notes/{ids[2]}").status_code == 204
    wait_until(
        lambda: ids[2] not in found(notes, "appointment for my pet"),
        what="the deleted note to leave the search",
    )


def text_of(conn, ids):
    return {}


@pytest.mark.parametrize(
    ("semantic", "message"),
    [
        ((Semantic("a", text=text_of), Semantic("a", text=text_of)), "same name"),
        (("notes",), "semantic must be a sequence of Semantic"),
    ],
)
def test_bad_semantic_declarations_are_refused(semantic, message):
    with pytest.raises(AppError, match=message):
        App(name="x", semantic=semantic)


@pytest.mark.parametrize("name", ["", "Notes", "1st", "x" * 65, "a b"])
def test_a_collection_name_is_checked(name):
    with pytest.raises(AppError, match="must be 1-64 of a-z"):
        Semantic(name, text=text_of)


def test_a_collection_needs_a_text_function():
    with pytest.raises(AppError, match="text must be a function"):
        Semantic("notes", text="SELECT text FROM notes")  # type: ignore[arg-type]
