"""Every role against every kind of endpoint, with API tokens and with OIDC tokens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import ROLES, Send

# (kind, method, path, body): a read, running and stopping jobs, changing what is stored.
ENDPOINTS = [
    ("read", "GET", "/api/v1/store/pipelines", None),
    ("read", "GET", "/hkube/api-server/api/v1/exec/pipeline/list", None),
    ("read", "POST", "/api/v1/exec/search", {}),
    ("run", "POST", "/api/v1/exec/raw", {}),
    ("run", "POST", "/hkube/api-server/api/v1/exec/stored/", {}),
    ("stop", "POST", "/api/v1/exec/stop", {}),
    ("stop", "POST", "/api/v1/exec/pause", {}),
    ("apply", "POST", "/api/v1/store/algorithms/apply", {}),
    ("store", "POST", "/api/v1/store/pipelines", {}),
    ("store", "PUT", "/api/v1/store/algorithms", {}),
    ("delete", "DELETE", "/api/v1/store/pipelines/nothing-here", None),
    ("delete", "DELETE", "/api/v1/store/algorithms/nothing-here", None),
    ("build", "POST", "/api/v1/builds/stop", {}),
]
ALLOWED = {
    "viewer": {"read"},
    "operator": {"read", "run", "stop"},
    "admin": {"read", "run", "stop", "apply", "store", "delete", "build"},
}
CASES = [(role, *endpoint) for role in ROLES for endpoint in ENDPOINTS]


def _check(response: Any, role: str, kind: str) -> None:
    if kind in ALLOWED[role]:
        # The view itself answered (a 200, or its own 400/404 for the empty body).
        assert response.status_code not in (401, 403), response.content
    else:
        assert response.status_code == 403, response.content
        error = response.json()["error"]
        assert error["code"] == 403
        assert f"has role {role}" in error["message"]


@pytest.mark.parametrize(("role", "kind", "method", "path", "body"), CASES)
def test_api_token_roles(
    token_mode: dict[str, str], send: Send, role: str, kind: str, method: str, path: str, body: Any
):
    _check(send(method, path, token_mode[role], body), role, kind)


@pytest.mark.parametrize(("role", "kind", "method", "path", "body"), CASES)
def test_oidc_roles(
    oidc_mode: dict[str, str], send: Send, role: str, kind: str, method: str, path: str, body: Any
):
    _check(send(method, path, oidc_mode[role], body), role, kind)


@pytest.mark.parametrize(("kind", "method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("mode", ["token_mode", "oidc_mode"])
def test_no_credentials_is_a_401_in_the_envelope(
    request: pytest.FixtureRequest, send: Send, mode: str, kind: str, method: str, path: str, body: Any
):
    request.getfixturevalue(mode)

    response = send(method, path, None, body)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert "hkubectl config set token" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "method", "path", "body"), ENDPOINTS)
def test_auth_none_leaves_every_endpoint_open(send: Send, kind: str, method: str, path: str, body: Any):
    assert send(method, path, None, body).status_code not in (401, 403)
