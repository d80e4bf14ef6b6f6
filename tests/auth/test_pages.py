"""The pages, the admin, the docs and /metrics under HKUBE_AUTH; sessions never write."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from tests.auth.conftest import Send


@pytest.fixture
def staff(db: None) -> Client:
    """A logged-in staff user, a viewer (no group)."""
    get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    client = Client()
    client.login(username="sam", password="pw")
    return client


def test_jobs_pages_send_a_browser_to_the_login_page(token_mode: dict[str, str], client: Client):
    response = client.get("/jobs/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/jobs/"


def test_jobs_pages_open_with_a_session_or_a_token(token_mode: dict[str, str], staff: Client, send: Send):
    assert staff.get("/jobs/").status_code == 200
    assert staff.get("/api/v1/store/pipelines").status_code == 200
    assert send("GET", "/jobs/", token_mode["viewer"]).status_code == 200


def test_a_session_never_writes_to_the_api(token_mode: dict[str, str], db: None):
    get_user_model().objects.create_superuser("root", "", "pw")
    browser = Client()
    browser.login(username="root", password="pw")

    response = browser.post("/api/v1/exec/raw", {}, content_type="application/json")

    assert response.status_code == 401  # a page elsewhere cannot post jobs through the cookie


def test_a_staff_users_group_gives_its_role(token_mode: dict[str, str], staff: Client):
    from accounts.gate import session_role

    user = get_user_model().objects.get(username="sam")
    request = staff.get("/jobs/").wsgi_request
    assert session_role(request) is not None and session_role(request).label == "viewer"  # type: ignore[union-attr]
    user.groups.add(Group.objects.create(name="operator"))
    assert session_role(staff.get("/jobs/").wsgi_request).label == "operator"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/swagger/", "/static/admin/css/base.css", "/"])
def test_docs_and_assets_stay_public(token_mode: dict[str, str], client: Client, path: str):
    assert client.get(path).status_code in (200, 302)


def test_metrics_need_a_viewer(token_mode: dict[str, str], client: Client, send: Send, real_redis: object):
    assert client.get("/metrics").status_code == 401
    assert send("GET", "/metrics", token_mode["viewer"]).status_code == 200


def test_the_admin_keeps_djangos_login(token_mode: dict[str, str], client: Client, staff: Client):
    assert client.get("/admin/").status_code == 302  # to the admin's login form
    assert client.get("/admin/login/").status_code == 200
    assert staff.get("/admin/").status_code == 200


def test_an_unknown_write_needs_an_admin(token_mode: dict[str, str], send: Send):
    response = send("POST", "/api/v1/some/new/endpoint", token_mode["operator"], {})

    assert response.status_code == 403
    assert "needs admin" in response.json()["error"]["message"]
