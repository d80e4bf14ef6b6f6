"""Browsing the object store: `storage/prefix/types`, `storage/prefixes[/{path}]`,
`storage/keys[/{path}]` (sorted, sliced, at most 100 keys), and the result download with
a file name segment."""

from __future__ import annotations

import os
import uuid

import pytest
from django.test import Client

from hkube_site.object_store import get_storage
from pipelines.models import Job, JobStatus
from tests.api.conftest import Api

TYPES = ["local-hkube", "local-hkube-results", "local-hkube-index", "local-hkube-builds", "local-hkube-logs"]


@pytest.fixture
def folder(db: None) -> str:
    """`local-hkube/<job>/` holding three objects of different sizes and ages."""
    job = f"browse-{uuid.uuid4().hex[:8]}"
    storage = get_storage()
    for i, (name, size) in enumerate([("b", 30), ("a", 10), ("c", 20)]):
        storage.adapter.put_bytes(f"local-hkube/{job}/{name}", b"x" * size)
        stamp = 1_700_000_000 + i * 100
        os.utime(storage.adapter._file(f"local-hkube/{job}/{name}"), (stamp, stamp))  # type: ignore[attr-defined]
    return job


def test_prefix_types_are_this_clusters_buckets(client: Client) -> None:
    for prefix in ("/api/v1/", "/hkube/api-server/api/v1/"):
        for slash in ("", "/"):
            response = client.get(f"{prefix}storage/prefix/types{slash}")
            assert (response.status_code, response.json()) == (200, TYPES)


def test_prefixes_under_a_path_are_the_folders_in_it(client: Client, folder: str) -> None:
    response = client.get("/api/v1/storage/prefixes/local-hkube")
    assert response.status_code == 200
    body = response.json()
    assert body["path"] == "local-hkube"
    assert folder in body["keys"]
    assert body["total"] == len(body["keys"])


def test_prefixes_without_a_path_list_every_type(client: Client, folder: str) -> None:
    body = client.get("/api/v1/storage/prefixes").json()
    assert [listing["path"] for listing in body] == TYPES
    assert folder in body[0]["keys"]


def test_keys_carry_path_size_and_mtime(client: Client, folder: str) -> None:
    body = client.get(f"/api/v1/storage/keys/local-hkube/{folder}").json()
    assert body["path"] == f"local-hkube/{folder}"
    assert body["total"] == 3
    assert body["keys"][0] == {
        "path": f"local-hkube/{folder}/a",
        "size": 10,
        "mtime": "2023-11-14T22:15:00.000Z",
    }


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["a", "b", "c"]),
        ("?sort=size", ["a", "c", "b"]),
        ("?sort=size&order=desc", ["b", "c", "a"]),
        ("?sort=mtime&order=desc&from=1&to=2", ["a"]),
        ("?from=2", ["c"]),
    ],
)
def test_keys_are_sorted_then_sliced(client: Client, folder: str, query: str, names: list[str]) -> None:
    body = client.get(f"/api/v1/storage/keys/local-hkube/{folder}/{query}").json()
    assert [key["path"].rsplit("/", 1)[1] for key in body["keys"]] == names
    assert body["total"] == 3


def test_key_listings_stop_at_100(client: Client, db: None) -> None:
    job = f"many-{uuid.uuid4().hex[:8]}"
    for i in range(105):
        get_storage().adapter.put_bytes(f"local-hkube/{job}/k{i:03}", b"x")
    body = client.get(f"/api/v1/storage/keys/local-hkube/{job}?to=1000").json()
    assert (body["total"], len(body["keys"])) == (100, 100)


def test_keys_without_a_path_list_every_type(client: Client, folder: str) -> None:
    body = client.get("/api/v1/storage/keys?to=0").json()
    assert [(listing["path"], listing["keys"]) for listing in body] == [(t, []) for t in TYPES]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=x", "data.from should be integer"),
        ("?order=up", "data.order should be equal to one of the allowed values (asc,desc)"),
    ],
)
def test_bad_listing_queries_are_400(client: Client, folder: str, query: str, message: str) -> None:
    response = client.get(f"/api/v1/storage/keys/local-hkube/{folder}{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_a_path_leaving_the_storage_is_refused(client: Client, db: None) -> None:
    response = client.get("/api/v1/storage/keys/..%2F..%2Fetc")
    assert response.status_code == 400


def test_an_unknown_path_lists_nothing(client: Client, db: None) -> None:
    body = client.get("/api/v1/storage/keys/local-hkube/no-such-job").json()
    assert body == {"path": "local-hkube/no-such-job", "total": 0, "keys": []}


def test_the_result_download_takes_a_file_name(client: Client, api: Api) -> None:
    path = "local-hkube-results/named-job/result.json"
    get_storage().put(path, [{"nodeName": "A", "algorithmName": "green-alg", "result": 7}])
    Job.objects.create(
        job_id="named-job",
        pipeline_name="p",
        status=JobStatus.COMPLETED,
        pipeline={"name": "p", "nodes": []},
        user_pipeline={},
        result={"status": "completed", "data": {"storageInfo": {"path": path}}},
    )
    response = client.get("/api/v1/storage/download/pipeline/result/named-job/my-results")
    assert response.status_code == 200
    assert response["Content-Disposition"] == "attachment; filename=my-results.zip"
    plain = client.get("/api/v1/storage/download/pipeline/result/named-job/")
    assert plain["Content-Disposition"] == "attachment; filename=hkube-result.zip"
