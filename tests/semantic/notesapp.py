"""An application of its own that searches its rows by meaning through onebin's public
API only (docs/library.md, "Search by meaning"): the test of that contract."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from onebin import App, Context, JsonResponse, Migration, Semantic, read_json, resource


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


def note_texts(conn, ids):
    listed = ", ".join(str(int(i)) for i in ids)
    rows = conn.execute(f"SELECT id, text FROM notes WHERE id IN ({listed})")
    return {row["id"]: row["text"] for row in rows}


NOTES = Semantic("notes", text=note_texts)


def routes(context: Context):
    search = context.semantic["notes"]
    mark = "?" if context.db.engine == "sqlite" else "%s"

    async def add(request: Request) -> Response:
        note = await read_json(request, NoteIn, context.body_limits)

        def insert(conn):
            row = conn.execute(
                f"INSERT INTO notes (text) VALUES ({mark}) RETURNING id", (note.text,)
            ).fetchone()
            search.changed(conn, row["id"])
            return row["id"]

        return JsonResponse({"id": await context.db.write(insert)}, 201)

    async def remove(request: Request) -> Response:
        note_id = int(request.path_params["note_id"])

        def delete(conn):
            conn.execute(f"DELETE FROM notes WHERE id = {mark}", (note_id,))
            search.changed(conn, note_id)

        await context.db.write(delete)
        return Response(status_code=204)

    async def find(request: Request) -> Response:
        matches = await search.nearest(request.query_params["q"], limit=3)
        return JsonResponse([{"id": m.id, "score": m.score} for m in matches])

    async def similar(request: Request) -> Response:
        matches = await search.similar(int(request.path_params["note_id"]), limit=3)
        return JsonResponse([m.id for m in matches])

    return [
        resource("/notes", {"GET": find, "POST": add}),
        resource("/notes/{note_id}", {"DELETE": remove}),
        resource("/similar/{note_id}", {"GET": similar}),
    ]


app = App(
    name="notes",
    migrations=(
        Migration(
            "notes",
            1,
            "notes",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL)",
            postgresql="CREATE TABLE notes (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "text TEXT NOT NULL)",
        ),
    ),
    routes=routes,
    semantic=(NOTES,),
)
