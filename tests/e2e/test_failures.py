"""Failures on real workers: batch tolerance, crashed algorithms and crashed workers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.algorithms import CRASHES_ONCE, HANGS_FIRST_TIME, SLEEPS, fails_when
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "sometimes": algorithm_factory(
            "fl-sometimes-fails", fails_when("value % 20 == 0", "f'{value} is a multiple of 20'")
        ),
        "crash": algorithm_factory("fl-crashes-once", CRASHES_ONCE),
        "hang": algorithm_factory("fl-hangs-once", HANGS_FIRST_TIME),
    }


def batch_pipeline(name: str, algorithm: str, items: int, tolerance: int) -> dict[str, object]:
    return {
        "name": name,
        "nodes": [{"nodeName": "work", "algorithmName": algorithm, "input": [f"#[1...{items}]"]}],
        "options": {"batchTolerance": tolerance},
    }


def test_ten_thousand_items_with_five_percent_failing_complete_under_tolerance_ten(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    status = hkube.run(
        "exec/raw", batch_pipeline("fl-tol-10", algorithms["sometimes"], 10000, 10), timeout=300
    )
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert len(data) == 10000
    errors = [d for d in data if "error" in d]
    assert len(errors) == 500
    assert errors[0] == {
        "nodeName": "work", "algorithmName": algorithms["sometimes"], "batchIndex": 20,
        "error": "20 is a multiple of 20",
    }  # fmt: skip
    assert [d["batchIndex"] for d in data] == list(range(1, 10001))
    assert status["data"]["states"] == {"succeed": 9500, "failed": 500}


def test_the_same_batch_fails_under_tolerance_five_with_the_ratio_message(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    status = hkube.run("exec/raw", batch_pipeline("fl-tol-5", algorithms["sometimes"], 10000, 5), timeout=300)
    assert status["status"] == "failed", status
    # Math.round(450 / 10000 * 100) = 5: the job fails at the 450th failure.
    assert status["error"].startswith("450/10000 (5%) failed tasks, batch tolerance is 5%, error: "), status
    assert status["nodeName"] == "work"


def test_a_killed_algorithm_process_runs_its_task_again(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path
) -> None:
    pipeline = {"name": "fl-crash", "nodes": [{"nodeName": "a", "algorithmName": algorithms["crash"],
                                               "input": [str(tmp_path / "marker")]}]}  # fmt: skip
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    assert hkube.results(status["jobId"])["data"][0]["result"] == "survived"
    assert (tmp_path / "marker").read_text() == "crashed once"


def test_with_retry_never_a_killed_algorithm_fails_the_job_with_a_crash_message(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path
) -> None:
    node = {"nodeName": "a", "algorithmName": algorithms["crash"], "input": [str(tmp_path / "marker")],
            "retry": {"policy": "Never"}}  # fmt: skip
    status = hkube.run("exec/raw", {"name": "fl-crash-never", "nodes": [node]})
    assert status["status"] == "failed", status
    assert status["error"].startswith(
        "algorithm crashed (retry policy Never): algorithm process exited with code -9 (SIGKILL)"
    )


def test_a_killed_worker_has_its_chunk_run_again_by_another_worker(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    pipeline = {"name": "fl-worker-crash", "nodes": [{"nodeName": "a", "algorithmName": algorithms["hang"],
                                                      "input": [str(marker)]}]}  # fmt: skip
    job_id = hkube.post("exec/raw", pipeline).json()["jobId"]
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (worker,) = [w for w in hkube.workers() if w["algorithm"] == algorithms["hang"]]
    os.killpg(int(worker["pid"]), signal.SIGKILL)
    status = hkube.wait(job_id, timeout=90)
    assert status["status"] == "completed", status
    assert hkube.results(job_id)["data"][0]["result"] == "second run"


@pytest.fixture(scope="module")
def sleeper(algorithm_factory: Callable[..., str]) -> str:
    return algorithm_factory("fl-sleeps", SLEEPS)


def test_a_job_past_its_ttl_is_stopped_as_expired(hkube: Cluster, sleeper: str) -> None:
    pipeline = {"name": "fl-ttl", "options": {"ttl": 1},
                "nodes": [{"nodeName": "a", "algorithmName": sleeper, "input": [30]}]}  # fmt: skip
    status = hkube.run("exec/raw", pipeline, timeout=60)
    assert status["status"] == "stopped" and status["reason"] == "pipeline expired", status


def test_a_job_past_its_active_ttl_is_stopped(hkube: Cluster, sleeper: str) -> None:
    pipeline = {"name": "fl-active-ttl", "options": {"activeTtl": 1},
                "nodes": [{"nodeName": "a", "algorithmName": sleeper, "input": [30]}]}  # fmt: skip
    status = hkube.run("exec/raw", pipeline, timeout=60)
    assert status["status"] == "stopped" and status["reason"] == "pipeline active TTL expired", status


def test_a_node_ttl_fails_the_task_with_algorithm_ttl_expired(hkube: Cluster, sleeper: str) -> None:
    pipeline = {
        "name": "fl-node-ttl",
        "nodes": [{"nodeName": "a", "algorithmName": sleeper, "input": [30], "ttl": 1}],
    }
    status = hkube.run("exec/raw", pipeline, timeout=60)
    assert status["status"] == "failed" and status["error"] == "Algorithm TTL expired", status


def test_concurrent_pipelines_reject_or_hold_extra_jobs(hkube: Cluster, sleeper: str) -> None:
    def pipeline(reject: bool) -> dict[str, object]:
        node = {"nodeName": "a", "algorithmName": sleeper, "input": [1]}
        limit = {"amount": 1, "rejectOnFailure": reject}
        return {"name": f"fl-concurrent-{reject}", "nodes": [node], "options": {"concurrentPipelines": limit}}

    first = hkube.post("exec/raw", pipeline(True)).json()["jobId"]
    refused = hkube.post("exec/raw", pipeline(True))
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "maximum number [1] of concurrent pipelines has been reached"
    hkube.wait(first)

    running = hkube.post("exec/raw", pipeline(False)).json()["jobId"]
    held = hkube.post("exec/raw", pipeline(False)).json()["jobId"]
    assert hkube.get(f"exec/status/{held}").json()["status"] == "pending"
    assert hkube.get(f"exec/pipelines/{held}").json()["maxExceeded"] is True
    first_done = hkube.wait(running)
    second = hkube.wait(held)
    assert first_done["status"] == second["status"] == "completed"
    # The held job started only once the first one had ended.
    assert (
        hkube.get(f"exec/status/{held}").json()["activeTime"]
        >= hkube.get(f"exec/results/{running}").json()["timestamp"]
    )


@pytest.fixture(scope="module")
def single_worker_sleeper(algorithm_factory: Callable[..., str]) -> str:
    return algorithm_factory("fl-one-worker", SLEEPS, maxWorkers=1)


def test_higher_priority_jobs_run_first_and_older_first_at_equal_priority(
    hkube: Cluster, single_worker_sleeper: str
) -> None:
    def submit(name: str, priority: int, seconds: float) -> str:
        node = {"nodeName": "a", "algorithmName": single_worker_sleeper, "input": [seconds]}
        body = {"name": name, "priority": priority, "nodes": [node]}
        return str(hkube.post("exec/raw", body).json()["jobId"])

    assert hkube.wait(submit("fl-prio-warm", 3, 0))["status"] == "completed"  # its one worker is up
    blocker = submit("fl-prio-blocker", 3, 3)
    hkube.wait(blocker, until=("active",))
    time.sleep(1)  # the blocker's task is running on the only worker
    low_old = submit("fl-prio-low-old", 5, 0.1)
    low_new = submit("fl-prio-low-new", 5, 0.1)
    high = submit("fl-prio-high", 1, 0.1)
    for job_id in (blocker, low_old, low_new, high):
        assert hkube.wait(job_id)["status"] == "completed"

    def ended(job_id: str) -> int:
        # One worker runs the three jobs one after the other: their end order is their run order.
        (node,) = hkube.get(f"graph/raw/{job_id}").json()["nodes"]
        return int(node["endTime"])

    assert ended(blocker) < ended(high) < ended(low_old) < ended(low_new)
