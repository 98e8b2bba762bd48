from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from onebin.items.api import expected_versions
from onebin.store.tokens import TokenStore

JSON = {"content-type": "application/json"}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **JSON}


def create(client: TestClient, token: str, **fields) -> dict:
    response = client.post("/api/items", json={"name": "item", **fields}, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text


def test_create_returns_201_location_etag_and_item(client, token):
    response = client.post(
        "/api/items",
        json={"name": "Hammer", "description": "claw", "tags": ["tool", "steel"]},
        headers=auth(token),
    )
    assert response.status_code == 201
    item = response.json()
    assert response.headers["location"] == f"/api/items/{item['id']}"
    assert response.headers["etag"] == f'"{item["id"]}-1"'
    assert item["name"] == "Hammer"
    assert item["tags"] == ["tool", "steel"]
    assert item["version"] == 1
    assert item["created_at"] == item["updated_at"]
    assert client.get(response.headers["location"]).json() == item


def test_get_missing_item_is_json_404(client):
    assert_error(client.get("/api/items/999"), 404, "not_found")


@pytest.mark.parametrize(
    "raw_id", ["abc", "0", "-1", "1.5", "99999999999999999999", "1e3", "%D9%A1%D9%A2"]
)
def test_get_non_integer_or_out_of_range_id_is_400(client, raw_id):
    assert_error(client.get(f"/api/items/{raw_id}"), 400, "invalid_id")


def test_get_with_matching_if_none_match_is_304(client, token):
    item = create(client, token)
    etag = f'"{item["id"]}-1"'
    response = client.get(f"/api/items/{item['id']}", headers={"if-none-match": f"W/{etag}"})
    assert response.status_code == 304
    assert response.content == b""


def test_writes_without_valid_token_are_401(client, token):
    item = create(client, token)
    no_token = client.post("/api/items", json={"name": "x"}, headers=JSON)
    assert_error(no_token, 401, "unauthorized")
    assert no_token.headers["www-authenticate"].startswith("Bearer")
    bad = {"authorization": "Bearer ob_wrong", **JSON}
    assert_error(
        client.patch(f"/api/items/{item['id']}", json={"name": "y"}, headers=bad),
        401,
        "unauthorized",
    )
    assert_error(client.delete(f"/api/items/{item['id']}", headers=bad), 401, "unauthorized")
    assert client.get(f"/api/items/{item['id']}").json()["name"] == "item"


def test_reads_need_no_token(client, token):
    create(client, token)
    assert client.get("/api/items").status_code == 200


def test_patch_changes_given_fields_and_bumps_version(client, token):
    item = create(client, token, description="keep me", tags=["a"])
    response = client.patch(
        f"/api/items/{item['id']}", json={"name": "renamed"}, headers=auth(token)
    )
    assert response.status_code == 200
    changed = response.json()
    assert changed["name"] == "renamed"
    assert changed["description"] == "keep me"
    assert changed["tags"] == ["a"]
    assert changed["version"] == 2
    assert changed["updated_at"] >= item["updated_at"]
    assert response.headers["etag"] == f'"{item["id"]}-2"'


def test_patch_with_stale_if_match_is_412_and_changes_nothing(client, token):
    item = create(client, token)
    url = f"/api/items/{item['id']}"
    first_etag = client.get(url).headers["etag"]
    ok = client.patch(
        url, json={"name": "editor A"}, headers={**auth(token), "if-match": first_etag}
    )
    assert ok.status_code == 200
    stale = client.patch(
        url, json={"name": "editor B"}, headers={**auth(token), "if-match": first_etag}
    )
    assert_error(stale, 412, "version_conflict")
    assert client.get(url).json()["name"] == "editor A"


def test_if_match_star_and_current_etag_succeed(client, token):
    item = create(client, token)
    url = f"/api/items/{item['id']}"
    star = client.patch(url, json={"name": "b"}, headers={**auth(token), "if-match": "*"})
    assert star.status_code == 200
    current = client.patch(
        url, json={"name": "c"}, headers={**auth(token), "if-match": star.headers["etag"]}
    )
    assert current.status_code == 200


def test_weak_if_match_never_matches(client, token):
    item = create(client, token)
    url = f"/api/items/{item['id']}"
    weak = client.patch(
        url, json={"name": "b"}, headers={**auth(token), "if-match": f'W/"{item["id"]}-1"'}
    )
    assert_error(weak, 412, "version_conflict")


def test_delete_honours_if_match_then_removes(client, token):
    item = create(client, token)
    url = f"/api/items/{item['id']}"
    client.patch(url, json={"name": "newer"}, headers=auth(token))
    stale = client.delete(url, headers={**auth(token), "if-match": f'"{item["id"]}-1"'})
    assert_error(stale, 412, "version_conflict")
    deleted = client.delete(url, headers={**auth(token), "if-match": f'"{item["id"]}-2"'})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(client.get(url), 404, "not_found")
    assert_error(client.delete(url, headers=auth(token)), 404, "not_found")


def test_list_pages_with_cursor_without_gaps_or_repeats(client, token):
    ids = [create(client, token, name=f"n{i}")["id"] for i in range(7)]
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/items", params=params).json()
        assert page["limit"] == 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_list_cursor_is_stable_when_items_are_added_between_pages(client, token):
    for i in range(4):
        create(client, token, name=f"n{i}")
    first = client.get("/api/items", params={"limit": "2"}).json()
    create(client, token, name="newcomer")
    second = client.get("/api/items", params={"limit": "2", "cursor": first["next_cursor"]}).json()
    assert [i["name"] for i in first["items"] + second["items"]] == ["n3", "n2", "n1", "n0"]


def test_list_searches_name_and_description_case_insensitively(client, token):
    create(client, token, name="Red hammer")
    create(client, token, name="Saw", description="cuts like a HAMMER never could")
    create(client, token, name="Drill")
    found = client.get("/api/items", params={"q": "hammer"}).json()["items"]
    assert sorted(item["name"] for item in found) == ["Red hammer", "Saw"]


@pytest.mark.parametrize("text", ['"', "cotton OR", "NEAR(", "name:x", "*", "a AND -b", "%_\\"])
def test_list_search_text_is_never_parsed_as_query_syntax(client, token, text):
    create(client, token, name="100% cotton")
    response = client.get("/api/items", params={"q": text})
    assert response.status_code == 200, response.text


def test_list_sorts_by_name_both_ways(client, token):
    for name in ["beta", "Alpha", "gamma"]:
        create(client, token, name=name)
    ascending = client.get("/api/items", params={"sort": "name"}).json()["items"]
    assert [i["name"] for i in ascending] == ["Alpha", "beta", "gamma"]
    descending = client.get("/api/items", params={"sort": "-name"}).json()["items"]
    assert [i["name"] for i in descending] == ["gamma", "beta", "Alpha"]


def test_list_sorts_names_as_sqlite_nocase_does_on_every_engine(client, token):
    """A-Z fold to a-z and nothing else does; then code point order; equal names by id."""
    names = ["zeta", "Éclair", "éclair", "_under", "[x", "Alpha", "ALPHA", "alpha", "beta", "Zulu"]
    ids = {create(client, token, name=name)["id"]: name for name in names}
    expected = [
        "[x",
        "_under",
        "Alpha",
        "ALPHA",
        "alpha",
        "beta",
        "zeta",
        "Zulu",
        "Éclair",
        "éclair",
    ]
    assert [i["name"] for i in walk_names(client, "name")] == expected
    backwards = walk_names(client, "-name")
    assert [i["name"] for i in backwards] == expected[::-1]
    assert sorted(i["id"] for i in backwards) == sorted(ids)


def walk_names(client: TestClient, sort: str) -> list[dict]:
    seen: list[dict] = []
    cursor = None
    for _ in range(20):
        params = {"sort": sort, "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/items", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def test_list_sorts_by_updated(client, token):
    first = create(client, token, name="first")
    create(client, token, name="second")
    client.patch(f"/api/items/{first['id']}", json={"tags": ["touched"]}, headers=auth(token))
    items = client.get("/api/items", params={"sort": "-updated_at"}).json()["items"]
    assert items[0]["name"] == "first"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "1000000000"},
        {"limit": "ten"},
        {"sort": "price"},
        {"cursor": "not-a-cursor"},
        {"q": "x" * 201},
        {"unknown": "1"},
    ],
)
def test_list_rejects_bad_query_with_400(client, params):
    assert_error(client.get("/api/items", params=params), 400, "invalid_query")


def test_list_rejects_cursor_from_another_sort(client, token):
    for i in range(3):
        create(client, token, name=f"n{i}")
    cursor = client.get("/api/items", params={"limit": "1"}).json()["next_cursor"]
    response = client.get("/api/items", params={"cursor": cursor, "sort": "name"})
    assert_error(response, 400, "invalid_query")


def test_huge_query_string_is_rejected_not_crashing(client):
    response = client.get("/api/items", params={"q": "y" * 60_000})
    assert_error(response, 400, "invalid_query")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"name": "x"', 400, "malformed_json"),
        (b"not json", 400, "malformed_json"),
        (b'{"name": "\xff\xfe"}', 400, "invalid_utf8"),
        (b'{"name": "\\ud800"}', 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b"[]", 422, "validation_error"),
        (b'{"name": 5}', 422, "validation_error"),
        (b'{"name": ""}', 422, "validation_error"),
        (b'{"name": "' + b"n" * 201 + b'"}', 422, "validation_error"),
        (b'{"name": "x", "description": "' + b"d" * 10_001 + b'"}', 422, "validation_error"),
        (b'{"name": "x", "tags": "a"}', 422, "validation_error"),
        (b'{"name": "x", "tags": [""]}', 422, "validation_error"),
        (b'{"name": "x", "colour": "red"}', 422, "validation_error"),
        (b'{"description": "no name"}', 422, "validation_error"),
    ],
)
def test_create_rejects_bad_bodies_with_4xx_json(client, token, body, status, code):
    response = client.post("/api/items", content=body, headers=auth(token))
    assert_error(response, status, code)
    assert client.get("/api/items").json()["items"] == []


def test_create_requires_json_content_type(client, token):
    response = client.post(
        "/api/items",
        content=b'{"name": "x"}',
        headers={"authorization": f"Bearer {token}", "content-type": "text/plain"},
    )
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_one_mebibyte_is_413(client, token):
    body = b'{"name": "x", "description": "' + b"d" * (1024 * 1024) + b'"}'
    assert_error(
        client.post("/api/items", content=body, headers=auth(token)), 413, "body_too_large"
    )


def test_body_over_limit_without_content_length_is_413(client, token):
    def chunks():
        yield b'{"name": "x", "description": "'
        for _ in range(20):
            yield b"d" * 65536
        yield b'"}'

    response = client.post("/api/items", content=chunks(), headers=auth(token))
    assert_error(response, 413, "body_too_large")


def test_patch_rejects_empty_and_unknown_fields(client, token):
    item = create(client, token)
    url = f"/api/items/{item['id']}"
    assert_error(client.patch(url, json={}, headers=auth(token)), 422, "validation_error")
    assert_error(client.patch(url, json={"id": 7}, headers=auth(token)), 422, "validation_error")
    assert_error(
        client.patch(url, json={"version": 9}, headers=auth(token)), 422, "validation_error"
    )
    assert client.get(url).json()["version"] == 1


def test_unknown_api_path_and_method_are_json_errors(client):
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.put("/api/items"), 405, "method_not_allowed")


def test_api_responses_carry_security_headers(client):
    response = client.get("/api/items")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_openapi_document_describes_every_operation(client):
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]["/api/items"]) == {"get", "post"}
    assert {"get", "patch", "delete"} <= set(document["paths"]["/api/items/{item_id}"])
    assert "get" in document["paths"]["/api/items/{item_id}/similar"]
    listing = document["paths"]["/api/items"]["get"]["parameters"]
    mode = next(parameter for parameter in listing if parameter["name"] == "mode")
    assert mode["schema"]["enum"] == ["text", "semantic", "hybrid"]
    item_schema = document["components"]["schemas"]["ItemCreate"]
    assert item_schema["properties"]["name"]["maxLength"] == 200
    assert item_schema["additionalProperties"] is False


def test_readyz_reports_each_check(client):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database_read": "ok", "database_write": "ok", "disk": "ok"}


def test_healthz_is_liveness_and_readyz_checks_the_database(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    db.close()
    assert client.get("/healthz").status_code == 200  # the process is alive
    response = client.get("/readyz")
    assert_error(response, 503, "not_ready")
    assert response.json()["checks"]["database_read"] == "database is not open"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_answer_get_and_head_only(client, path):
    assert client.head(path).status_code == 200
    response = client.post(path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD"


@given(st.text(max_size=80))
def test_expected_versions_parses_any_if_match_without_error(header):
    versions = expected_versions(header, 7)
    assert versions is None or all(isinstance(v, int) and v >= 0 for v in versions)


def test_expected_versions_reads_strong_tags_of_this_item_only():
    assert expected_versions(None, 7) is None
    assert expected_versions("*", 7) is None
    assert expected_versions('"7-2", W/"7-3", "8-4", "7-x"', 7) == {2}


@pytest.mark.parametrize(
    "if_match",
    ['"1-' + "9" * 5000 + '"', '"1-01"', 'W/"1-1"', "garbage", '"1-1,x"', ""],
)
def test_if_match_that_names_no_current_version_is_412_never_500(client, token, if_match):
    """A 4,301-digit version once made int() raise and the API answer 500; a leading
    zero matched version 1, which strong comparison must not."""
    create(client, token, name="kept")
    response = client.patch(
        "/api/items/1", json={"name": "changed"}, headers={**auth(token), "if-match": if_match}
    )
    assert_error(response, 412, "version_conflict")
    assert client.get("/api/items/1").json()["name"] == "kept"


def test_token_endpoint_names_the_tokens_owner_and_refuses_others(client, token, db):
    assert client.get("/api/token", headers={"Authorization": f"Bearer {token}"}).json() == {
        "name": "tests"
    }
    assert_error(client.get("/api/token"), 401, "unauthorized")
    assert_error(
        client.get("/api/token", headers={"Authorization": "Bearer ob_not-a-real-token"}),
        401,
        "unauthorized",
    )
    TokenStore(db).revoke("tests")
    revoked = client.get("/api/token", headers={"Authorization": f"Bearer {token}"})
    assert_error(revoked, 401, "unauthorized")
    assert "/api/token" in client.get("/api/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"name": "trailing\n"}, "name"),  # what Python's $ would let through
        ({"name": "\x1b[31mred"}, "name"),
        ({"name": "gpj\u202eexe"}, "name"),
        ({"name": "ok", "description": "bell\x07"}, "description"),
        ({"name": "ok", "tags": ["fine", "tab\there"]}, "tags"),
    ],
)
def test_control_and_bidi_characters_are_refused(client, token, body, field):
    auth = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/items", json=body, headers=auth)
    assert_error(created, 422, "validation_error")
    assert field in created.json()["error"]["message"]
    item = client.post("/api/items", json={"name": "plain"}, headers=auth).json()
    patched = client.patch(f"/api/items/{item['id']}", json=body, headers=auth)
    assert_error(patched, 422, "validation_error")


def test_a_description_keeps_its_line_breaks_and_tabs(client, token):
    auth = {"Authorization": f"Bearer {token}"}
    text = "first line\r\nsecond\tline\n"
    created = client.post("/api/items", json={"name": "n", "description": text}, headers=auth)
    assert created.status_code == 201
    assert created.json()["description"] == text
