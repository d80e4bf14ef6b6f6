"""`store/algorithms` as HKube's clients use it: `?name=&sort=&limit=`, the paged
`store/algorithmsFilter`, `{"payload": <JSON string>}` and `{"payload": [<JSON strings>]}`
bodies with `?overwrite=true`, the empty body, and `keepOldVersions` on delete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from algorithms.models import Algorithm, AlgorithmVersion
from tests.api.conftest import Api


def alg(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "algorithmImage": f"hkube/{name}", "cpu": 0.1, "mem": "256Mi", **extra}


@pytest.fixture
def store(api: Api) -> Api:
    """green-alg, yellow-alg (from `api`), then black-alg and pending-alg (no image), oldest first."""
    for i, name in enumerate(["black-alg", "pending-alg"]):
        descriptor = alg(name) if name == "black-alg" else {"name": name, "options": {"pending": True}}
        Algorithm.objects.create(name=name, descriptor=descriptor, version="v1", created=10**13 + i)
    for i, name in enumerate(["green-alg", "yellow-alg"]):
        Algorithm.objects.filter(name=name).update(created=10**12 + i)
    return api


def names(body: list[dict[str, Any]]) -> list[str]:
    return [a["name"] for a in body]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["green-alg", "yellow-alg", "black-alg", "pending-alg"]),
        ("?sort=desc", ["pending-alg", "black-alg", "yellow-alg", "green-alg"]),
        ("?sort=desc&limit=2", ["pending-alg", "black-alg"]),
        ("?name=LLOW", ["yellow-alg"]),
        ("?name=alg&limit=1", ["green-alg"]),
    ],
)
def test_the_list_takes_name_sort_and_limit(store: Api, query: str, expected: list[str]) -> None:
    status, body = store.get(f"store/algorithms{query}")
    assert status == 200
    assert names(body) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?limit=0", "data.limit should be >= 1"),
        ("?limit=x", "data.limit should be integer"),
        ("?sort=up", "data.sort should be equal to one of the allowed values (asc,desc)"),
    ],
)
def test_bad_list_queries_are_400(store: Api, query: str, message: str) -> None:
    assert store.error("get", f"store/algorithms{query}") == (400, message)


def test_the_filter_pages_with_a_cursor(store: Api) -> None:
    status, first = store.get("store/algorithmsFilter?limit=3")
    assert status == 200
    assert set(first) == {"hits", "cursor", "timeTook"}
    assert names(first["hits"]) == ["green-alg", "yellow-alg", "black-alg"]
    assert first["cursor"] == "black-alg"
    second = store.get(f"store/algorithmsFilter/?limit=3&cursor={first['cursor']}")[1]
    assert (names(second["hits"]), second["cursor"]) == (["pending-alg"], None)
    assert names(store.get("store/algorithmsFilter?limit=2&page=2")[1]["hits"]) == [
        "black-alg",
        "pending-alg",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("algorithmImage=false", ["pending-alg"]),
        ("algorithmImage=true&sort=desc", ["black-alg", "yellow-alg", "green-alg"]),
        ("pending=true", ["pending-alg"]),
        ("name=black", ["black-alg"]),
        ("kind=algorithm&limit=1", ["green-alg"]),
        ("kind=debug", []),
    ],
)
def test_the_filter_filters(store: Api, query: str, expected: list[str]) -> None:
    assert names(store.get(f"store/algorithmsFilter?{query}")[1]["hits"]) == expected


def test_the_filter_keeps_only_the_fields_asked(store: Api) -> None:
    hits = store.get("store/algorithmsFilter?name=black&fields=algorithmImage,cpu")[1]["hits"]
    assert hits == [{"name": "black-alg", "algorithmImage": "hkube/black-alg", "cpu": 0.1}]


def test_an_empty_insert_answers_the_schema_message(api: Api) -> None:
    assert api.error("post", "store/algorithms", {}) == (400, "data should have required property 'name'")
    assert api.error("post", "store/algorithms", {"payload": "{}"}) == (
        400,
        "data should have required property 'name'",
    )


def test_a_payload_string_inserts_one_algorithm(api: Api) -> None:
    status, body = api.post("store/algorithms", {"payload": json.dumps(alg("new-alg"))})
    assert status == 201, body
    assert body["algorithm"]["name"] == "new-alg"
    assert api.error("post", "store/algorithms", {"payload": json.dumps(alg("new-alg"))}) == (
        409,
        "algorithm new-alg already exists",
    )
    status, body = api.post("store/algorithms?overwrite=true", {"payload": json.dumps(alg("new-alg", cpu=2))})
    assert status == 201, body
    assert Algorithm.objects.get(name="new-alg").descriptor["cpu"] == 2


def test_a_payload_array_answers_one_entry_per_algorithm(api: Api) -> None:
    payload = [json.dumps(alg("one-alg")), json.dumps(alg("green-alg")), json.dumps({"cpu": 1}), "{not json"]
    status, body = api.post("store/algorithms", {"payload": payload})
    assert status == 201
    assert body[0]["name"] == "one-alg"
    assert body[1] == {"error": {"code": 409, "message": "algorithm green-alg already exists"}}
    assert body[2] == {"error": {"code": 400, "message": "data should have required property 'name'"}}
    assert body[3]["error"]["code"] == 400
    assert len(body) == 4
    assert Algorithm.objects.filter(name="one-alg").exists()


def test_a_payload_array_with_overwrite_updates_existing_ones(api: Api) -> None:
    payload = [json.dumps(alg("green-alg", cpu=3)), json.dumps(alg("two-alg"))]
    status, body = api.post("store/algorithms?overwrite=true", {"payload": payload})
    assert status == 201
    assert names(body) == ["green-alg", "two-alg"]
    assert Algorithm.objects.get(name="green-alg").descriptor["cpu"] == 3


def test_repeated_multipart_payload_parts_are_an_array(client: Client, db: None) -> None:
    response = client.post(
        "/api/v1/store/algorithms", {"payload": [json.dumps(alg("m1")), json.dumps(alg("m2"))]}
    )
    assert response.status_code == 201
    assert names(response.json()) == ["m1", "m2"]


def test_an_empty_payload_array_is_an_empty_201(api: Api) -> None:
    assert api.post("store/algorithms", {"payload": []}) == (201, [])


@pytest.mark.parametrize(("keep", "left"), [("true", 1), ("false", 0), (None, 0)])
def test_keep_old_versions_keeps_the_versions_of_a_deleted_algorithm(
    api: Api, keep: str | None, left: int
) -> None:
    AlgorithmVersion.objects.create(algorithm_name="green-alg", version="v1", semver="1.0.0", descriptor={})
    query = f"?keepOldVersions={keep}" if keep else ""
    response = api.client.delete(f"/api/v1/store/algorithms/green-alg{query}")
    assert response.status_code == 200
    assert f"0 builds, {1 - left} versions" in response.json()["message"]
    assert AlgorithmVersion.objects.filter(algorithm_name="green-alg").count() == left
    assert not Algorithm.objects.filter(name="green-alg").exists()
