from __future__ import annotations

from starlette.requests import Request
from starlette.testclient import TestClient

from onebin.app import answer_json, build_api
from onebin.http import JsonResponse, resource


async def broken(request: Request) -> JsonResponse:
    raise RuntimeError("secret internal detail")


async def fine(request: Request) -> JsonResponse:
    return JsonResponse({"ok": True})


def api_client() -> TestClient:
    api = answer_json(
        build_api(
            [
                resource("/api/broken", {"GET": broken}),
                resource("/api/fine", {"GET": fine, "POST": fine}),
            ]
        )
    )
    return TestClient(api, raise_server_exceptions=False)


def test_unhandled_error_is_json_500_without_details():
    response = api_client().get("/api/broken")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


def test_405_is_json_and_allow_lists_every_method_of_the_path():
    response = api_client().delete("/api/fine")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_head_is_answered_like_get_without_body():
    response = api_client().head("/api/fine")
    assert response.status_code == 200
    assert response.content == b""
