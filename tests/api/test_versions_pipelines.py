"""`versions/pipelines`: every stored change of a pipeline is a version; apply, alias, delete."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.api.conftest import Api


def descriptor(parallelism: int = 1) -> dict[str, Any]:
    return {
        "name": "versioned",
        "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": [1]}],
        "options": {"concurrentPipelines": {"amount": 10 + parallelism}},
    }


@pytest.fixture
def stored(api: Api) -> Api:
    assert api.post("store/pipelines", descriptor())[0] == 201
    return api


def delete(client: Client, path: str) -> tuple[int, Any]:
    response = client.delete("/api/v1/" + path)
    return response.status_code, response.json()


@pytest.mark.parametrize("prefix", ["/api/v1/", "/hkube/api-server/api/v1/"])
def test_storing_makes_the_first_version_under_both_prefixes(
    stored: Api, client: Client, prefix: str
) -> None:
    for suffix in ("", "/"):
        response = client.get(f"{prefix}versions/pipelines/versioned{suffix}")
        assert response.status_code == 200
        [first] = response.json()
        assert first["semver"] == "1.0.0" and first["versionAlias"] == "v1.0.0"
        assert first["name"] == "versioned" and first["createdBy"] == "defaultUser"
        assert first["version"] == stored.get("store/pipelines/versioned")[1]["version"]
        assert first["pipeline"]["nodes"][0]["algorithmName"] == "green-alg"


def test_every_change_is_a_version_newest_first_and_no_change_is_none(stored: Api) -> None:
    assert stored.put("store/pipelines", descriptor(2))[0] == 200
    assert stored.put("store/pipelines", descriptor(2))[0] == 200  # unchanged: no version
    assert stored.put("store/pipelines", descriptor(3))[0] == 200
    status, versions = stored.get("versions/pipelines/versioned")
    assert status == 200
    assert [v["semver"] for v in versions] == ["1.0.2", "1.0.1", "1.0.0"]
    amounts = [v["pipeline"]["options"]["concurrentPipelines"]["amount"] for v in versions]
    assert amounts == [13, 12, 11]
    current = stored.get("store/pipelines/versioned")[1]
    assert current["version"] == versions[0]["version"]
    status, one = stored.get(f"versions/pipelines/versioned/{versions[1]['version']}")
    assert status == 200 and one == versions[1]


def test_apply_makes_an_old_version_the_stored_pipeline(stored: Api) -> None:
    stored.put("store/pipelines", descriptor(2))
    oldest = stored.get("versions/pipelines/versioned")[1][-1]
    status, applied = stored.post(
        "versions/pipelines/apply/", {"name": "versioned", "version": oldest["version"]}
    )
    assert status == 201 and applied["version"] == oldest["version"]
    current = stored.get("store/pipelines/versioned")[1]
    assert current["version"] == oldest["version"]
    assert current["options"]["concurrentPipelines"]["amount"] == 11
    assert current["auditTrail"][0]["version"] == oldest["version"]
    assert len(current["auditTrail"]) == 3


def test_alias_names_a_version(stored: Api) -> None:
    [first] = stored.get("versions/pipelines/versioned")[1]
    status, aliased = stored.put(
        "versions/pipelines/alias", {"name": "versioned", "version": first["version"], "alias": "stable"}
    )
    assert status == 200 and aliased["versionAlias"] == "stable"
    assert stored.get("versions/pipelines/versioned")[1][0]["versionAlias"] == "stable"


def test_delete_a_version_but_not_the_current_one(stored: Api, client: Client) -> None:
    stored.put("store/pipelines", descriptor(2))
    current, old = stored.get("versions/pipelines/versioned")[1]
    status, body = delete(client, f"versions/pipelines/versioned/{current['version']}")
    assert (status, body["error"]["message"]) == (400, "unable to remove the currently used version")
    assert delete(client, f"versions/pipelines/versioned/{old['version']}") == (200, {"deleted": 1})
    assert len(stored.get("versions/pipelines/versioned")[1]) == 1


def test_deleting_the_pipeline_deletes_its_versions_unless_kept(stored: Api, client: Client) -> None:
    assert delete(client, "store/pipelines/versioned?keepOldVersions=true")[0] == 200
    stored.post("store/pipelines", descriptor(2))
    assert [v["semver"] for v in stored.get("versions/pipelines/versioned")[1]] == ["1.0.1", "1.0.0"]
    assert delete(client, "store/pipelines/versioned")[0] == 200
    stored.post("store/pipelines", descriptor(3))
    assert [v["semver"] for v in stored.get("versions/pipelines/versioned")[1]] == ["1.0.0"]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("get", "versions/pipelines/nope", None, (404, "pipeline nope Not Found")),
        ("get", "versions/pipelines/versioned/nope", None, (404, "version nope Not Found")),
        ("get", "versions/pipelines", None, (400, "data should have required property 'name'")),
        (
            "post",
            "versions/pipelines/apply",
            {"name": "versioned"},
            (400, "data should have required property 'version'"),
        ),
        (
            "post",
            "versions/pipelines/apply",
            {"version": "x"},
            (400, "data should have required property 'name'"),
        ),
        (
            "post",
            "versions/pipelines/apply",
            {"name": "versioned", "version": 5},
            (400, "data.version should be string"),
        ),
        ("post", "versions/pipelines/apply", [], (400, "data should be object")),
        (
            "post",
            "versions/pipelines/apply",
            {"name": "versioned", "version": "nope"},
            (404, "version nope Not Found"),
        ),
        (
            "post",
            "versions/pipelines/apply",
            {"name": "nope", "version": "x"},
            (404, "pipeline nope Not Found"),
        ),
        (
            "put",
            "versions/pipelines/alias",
            {"name": "versioned", "version": "x"},
            (400, "data should have required property 'alias'"),
        ),
        (
            "put",
            "versions/pipelines/alias",
            {"name": "versioned", "version": "x", "alias": "a" * 65},
            (400, "data.alias should NOT be longer than 64 characters"),
        ),
    ],
)
def test_bad_requests_get_hkubes_errors(
    stored: Api, method: str, path: str, body: Any, expected: tuple[int, str]
) -> None:
    assert stored.error(method, path, body) == expected
