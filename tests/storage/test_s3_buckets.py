"""The S3 adapter against a real S3-compatible server: HKube's bucket layout, buckets
created when first written to, and the header kept in the object's metadata as HKube does."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from storage import encoding as enc
from storage import open_storage, paths

from .s3_server import S3_KEYS, moto_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEYS["access_key"],
        aws_secret_access_key=S3_KEYS["secret_key"],
        region_name=S3_KEYS["region"],
    )


def test_the_buckets_follow_hkubes_layout_and_are_created_when_missing(endpoint: str, tmp_path: Path) -> None:
    client = _client(endpoint)
    store = open_storage("s3", tmp_path, "msgpack", {**S3_KEYS, "endpoint_url": endpoint})
    before = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert "layout-hkube" not in before
    store.put(paths.task_output("layout", "job-1", "task-1"), 1)
    store.put(paths.job_result("layout", "job-1"), [1])
    buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert {"layout-hkube", "layout-hkube-results"} <= buckets
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="layout-hkube")["Contents"]]
    assert keys == ["job-1/task-1"]


def test_the_header_is_object_metadata_and_the_body_is_the_payload(endpoint: str, tmp_path: Path) -> None:
    client = _client(endpoint)
    store = open_storage("s3", tmp_path, "json", {**S3_KEYS, "endpoint_url": endpoint})
    store.put(paths.task_output("meta", "job-1", "task-1"), {"x": 1})
    obj = client.get_object(Bucket="meta-hkube", Key="job-1/task-1")
    assert obj["Body"].read() == b'{"x":1}'
    header = base64.b64decode(obj["Metadata"]["header"])
    assert header[6:8] == enc.MAGIC and header[3] == enc.PROTOCOLS["json"]


def test_a_second_process_reads_what_the_first_wrote(endpoint: str, tmp_path: Path) -> None:
    """No shared disk: two storages with different local folders see the same objects."""
    config = {**S3_KEYS, "endpoint_url": endpoint}
    writer = open_storage("s3", tmp_path / "pod-a", "msgpack", config)
    reader = open_storage("s3", tmp_path / "pod-b", "msgpack", config)
    writer.put(paths.flow_input("shared", "job-9"), {"files": [1, 2]})
    assert reader.get(paths.flow_input("shared", "job-9")) == {"files": [1, 2]}
    assert not (tmp_path / "pod-a").exists() and not (tmp_path / "pod-b").exists()
