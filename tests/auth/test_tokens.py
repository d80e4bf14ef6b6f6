"""API tokens: made by the command or the admin, shown once, stored hashed, revocable."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import ApiToken, create_token, hash_token
from tests.auth.conftest import Send

READ = "/api/v1/store/pipelines"


def _create(name: str, role: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_token", name, "--role", role, stdout=out, stderr=err)
    assert "not shown again" in err.getvalue()
    return out.getvalue().strip()


@pytest.mark.django_db
def test_create_token_prints_the_token_once_and_stores_only_its_hash(settings: Any, send: Send):
    settings.HKUBE_AUTH = "token"

    token = _create("ci", "operator")

    row = ApiToken.objects.get(name="ci")
    assert row.role == "operator" and row.digest == hash_token(token)
    assert token not in {row.digest, row.hint} and row.hint and token.startswith(row.hint)
    assert send("POST", "/api/v1/exec/raw", token, {}).status_code == 400  # let through, the view answered


@pytest.mark.django_db
def test_create_token_refuses_a_taken_name_and_an_unknown_role():
    _create("ci", "viewer")

    with pytest.raises(CommandError, match="exists"):
        _create("ci", "admin")
    with pytest.raises(CommandError):
        call_command("create_token", "other", "--role", "root")


def test_a_revoked_token_is_refused_at_once(token_mode: dict[str, str], send: Send):
    assert send("GET", READ, token_mode["admin"]).status_code == 200

    call_command("revoke_token", "admin-token", stdout=io.StringIO())

    response = send("GET", READ, token_mode["admin"])
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": "invalid or revoked API token"}}
    with pytest.raises(CommandError, match="no live token"):
        call_command("revoke_token", "admin-token")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hkube_not-a-real-token",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "hkube_abc",
        "Bearer some.jwt.here",
    ],
)
def test_bad_credentials_are_a_401(token_mode: dict[str, str], client: Client, header: str):
    response = client.get(READ, headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401


def test_the_admin_creates_a_token_and_shows_it_once(token_mode: dict[str, str], client: Client, send: Send):
    get_user_model().objects.create_superuser("root", "", "pw")
    client.login(username="root", password="pw")

    page = client.post("/admin/accounts/apitoken/add/", {"name": "from-admin", "role": "viewer"}, follow=True)

    shown = [str(m) for m in page.context["messages"]]
    token = next(m.split(": ")[-1] for m in shown if "shown once" in m)
    assert ApiToken.objects.get(name="from-admin").digest == hash_token(token)
    assert send("GET", READ, token).status_code == 200
    assert send("POST", "/api/v1/exec/raw", token, {}).status_code == 403


def test_tokens_never_reach_the_database_in_clear(token_mode: dict[str, str]):
    stored = list(ApiToken.objects.values_list("digest", "hint"))
    for token in token_mode.values():
        assert all(token not in (digest, hint) for digest, hint in stored)
    assert create_token("x", "viewer")[0].digest != create_token("y", "viewer")[0].digest
