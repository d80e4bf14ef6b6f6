"""Algorithms written for HKube's published Python wrapper (hkube-python-wrapper 2.4.2) run
unchanged: built with the wrapper from PyPI, driven over the protocol, storage by reference.

The two HKube-wrapper builds download from PyPI; they are made once for the module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import msgpack
import pytest
import requests

from tests.e2e.algorithms import example_algorithm, store_pipeline_files
from tests.e2e.harness import ROOT, Cluster

# The first test also pays for the two builds (a cold pip cache downloads the wrapper's
# dependencies from PyPI).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
EXAMPLE = ROOT / "examples" / "hkube-wrapper"


@pytest.fixture(scope="module")
def hkube_wrapper(numbers: Cluster) -> dict[str, dict[str, Any]]:
    """hkube-range and hkube-multiply built on HKube's wrapper, the two pipelines stored;
    returns the builds by algorithm name."""
    subprocess.run(["bash", str(EXAMPLE / "package.sh")], check=True, cwd=EXAMPLE, capture_output=True)
    builds: dict[str, dict[str, Any]] = {}
    for name in ("range", "multiply"):
        payload, code = example_algorithm(EXAMPLE, name)
        body = numbers.apply_algorithm(payload, code)
        builds[payload["name"]] = numbers.wait_build(body["buildId"], timeout=600)
    store_pipeline_files(numbers, EXAMPLE, "numbers.yml", "mixed.yml")
    for name, build in builds.items():
        print(f"{name}: build took {(build['endTime'] - build['startTime']) / 1000:.1f} s")
    return builds


def tasks(cluster: Cluster, job_id: str) -> list[dict[str, Any]]:
    """The job's Task rows (the tests otherwise speak HTTP only; results are not on the API)."""
    code = (
        "import json; from pipelines.models import Task; print(json.dumps(list("
        f"Task.objects.filter(job_id={job_id!r}).order_by('node_name', 'batch_index')"
        ".values('node_name', 'batch_index', 'task_id', 'status', 'error', 'result'))))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=cluster.env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def stored(cluster: Cluster, path: str) -> Any:
    """An object in fs storage, read as HKube's wrappers write it: 8-byte header, msgpack."""
    data = (cluster.home / "storage" / path).read_bytes()
    assert data[6:8] == b"HK" and data[2] == 2 and data[3] == 3, data[:8]  # encoded, msgpack
    return msgpack.unpackb(data[8:], raw=False)


def test_builds_install_hkubes_wrapper_picked_by_requirements_or_descriptor(
    hkube_wrapper: dict[str, dict[str, Any]],
) -> None:
    range_log = hkube_wrapper["hkube-range"]["result"]["data"]
    assert "wrapper: hkube-python-wrapper==2.4.2 (named in requirements.txt)" in range_log
    multiply_log = hkube_wrapper["hkube-multiply"]["result"]["data"]
    assert "wrapper: hkube-python-wrapper==2.4.2 (descriptor)" in multiply_log
    for log in (range_log, multiply_log):
        # The algorithm's own websocket-client 0.57 wins over the server's newer one.
        assert "hkube-python-wrapper 2.4.2, websocket-client 0.57.0 from " in log
        assert "/env/lib/" in log.split("websocket-client 0.57.0 from ", 1)[1].splitlines()[0]


def test_numbers_on_hkubes_wrapper_gives_30_with_storage_by_reference(
    numbers: Cluster, hkube_wrapper: dict[str, dict[str, Any]]
) -> None:
    status = numbers.run("exec/stored", {"name": "numbers-hkube"}, timeout=180)
    assert status["status"] == "completed", status
    job_id = status["jobId"]
    result = numbers.results(job_id)["data"]
    assert result == [{"nodeName": "Reduce", "algorithmName": "reduce", "result": 30}]

    rows = {(row["node_name"], row["batch_index"]): row for row in tasks(numbers, job_id)}
    # Storage v3: HKube's wrapper read its inputs from storage (the flowInput we wrote, then
    # Range's output it wrote itself) and wrote its output; Task.result is its storing
    # message. Its metadata names Python types ("int"), which our runner never writes.
    range_row = rows[("Range", 0)]
    assert range_row["result"]["metadata"] == {"Range": {"type": "array", "size": 5}}
    assert range_row["result"]["storageInfo"]["path"] == f"local-hkube/{job_id}/{range_row['task_id']}"
    assert stored(numbers, range_row["result"]["storageInfo"]["path"]) == [1, 2, 3, 4, 5]
    for i in range(1, 6):
        item = rows[("Multiply", i)]
        assert item["status"] == "succeed"
        assert item["result"]["metadata"] == {"Multiply": {"type": "int"}}
        assert item["result"]["storageInfo"]["path"] == f"local-hkube/{job_id}/{item['task_id']}"
        assert stored(numbers, item["result"]["storageInfo"]["path"]) == 2 * i
    # Reduce runs on our Node.js wrapper: our runner read what HKube's wrapper wrote.
    assert rows[("Reduce", 0)]["result"]["metadata"] == {}


def test_our_range_feeds_hkubes_multiply(numbers: Cluster, hkube_wrapper: dict[str, dict[str, Any]]) -> None:
    status = numbers.run("exec/stored", {"name": "numbers-mixed", "flowInput": {"data": 4, "mul": 3}})
    assert status["status"] == "completed", status
    result = numbers.results(status["jobId"])["data"]
    assert result == [
        {"nodeName": "Multiply", "algorithmName": "hkube-multiply", "batchIndex": i, "result": 3 * i}
        for i in range(1, 5)
    ]
    multiply = [r for r in tasks(numbers, status["jobId"]) if r["node_name"] == "Multiply"]
    assert len(multiply) == 4
    for row in multiply:
        # A sink has no savePaths, so no metadata; HKube's wrapper counts `size` without the
        # 8-byte header (our runner counts the whole object): it wrote these itself.
        info = row["result"]["storageInfo"]
        assert row["result"]["metadata"] == {}
        assert info["size"] == (numbers.home / "storage" / info["path"]).stat().st_size - 8


def test_an_exception_in_an_hkube_wrapper_algorithm_fails_its_task_with_the_message(
    numbers: Cluster, hkube_wrapper: dict[str, dict[str, Any]]
) -> None:
    status = numbers.run("exec/stored", {"name": "numbers-mixed", "flowInput": {"data": 2, "mul": None}})
    assert status["status"] == "failed", status
    errors = [r["error"] for r in tasks(numbers, status["jobId"]) if r["node_name"] == "Multiply"]
    assert len(errors) == 2
    assert all("unsupported operand type(s) for *: 'int' and 'NoneType'" in e for e in errors), errors


def test_storage_protocol_v1_and_json_frames_through_algorithm_env(
    numbers: Cluster, hkube_wrapper: dict[str, dict[str, Any]]
) -> None:
    def apply(algorithm_env: dict[str, str]) -> None:
        files = {
            "payload": (None, json.dumps({"name": "hkube-multiply", "algorithmEnv": algorithm_env})),
            "options": (None, json.dumps({"forceUpdate": True})),
        }
        response = requests.post(numbers.url("store/algorithms/apply"), files=files, timeout=60)
        assert response.status_code == 200, response.text

    apply({"STORAGE_PROTOCOL": "v1", "WORKER_ALGORITHM_ENCODING": "json"})  # a new version, same build
    try:
        status = numbers.run("exec/stored", {"name": "numbers-hkube"}, timeout=180)
        assert status["status"] == "completed", status
        assert numbers.results(status["jobId"])["data"][0]["result"] == 30
        rows = tasks(numbers, status["jobId"])
        # v1: the wrapper answered inline and our runner stored the value ("number", not "int").
        assert [r["result"]["metadata"] for r in rows if r["node_name"] == "Multiply"] == [
            {"Multiply": {"type": "number"}}
        ] * 5
    finally:
        apply({})
