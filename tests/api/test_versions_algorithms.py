"""Algorithm versions as HKube keeps them: a change of settings or image applied to an
existing algorithm is a new version that becomes current only when applied (or forced);
versions are tagged and aliased."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.api.conftest import Api


def apply(client: Client, payload: dict[str, Any], options: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {"payload": json.dumps(payload), "file": ""}
    if options is not None:
        data["options"] = json.dumps(options)
    response = client.post("/api/v1/store/algorithms/apply", data)
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def versioned(client: Client, db: None) -> Api:
    apply(client, {"name": "img-alg", "algorithmImage": "hkube/img:1", "cpu": 0.5})
    return Api(client)


@pytest.mark.parametrize(
    "change",
    [{"algorithmImage": "hkube/img:2"}, {"cpu": 1}, {"algorithmEnv": {"MODE": "fast"}}],
)
def test_a_change_is_a_new_version_current_only_once_applied(
    versioned: Api, client: Client, change: dict[str, Any]
) -> None:
    body = apply(client, {"name": "img-alg", "algorithmImage": "hkube/img:1", "cpu": 0.5, **change})
    assert body["messagesCode"] == [1024, 1023]
    versions = versioned.get("versions/algorithms/img-alg")[1]
    assert [v["semver"] for v in versions] == ["1.0.1", "1.0.0"]
    newest = versions[0]
    for key, value in change.items():
        assert newest["algorithm"][key] == value
    current = versioned.get("store/algorithms/img-alg")[1]
    assert current["algorithmImage"] == "hkube/img:1" and current["cpu"] == 0.5
    assert current["version"] == versions[1]["version"] and len(current["auditTrail"]) == 1

    status, applied = versioned.post(
        "versions/algorithms/apply", {"name": "img-alg", "version": newest["version"]}
    )
    assert status == 201 and applied["version"] == newest["version"]
    current = versioned.get("store/algorithms/img-alg")[1]
    assert current["version"] == newest["version"]
    for key, value in change.items():
        assert current[key] == value
    assert [entry["version"] for entry in current["auditTrail"]] == [
        newest["version"],
        versions[1]["version"],
    ]


def test_forced_update_makes_the_new_version_current_at_once(versioned: Api, client: Client) -> None:
    apply(client, {"name": "img-alg", "algorithmImage": "hkube/img:3"}, {"forceUpdate": True})
    current = versioned.get("store/algorithms/img-alg")[1]
    assert current["algorithmImage"] == "hkube/img:3" and len(current["auditTrail"]) == 2


def test_an_unchanged_apply_makes_no_version(versioned: Api, client: Client) -> None:
    body = apply(client, {"name": "img-alg", "algorithmImage": "hkube/img:1", "cpu": 0.5})
    assert body["messagesCode"] == [1023]
    assert len(versioned.get("versions/algorithms/img-alg")[1]) == 1


def test_tag_pins_and_labels_a_version(versioned: Api) -> None:
    [first] = versioned.get("versions/algorithms/img-alg")[1]
    body = {"name": "img-alg", "version": first["version"], "pinned": True, "tags": ["prod", "prod", "v1"]}
    status, tagged = versioned.post("versions/algorithms/tag/", body)
    assert status == 201 and tagged["pinned"] is True and tagged["tags"] == ["prod", "v1"]
    [again] = versioned.get(f"versions/algorithms/img-alg/{first['version']}")[1:]
    assert again["tags"] == ["prod", "v1"] and again["pinned"] is True


def test_alias_names_a_version_under_both_prefixes(versioned: Api, client: Client) -> None:
    [first] = versioned.get("versions/algorithms/img-alg")[1]
    other = Api(client, "/hkube/api-server/api/v1/")
    status, aliased = other.put(
        "versions/algorithms/alias", {"name": "img-alg", "version": first["version"], "alias": "gold"}
    )
    assert status == 200 and aliased["versionAlias"] == "gold"
    assert versioned.get("versions/algorithms/img-alg")[1][0]["versionAlias"] == "gold"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "post",
            "versions/algorithms/tag",
            {"name": "img-alg"},
            (400, "data should have required property 'version'"),
        ),
        (
            "post",
            "versions/algorithms/tag",
            {"name": "img-alg", "version": "x", "tags": "a"},
            (400, "data.tags should be array"),
        ),
        (
            "post",
            "versions/algorithms/tag",
            {"name": "img-alg", "version": "x", "tags": [1]},
            (400, "data.tags[0] should be string"),
        ),
        (
            "post",
            "versions/algorithms/tag",
            {"name": "img-alg", "version": "x", "pinned": "y"},
            (400, "data.pinned should be boolean"),
        ),
        (
            "post",
            "versions/algorithms/tag",
            {"name": "img-alg", "version": "x"},
            (404, "version x Not Found"),
        ),
        (
            "post",
            "versions/algorithms/tag",
            {"name": "nope", "version": "x"},
            (404, "algorithm nope Not Found"),
        ),
        (
            "put",
            "versions/algorithms/alias",
            {"name": "img-alg", "version": "x"},
            (400, "data should have required property 'alias'"),
        ),
        ("put", "versions/algorithms/alias", "text", (400, "data should be object")),
    ],
)
def test_bad_requests_get_hkubes_errors(
    versioned: Api, method: str, path: str, body: Any, expected: tuple[int, str]
) -> None:
    assert versioned.error(method, path, body) == expected


def test_put_makes_a_version_current_only_when_forced(versioned: Api, client: Client) -> None:
    status, body = versioned.put(
        "store/algorithms", {"name": "img-alg", "algorithmImage": "hkube/img:1", "cpu": 2}
    )
    assert status == 200 and body["cpu"] == 0.5  # the current algorithm is unchanged
    versions = versioned.get("versions/algorithms/img-alg")[1]
    assert versions[0]["algorithm"]["cpu"] == 2 and len(versions) == 2
    status, body = versioned.put(
        "store/algorithms?forceStopAndApplyVersion=true",
        {"name": "img-alg", "algorithmImage": "hkube/img:1", "cpu": 3},
    )
    assert status == 200 and body["cpu"] == 3
    response = client.put(
        "/api/v1/store/algorithms",
        json.dumps(
            {
                "payload": json.dumps({"name": "img-alg", "cpu": 4}),
                "options": json.dumps({"forceUpdate": True}),
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["algorithm"]["cpu"] == 4
    assert versioned.get("store/algorithms/img-alg")[1]["cpu"] == 4
    assert len(versioned.get("versions/algorithms/img-alg")[1]) == 4
