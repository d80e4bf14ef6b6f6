"""`storage/values|stream|download`: stored objects by path, HKube's big-data message,
and a job's results as a zip."""

from __future__ import annotations

import io
import json
import zipfile

import msgpack
import pytest
from django.test import Client

from algorithms.models import Algorithm
from hkube_site.object_store import get_storage
from pipelines import outputs
from pipelines.models import Job, JobStatus
from tests.api.conftest import Api

BIG = "x" * 204_800  # stored: 8-byte header + msgpack str (5 bytes) + 204800 = 204813 bytes


@pytest.fixture
def stored(api: Api) -> dict[str, str]:
    storage = get_storage()
    objects = {
        "small": ("local-hkube/job-s/small", {"a": [1, 2, 3]}),
        "big": ("local-hkube/job-s/big", BIG),
        "raw": ("local-hkube/job-s/raw", b"\x00\x01raw bytes"),
    }
    for path, value in objects.values():
        storage.put(path, value)
    storage.adapter.put_bytes("local-hkube/job-s/plain.txt", b"no header here")
    return {name: path for name, (path, _) in objects.items()}


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (100, "100 B"),
        (1000, "1 kB"),
        (102_400, "102 kB"),
        (102_500, "103 kB"),  # a half goes up, as toPrecision rounds
        (204_813, "205 kB"),
        (999_999, "1000 kB"),
        (1_234_567, "1.23 MB"),
        (5 * 10**9, "5 GB"),
    ],
)
def test_sizes_are_printed_as_the_pretty_bytes_package_prints_them(size: int, text: str) -> None:
    assert outputs.pretty_bytes(size) == text


def test_big_data_info_is_hkubes_shape() -> None:
    assert outputs.big_data_info("local-hkube/j/t", 204_813) == {
        "path": "local-hkube/j/t",
        "size": 204_813,
        "isBigData": True,
        "message": "data too large (205 kB), use the stream api",
    }


def test_values_returns_the_decoded_object(api: Api, stored: dict[str, str]) -> None:
    assert api.get(f"storage/values/{stored['small']}") == (200, {"a": [1, 2, 3]})


def test_values_works_under_the_hkube_prefix_and_with_a_trailing_slash(
    client: Client, stored: dict[str, str]
) -> None:
    response = client.get(f"/hkube/api-server/api/v1/storage/values/{stored['small']}/")
    assert response.status_code == 200
    assert response.json() == {"a": [1, 2, 3]}


def test_values_refuses_an_object_at_or_above_the_threshold(api: Api, stored: dict[str, str]) -> None:
    assert api.error("get", f"storage/values/{stored['big']}") == (
        400,
        "data too large (205 kB), use the stream api",
    )


def test_values_of_a_missing_object_is_404(api: Api, stored: dict[str, str]) -> None:
    assert api.error("get", "storage/values/local-hkube/job-s/nope") == (
        404,
        "value local-hkube/job-s/nope Not Found",
    )


def test_a_folder_is_not_an_object(api: Api, stored: dict[str, str]) -> None:
    assert api.error("get", "storage/stream/custom/local-hkube/job-s") == (
        404,
        "stream local-hkube/job-s Not Found",
    )


def test_stream_custom_of_a_missing_object_is_404(api: Api, stored: dict[str, str]) -> None:
    assert api.error("get", "storage/stream/custom/local-hkube/missing/x") == (
        404,
        "stream local-hkube/missing/x Not Found",
    )
    assert api.error("get", "storage/stream/local-hkube/missing/x") == (
        404,
        "stream local-hkube/missing/x Not Found",
    )


def test_a_path_leaving_the_storage_is_refused(client: Client, stored: dict[str, str]) -> None:
    response = client.get("/api/v1/storage/stream/custom/local-hkube/%2E%2E/%2E%2E/%2E%2E/etc/passwd")
    assert response.status_code == 400
    assert "leaves the storage folder" in response.json()["error"]["message"]


def test_stream_custom_serves_raw_bytes_without_the_header(client: Client, stored: dict[str, str]) -> None:
    response = client.get(f"/api/v1/storage/stream/custom/{stored['raw']}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == b"\x00\x01raw bytes"  # type: ignore[attr-defined]


def test_stream_custom_serves_a_small_object_as_json(client: Client, stored: dict[str, str]) -> None:
    response = client.get(f"/api/v1/storage/stream/custom/{stored['small']}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(b"".join(response.streaming_content)) == {"a": [1, 2, 3]}  # type: ignore[attr-defined]


def test_stream_custom_serves_a_big_object_as_its_encoded_payload(
    client: Client, stored: dict[str, str]
) -> None:
    response = client.get(f"/api/v1/storage/stream/custom/{stored['big']}")
    assert response.status_code == 200
    payload = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert msgpack.unpackb(payload) == BIG


def test_stream_custom_serves_an_object_without_header_as_stored(
    client: Client, stored: dict[str, str]
) -> None:
    response = client.get("/api/v1/storage/stream/custom/local-hkube/job-s/plain.txt")
    assert b"".join(response.streaming_content) == b"no header here"  # type: ignore[attr-defined]


def test_stream_serves_the_bytes_exactly_as_stored(client: Client, stored: dict[str, str]) -> None:
    response = client.get(f"/api/v1/storage/stream/{stored['raw']}")
    data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert data[6:8] == b"HK" and data.endswith(b"raw bytes")


def test_downloads_are_attachments_named_hkube_result(client: Client, stored: dict[str, str]) -> None:
    response = client.get(f"/api/v1/storage/download/custom/{stored['raw']}?ext=bin")
    assert response["Content-Disposition"] == "attachment; filename=hkube-result.bin"
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == b"\x00\x01raw bytes"  # type: ignore[attr-defined]
    response = client.get(f"/api/v1/storage/download/{stored['raw']}")
    assert response["Content-Disposition"] == "attachment; filename=hkube-result"


def _completed_job(job_id: str, data: list[dict[str, object]]) -> Job:
    path = f"local-hkube-results/{job_id}/result.json"
    get_storage().put(path, data)
    pipeline = {"name": "zip-test", "nodes": []}
    return Job.objects.create(
        job_id=job_id,
        pipeline_name="zip-test",
        status=JobStatus.COMPLETED,
        pipeline=pipeline,
        user_pipeline=pipeline,
        result={"status": "completed", "data": {"storageInfo": {"path": path}}},
    )


def test_results_download_is_a_zip_of_big_results_and_metadata(
    client: Client, api: Api, stored: dict[str, str]
) -> None:
    Algorithm.objects.create(name="csv-alg", descriptor={"name": "csv-alg", "downloadFileExt": "csv"})
    info = outputs.big_data_info(stored["big"], 204_813)
    _completed_job(
        "zip-job",
        [
            {"nodeName": "A", "algorithmName": "green-alg", "result": 7},
            {"nodeName": "B", "algorithmName": "csv-alg", "batchIndex": 2, "info": info},
            {"nodeName": "C", "algorithmName": "green-alg", "info": outputs.big_data_info(stored["raw"], 17)},
        ],
    )
    response = client.get("/api/v1/storage/download/pipeline/result/zip-job")
    assert response.status_code == 200
    assert response["Content-Disposition"] == "attachment; filename=hkube-result.zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    assert sorted(archive.namelist()) == ["B-2.csv", "C.hkube", "metadata.json"]
    assert msgpack.unpackb(archive.read("B-2.csv")) == BIG
    assert archive.read("C.hkube") == b"\x00\x01raw bytes"
    assert json.loads(archive.read("metadata.json")) == [
        {"nodeName": "A", "algorithmName": "green-alg", "result": 7},
        {
            "nodeName": "B",
            "algorithmName": "csv-alg",
            "batchIndex": 2,
            "info": {"size": 204_813, "fileName": "B-2.csv"},
        },
        {"nodeName": "C", "algorithmName": "green-alg", "info": {"size": 17, "fileName": "C.hkube"}},
    ]


def test_results_download_of_an_unknown_job_or_one_without_data_is_404(api: Api) -> None:
    assert api.error("get", "storage/download/pipeline/result/nope") == (404, "results nope Not Found")
    Job.objects.create(
        job_id="failed-job",
        pipeline_name="p",
        status=JobStatus.FAILED,
        pipeline={"name": "p"},
        user_pipeline={"name": "p"},
        result={"status": "failed", "error": "boom"},
    )
    assert api.error("get", "storage/download/pipeline/result/failed-job") == (
        404,
        "results failed-job Not Found",
    )
