"""Hosting HKube's dashboard at /dashboard/ from a build folder (a tiny fake build here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from hkube_site.api import system_version

INDEX = (
    '<!doctype html><html><head><base href="__BASE_URL_TOKEN__" />'
    '<script type="module" src="__BASE_URL_TOKEN__assets/index-abc.js"></script></head>'
    '<body><div id="root"></div></body></html>'
)
SCRIPT = "console.log('__BASE_URL_TOKEN__ stays in scripts');\n"


@pytest.fixture
def build(tmp_path: Path, settings: Any) -> Path:
    folder = tmp_path / "build"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "assets" / "index-abc.js").write_text(SCRIPT)
    (tmp_path / "secret.txt").write_text("not part of the build")
    settings.HKUBE_DASHBOARD_DIR = folder
    return folder


def test_the_index_has_its_base_url_token_replaced(client: Client, build: Path) -> None:
    for path in ("/dashboard/", "/dashboard/index.html"):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/html; charset=utf-8"
        html = response.content.decode()
        assert "__BASE_URL_TOKEN__" not in html
        assert '<base href="/dashboard/" />' in html
        assert 'src="/dashboard/assets/index-abc.js"' in html


def test_the_bare_path_redirects_to_the_folder(client: Client, build: Path) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


def test_files_of_the_build_are_served_as_they_are(client: Client, build: Path) -> None:
    response = client.get("/dashboard/assets/index-abc.js")
    assert response.status_code == 200
    assert response["Content-Type"] in ("text/javascript", "application/javascript")
    assert b"".join(response.streaming_content).decode() == SCRIPT  # type: ignore[attr-defined]


def test_the_apps_own_routes_get_the_index(client: Client, build: Path) -> None:
    response = client.get("/dashboard/jobs/some-job-id")
    assert response.status_code == 200
    assert '<base href="/dashboard/" />' in response.content.decode()


def test_paths_outside_the_build_are_not_served(client: Client, build: Path) -> None:
    response = client.get("/dashboard/../secret.txt")
    assert b"not part of the build" not in response.content
    response = client.get("/dashboard/%2e%2e/secret.txt")
    assert b"not part of the build" not in response.content


def test_a_new_build_dropped_in_place_is_picked_up(client: Client, build: Path) -> None:
    client.get("/dashboard/")
    index = build / "index.html"
    index.write_text("<html>__BASE_URL_TOKEN__v2</html>")
    stat = index.stat()
    os.utime(index, (stat.st_atime, stat.st_mtime + 5))
    assert client.get("/dashboard/").content == b"<html>/dashboard/v2</html>"


@pytest.mark.parametrize(
    "path", ["/dashboard/dashboard-config.json", "/dashboard/jobs/dashboard-config.json"]
)
def test_dashboard_config_describes_this_server(
    client: Client, build: Path, settings: Any, path: str
) -> None:
    settings.HKUBE_DASHBOARD_GRAFANA_URL = "http://grafana.local"
    settings.HKUBE_DASHBOARD_HEALTH_MONITORING = False
    response = client.get(path)
    assert response.status_code == 200
    config = response.json()["config"]
    assert config["monitorBackend"]["useLocation"] is True
    assert config["monitorBackend"]["path"] == "/hkube/api-server"
    assert config["baseUrl"] == "dashboard"
    assert config["keycloakEnable"] is False
    assert config["dataSourceIsEnable"] is False
    assert config["healthMonitoringEnabled"] is False
    assert config["grafanaUrl"] == "http://grafana.local"
    assert config["kibanaUrl"] is None
    assert config["hkubeSystemVersion"] == system_version()


def test_the_configured_api_path_answers_rest_and_graphql(client: Client, build: Path, db: None) -> None:
    """What the dashboard derives from its config: `<path>/api/v1/...` and `<path>/graphql`."""
    path = client.get("/dashboard/dashboard-config.json").json()["config"]["monitorBackend"]["path"]
    assert client.get(f"{path}/api/v1/experiment").status_code == 200
    response = client.post(
        f"{path}/graphql", '{"query": "{ experiments { name } }"}', content_type="application/json"
    )
    assert response.json() == {"data": {"experiments": [{"name": "main"}]}}


def test_without_a_build_the_dashboard_says_how_to_install_one(client: Client, settings: Any) -> None:
    settings.HKUBE_DASHBOARD_DIR = None
    page = client.get("/dashboard/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assert "HKUBE_DASHBOARD_DIR" in page.content.decode()
    response = client.get("/dashboard/dashboard-config.json")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 404
    assert "set HKUBE_DASHBOARD_DIR to the folder that holds its index.html" in error["message"]


def test_the_dashboard_is_read_only(client: Client, build: Path) -> None:
    assert client.post("/dashboard/", {}).status_code == 405
