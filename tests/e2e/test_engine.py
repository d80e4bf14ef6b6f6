"""The engine on real workers: references, chords in order, failures, stop, Node.js."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.algorithms import ALWAYS_FAILS, ECHO, FIRST, JITTERED_FIRST, JS_SUM, STOPPABLE
from tests.e2e.harness import Cluster, node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "echo": algorithm_factory("e2e-echo", ECHO),
        "slow": algorithm_factory("e2e-slow-echo", JITTERED_FIRST),
        "collect": algorithm_factory("e2e-collect", FIRST),
        "fail": algorithm_factory("e2e-fail", ALWAYS_FAILS),
        "stoppable": algorithm_factory("e2e-stoppable", STOPPABLE),
        "js": algorithm_factory("e2e-js-sum", JS_SUM),
    }


def test_batch_reduction_keeps_batch_index_order(hkube: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {
        "name": "e2e-order",
        "nodes": [
            node("spread", algorithms["slow"], "#[1...30]"),
            node("gather", algorithms["collect"], "@spread"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    assert hkube.results(status["jobId"])["data"][0]["result"] == list(range(1, 31))


def test_references_resolve_nested_paths_flow_input_and_literals(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-refs",
        "nodes": [
            node("first", algorithms["echo"], {"a": {"b": "@flowInput.deep.value"}}, [1, "@flowInput.list"]),
            node(
                "second",
                algorithms["echo"],
                "@first.0.a.b",
                "@first.1",
                "@first",
                "@first.9.nope",
                "plain @ text",
            ),
        ],
        "flowInput": {"deep": {"value": 7}, "list": ["x", "y"]},
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    (entry,) = hkube.results(status["jobId"])["data"]
    first = [{"a": {"b": 7}}, [1, ["x", "y"]]]
    assert entry["result"] == [7, [1, ["x", "y"]], first, None, "plain @ text"]


def test_batch_over_flow_input_array_runs_one_task_per_element(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-flow-batch",
        "nodes": [node("each", algorithms["echo"], "#@flowInput.items", "@flowInput.k")],
        "flowInput": {"items": ["a", "b", "c"], "k": 1},
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert [(d["batchIndex"], d["result"]) for d in data] == [(1, ["a", 1]), (2, ["b", 1]), (3, ["c", 1])]


def test_batch_over_an_empty_array_is_skipped_and_the_job_completes(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-skip",
        "nodes": [
            node("each", algorithms["echo"], "#@flowInput.items"),
            node("after", algorithms["echo"], "@each"),
        ],
        "flowInput": {"items": []},
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    assert hkube.results(status["jobId"])["data"] == [
        {"nodeName": "after", "algorithmName": algorithms["echo"], "result": [[]]}
    ]


def test_a_failing_algorithm_fails_the_job_with_its_own_error(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {"name": "e2e-fail", "nodes": [node("boom", algorithms["fail"], 42)]}
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "failed"
    assert status["error"] == "bad input: [42]"
    assert status["nodeName"] == "boom"
    result = hkube.results(status["jobId"])
    assert result["status"] == "failed" and result["error"] == "bad input: [42]"


def test_batch_failures_over_tolerance_fail_the_job_with_the_ratio(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {"name": "e2e-tolerance", "nodes": [node("boom", algorithms["fail"], "#[1...5]")]}
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "failed"
    assert status["error"].startswith("4/5 (80%) failed tasks, batch tolerance is 80%, error: bad input:")


def test_stop_ends_a_running_job_and_tells_the_algorithm(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    pipeline = {"name": "e2e-stop", "nodes": [node("forever", algorithms["stoppable"], str(marker))]}
    job_id = hkube.post("exec/raw", pipeline).json()["jobId"]
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text() == "running"):
        assert time.monotonic() < deadline, hkube.get(f"exec/status/{job_id}").json()
        time.sleep(0.05)
    early = hkube.get(f"exec/results/{job_id}")
    assert early.status_code == 400
    assert (
        early.json()["error"]["message"]
        == "unable to get results for pipeline e2e-stop because its in active status"
    )
    response = hkube.post("exec/stop", {"jobId": job_id, "reason": "enough"})
    assert response.json() == {"stoppedJobIds": [job_id]}
    status = hkube.wait(job_id)
    assert status["status"] == "stopped" and status["reason"] == "enough"
    deadline = time.monotonic() + 20
    while marker.read_text() != "stopped":
        assert time.monotonic() < deadline, "the algorithm was not told to stop"
        time.sleep(0.05)
    again = hkube.post("exec/stop", {"jobId": job_id})
    assert again.status_code == 404
    assert again.json()["error"]["message"] == (
        f"No jobs found matching criteria (jobId: {job_id}, statuses: active,pending,paused)"
    )


def test_stop_revokes_queued_batch_items(hkube: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {"name": "e2e-stop-batch", "nodes": [node("many", algorithms["slow"], "#[1...3000]")]}
    job_id = hkube.post("exec/raw", pipeline).json()["jobId"]
    hkube.wait(job_id, until=("active",))
    time.sleep(0.5)
    assert hkube.post("exec/stop", {"jobId": job_id}).status_code == 200
    status = hkube.wait(job_id)
    assert status["status"] == "stopped"
    time.sleep(2)
    after = hkube.get(f"exec/status/{job_id}").json()
    assert after["data"]["states"].get("succeed", 0) < 3000


def test_a_job_runs_a_nodejs_algorithm(hkube: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {
        "name": "e2e-js",
        "nodes": [
            node("numbers", algorithms["collect"], "#[1...10]"),
            node("sum", algorithms["js"], "@numbers"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    # Inline lists give strings ("1".."10") but ranges give numbers: 1+...+10.
    assert hkube.results(status["jobId"])["data"][0]["result"] == 55
