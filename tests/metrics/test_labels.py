"""Label values: route templates, never raw paths; a few fixed words for the rest."""

from __future__ import annotations

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from onebin.compose import build_api
from onebin.http import JsonResponse
from onebin.metrics.labels import (
    RouteLabels,
    method_label,
    path_label,
    refusal_cause,
    route_templates,
    without_converters,
)
from onebin.types import Receive, Scope, Send


async def ok(request):
    return JsonResponse({})


async def files(scope: Scope, receive: Receive, send: Send) -> None:
    await JsonResponse({})(scope, receive, send)


ROUTES = [
    Route("/api/items", ok, methods=["GET", "POST"]),
    Route("/api/items/{item_id}", ok, methods=["GET"]),
    Mount(
        "/api/shops/{shop}",
        routes=[Route("/orders/{order_id}", ok), Mount("/admin", routes=[Route("/", ok)])],
    ),
    Mount("/files", app=files),
]


def labels_of(requests: list[tuple[str, str]]) -> list[str]:
    """The route label of each (method, path) served by onebin's real API router."""
    labels = RouteLabels()
    seen: list[str] = []
    api = build_api(ROUTES)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await api(scope, receive, sending)
        seen.append(labels.label(scope, status))

    client = TestClient(app)
    for method, path in requests:
        client.request(method, path)
    return seen


def test_route_labels_are_templates_with_mount_prefixes_not_paths():
    assert labels_of(
        [
            ("GET", "/api/items"),
            ("GET", "/api/items/17"),
            ("GET", "/api/items/18"),
            ("GET", "/api/shops/acme/orders/9"),
            ("GET", "/api/shops/acme/admin/"),
            ("GET", "/files/a/b.txt"),
        ]
    ) == [
        "/api/items",
        "/api/items/{item_id}",
        "/api/items/{item_id}",
        "/api/shops/{shop}/orders/{order_id}",
        "/api/shops/{shop}/admin/",
        "/files",
    ]


def test_a_wrong_method_keeps_its_route_and_a_path_no_route_names_is_unmatched():
    assert labels_of(
        [("DELETE", "/api/items"), ("GET", "/api/nothing/3"), ("GET", "/api/shops/acme/x")]
    ) == ["/api/items", "unmatched", "unmatched"]


def test_route_templates_map_every_route_once():
    templates = route_templates(ROUTES)
    assert sorted(t for t in templates.values() if t is not None) == [
        "/api/items",
        "/api/items/{item_id}",
        "/api/shops/{shop}/admin/",
        "/api/shops/{shop}/orders/{order_id}",
        "/files",
    ]
    # The mounts of routers are what is left when nothing below them matched.
    assert list(templates.values()).count(None) == 2


@pytest.mark.parametrize(
    ("path", "status", "label"),
    [
        ("/healthz", 200, "/healthz"),
        ("/readyz", 503, "/readyz"),
        ("/metrics", 401, "/metrics"),
        ("/.well-known/acme-challenge/x9Y-z", 200, "/.well-known/acme-challenge/{token}"),
        ("/_onebin/console.js", 200, "/_onebin/{file}"),
        ("/_onebin", 200, "/_onebin/{file}"),
        ("/_onebinx", 200, "static"),
        ("/index.html", 200, "static"),
        ("/app.js", 304, "static"),
        ("/anything/the/spa/routes", 200, "static"),
        ("/items", 308, "redirect"),
        ("/wp-login.php", 404, "unmatched"),
        ("/x", 405, "unmatched"),
    ],
)
def test_path_label_of_requests_no_router_matched(path, status, label):
    assert path_label(path, status) == label


def test_made_up_methods_are_other():
    assert [method_label(m) for m in ("GET", "PATCH", "OPTIONS", "BREW", "get", "")] == [
        "GET",
        "PATCH",
        "OPTIONS",
        "other",
        "other",
        "other",
    ]


def test_refusal_causes_name_the_cap_s_flag_or_keep_the_protocol_s_code():
    assert refusal_cause("too_many_connections") == "max_connections"
    assert refusal_cause("too_many_client_connections") == "max_client_connections"
    assert refusal_cause("headers_too_large") == "headers_too_large"
    assert refusal_cause("rate_limit") == "rate_limit"


def test_a_route_label_names_parameters_without_their_converters():
    assert without_converters("/tokens/{name:path}") == "/tokens/{name}"
    assert without_converters("/a/{x:int}/b/{y}") == "/a/{x}/b/{y}"
