"""`status/version` with the real package version, and the no-id forms of the endpoints
that take an id in their path (HKube's 400, never a 404)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from hkube_site import api as info

PROJECT_VERSION = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
    "version"
]


@pytest.mark.parametrize("path", ["/api/v1/status/version", "/hkube/api-server/api/v1/status/version/"])
def test_the_version_is_the_packages(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "systemVersion": PROJECT_VERSION,
        "clusterName": settings.HKUBE_CLUSTER_NAME,
        "storage": settings.HKUBE_STORAGE,
    }


def test_the_version_falls_back_to_the_installed_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "BASE_DIR", tmp_path)
    monkeypatch.setattr(info.importlib.metadata, "version", lambda name: f"{name}-9.9.9")
    info.system_version.cache_clear()
    try:
        assert info.system_version() == "hkube-9.9.9"
    finally:
        info.system_version.cache_clear()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("get", "exec/pipelines", "jobId"),
        ("get", "exec/auditTrail/", "jobId"),
        ("get", "exec/tree", "jobId"),
        ("get", "graph/raw/", "jobId"),
        ("get", "graph/parsed", "jobId"),
        ("get", "webhooks/status", "jobId"),
        ("get", "webhooks/results/", "jobId"),
        ("get", "webhooks/list", "jobId"),
        ("get", "versions/algorithms", "name"),
        ("get", "builds/list/", "name"),
        ("post", "readme/pipelines", "name"),
        ("put", "readme/algorithms/", "name"),
        ("delete", "experiment", "name"),
        ("get", "store/pipelines/graph", "name"),
    ],
)
def test_the_no_id_forms_are_400(client: Client, db: None, method: str, path: str, field: str) -> None:
    for prefix in ("/api/v1/", "/hkube/api-server/api/v1/"):
        response = getattr(client, method)(prefix + path)
        assert response.status_code == 400, (prefix, path)
        assert response.json() == {
            "error": {"code": 400, "message": f"data should have required property '{field}'"}
        }


def test_a_no_id_form_keeps_405_for_other_methods(client: Client, db: None) -> None:
    response = client.post("/api/v1/graph/raw")
    assert response.status_code == 405
    assert response.json() == {"error": {"code": 405, "message": "Method Not Allowed"}}
