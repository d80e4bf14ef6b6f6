"""The last api-server endpoints: `resources/ignoredunscheduledalgorithms`, `gateway`,
`boards/*` (we run no boards: HKube's shapes, a clear 400 to start one) and `auth/login`
(no passwords here: it says how to authenticate in each auth mode)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.roles import Role, required_role
from algorithms.models import Algorithm

PREFIXES = ["/api/v1/", "/hkube/api-server/api/v1/"]


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_ignored_unscheduled_algorithms_are_an_empty_map_and_a_plain_404(client: Client, prefix: str) -> None:
    listed = client.get(prefix + "resources/ignoredunscheduledalgorithms")
    assert (listed.status_code, listed.json()) == (200, {})
    one = client.get(prefix + "resources/ignoredunscheduledalgorithms/green-alg/")
    assert one.status_code == 404 and one["Content-Type"].startswith("text/plain")
    assert one.content.decode() == "Algorithm green-alg not found in the unscheduled list"


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", PREFIXES)
def test_gateways_are_the_gateway_kind_algorithms(client: Client, prefix: str) -> None:
    assert client.get(prefix + "gateway").json() == []
    Algorithm.objects.create(name="green-alg", descriptor={"name": "green-alg", "algorithmImage": "x"})
    Algorithm.objects.create(
        name="in-gateway", descriptor={"name": "in-gateway", "kind": "gateway", "algorithmImage": "x"}
    )
    assert [g["name"] for g in client.get(prefix + "gateway/").json()] == ["in-gateway"]
    for name in ("in", "in-gateway"):
        found = client.get(prefix + f"gateway/{name}")
        assert found.status_code == 200 and found.json()["kind"] == "gateway"
    for name in ("green-alg", "out"):
        missing = client.get(prefix + f"gateway/{name}")
        assert missing.status_code == 404
        assert missing.json() == {"error": {"code": 404, "message": f"gateway {name} Not Found"}}


@pytest.mark.parametrize("kind", ["tensors", "optunas"])
def test_boards_are_empty_and_starting_one_is_refused_in_the_envelope(client: Client, kind: str) -> None:
    assert client.get(f"/api/v1/boards/{kind}").json() == []
    missing = client.get(f"/hkube/api-server/api/v1/boards/{kind}/j1:node")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "board j1:node Not Found"
    assert client.delete(f"/api/v1/boards/{kind}/b1").status_code == 404
    started = post(client, f"/api/v1/boards/{kind}", {"jobId": "j1", "nodeName": "node"})
    assert started.status_code == 400
    assert started.json()["error"]["message"].startswith("boards are not supported")
    assert client.get("/api/v1/boards/other").status_code == 404


def test_boards_need_the_roles_hkube_gives_them() -> None:
    assert required_role("POST", "/api/v1/boards/tensors") == Role.VIEWER
    assert required_role("DELETE", "/api/v1/boards/optunas/x") == Role.VIEWER
    assert required_role("DELETE", "/api/v1/boards/tensors/x") == Role.ADMIN
    assert required_role("POST", "/hkube/api-server/api/v1/auth/login") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "data should have required property 'username'"),
        ({"username": "me"}, "data should have required property 'password'"),
    ],
)
def test_a_login_is_checked_as_hkube_checks_it(client: Client, body: Any, message: str) -> None:
    response = post(client, "/api/v1/auth/login", body)
    assert response.status_code == 400 and response.json()["error"]["message"] == message


def test_a_login_with_auth_off_says_none_is_needed(client: Client) -> None:
    response = post(client, "/api/v1/auth/login", {"username": "me", "password": "pw"})
    assert response.status_code == 400
    assert "HKUBE_AUTH=none" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_a_login_in_token_mode_needs_no_token_and_points_to_api_tokens(client: Client, settings: Any) -> None:
    settings.HKUBE_AUTH = "token"
    response = post(client, "/hkube/api-server/api/v1/auth/login", {"username": "me", "password": "pw"})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "API tokens" in message and "Authorization: Bearer <token>" in message
    assert post(client, "/api/v1/exec/raw", {}).status_code == 401  # the gate is on


def test_a_login_in_oidc_mode_points_to_the_issuer(client: Client, settings: Any) -> None:
    settings.HKUBE_AUTH, settings.HKUBE_OIDC_ISSUER = "oidc", "https://kc.example/realms/hkube"
    response = post(client, "/api/v1/auth/login", {"username": "me", "password": "pw"})
    assert response.status_code == 400
    assert "Log in at https://kc.example/realms/hkube" in response.json()["error"]["message"]
