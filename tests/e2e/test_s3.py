"""The whole system on S3 storage (a real S3-compatible server: moto in server mode) and no
shared storage folder: the numbers pipeline, a big result streamed back, and task logs, all
through S3. Every process gets the S3 settings the chart gives a cluster; none of them has a
storage folder in common, and none is created."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import msgpack
import pytest

from tests.e2e.algorithms import (
    BIG,
    PRINTS,
    algorithm_applier,
    apply_example,
    python,
    store_pipeline_files,
)
from tests.e2e.harness import ROOT, Cluster, running_cluster
from tests.storage.s3_server import S3_KEYS, moto_server, s3_env

pytestmark = pytest.mark.e2e
CLUSTER_NAME = "s3e2e"
LENGTH = python("def start(args):", "    return len(args['input'][0])")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def s3cluster(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("hkube-s3")
    # A storage folder nobody could write to: S3 mode must never touch one.
    env = {**s3_env(endpoint), "CLUSTER_NAME": CLUSTER_NAME, "BASE_FS_ADAPTER_DIRECTORY": "/dev/null/storage"}
    with running_cluster(home, **env) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def algorithms(s3cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    example = ROOT / "examples" / "numbers"
    subprocess.run(["bash", str(example / "package.sh")], check=True, cwd=example)
    for name in ("range", "multiply", "reduce"):
        apply_example(s3cluster, example, name)
    store_pipeline_files(s3cluster, example, "numbers.yml")
    create = algorithm_applier(s3cluster, tmp_path_factory.mktemp("s3-algorithms"))
    return {
        "big": create("s3-big", BIG),
        "prints": create("s3-prints", PRINTS),
        "length": create("s3-length", LENGTH),
    }


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEYS["access_key"],
        aws_secret_access_key=S3_KEYS["secret_key"],
        region_name=S3_KEYS["region"],
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_the_numbers_pipeline_gives_30_with_everything_in_s3(
    s3cluster: Cluster, algorithms: dict[str, str], endpoint: str
) -> None:
    status = s3cluster.run("exec/stored", {"name": "numbers", "flowInput": {"data": 5, "mul": 2}})
    assert status["status"] == "completed", status
    job_id = status["jobId"]
    result = s3cluster.results(job_id)
    assert result["data"] == [{"nodeName": "Reduce", "algorithmName": "reduce", "result": 30}]
    assert result["storageModule"] == "@hkube/s3-adapter"
    # HKube's key layout, in S3: flowInput, every task's output, the result, the uploads.
    keys = bucket_keys(endpoint, f"{CLUSTER_NAME}-hkube")
    assert f"{job_id}/{job_id}" in keys
    assert len([k for k in keys if k.startswith(f"{job_id}/") and k != f"{job_id}/{job_id}"]) >= 7
    assert bucket_keys(endpoint, f"{CLUSTER_NAME}-hkube-results") == [f"{job_id}/result.json"]
    assert len(bucket_keys(endpoint, f"{CLUSTER_NAME}-hkube-builds")) >= 5
    assert not (s3cluster.home / "storage").exists()


def test_a_big_result_streams_back_from_s3(s3cluster: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {
        "name": "s3-big",
        "nodes": [{"nodeName": "big", "algorithmName": algorithms["big"], "input": [300_000]}],
    }
    status = s3cluster.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    (entry,) = s3cluster.results(status["jobId"])["data"]
    info = entry["info"]
    assert info["isBigData"] is True and info["path"].startswith(f"{CLUSTER_NAME}-hkube/")
    streamed = s3cluster.get(f"storage/stream/custom/{info['path']}")
    assert streamed.status_code == 200
    assert msgpack.unpackb(streamed.content) == "x" * 300_000
    missing = s3cluster.get(f"storage/stream/custom/{CLUSTER_NAME}-hkube/no-such-job/no-such-task")
    assert missing.status_code == 404


def test_a_value_over_the_file_threshold_passes_between_nodes_inline_on_s3(
    s3cluster: Cluster, algorithms: dict[str, str]
) -> None:
    # Big values go as files only with the fs storage (runtime/file_values.py): on S3 the
    # worker stores and reads them as before.
    pipeline = {
        "name": "s3-big-pass",
        "nodes": [
            {"nodeName": "big", "algorithmName": algorithms["big"], "input": [3 * 1024 * 1024]},
            {"nodeName": "len", "algorithmName": algorithms["length"], "input": ["@big"]},
        ],
    }
    status = s3cluster.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    (entry,) = s3cluster.results(status["jobId"])["data"]
    assert entry["result"] == 3 * 1024 * 1024


def test_task_logs_are_kept_in_s3_and_read_back(
    s3cluster: Cluster, algorithms: dict[str, str], endpoint: str
) -> None:
    pipeline = {
        "name": "s3-logs",
        "nodes": [{"nodeName": "p", "algorithmName": algorithms["prints"], "input": [4]}],
    }
    status = s3cluster.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    response = s3cluster.get(f"exec/logs/{status['jobId']}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    lines = {(line["stream"], line["message"]) for entry in body["logs"] for line in entry["lines"]}
    assert ("stdout", "out 4") in lines and ("stderr", "err 4") in lines
    assert [k.split("/")[0] for k in bucket_keys(endpoint, f"{CLUSTER_NAME}-hkube-logs")].count(
        status["jobId"]
    ) == 1
