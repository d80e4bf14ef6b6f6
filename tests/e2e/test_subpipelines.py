"""Sub-pipelines started from algorithm code, on the real system (semantics §6.2).

`sp-parent` starts the sub-pipeline its input describes and returns what the code API
returned; `sp-echo` is the child's algorithm (echoes its input, fails on "fail", sleeps
until stopped on "sleep").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.algorithms import SUBPIPELINE_CHILD, SUBPIPELINE_PARENT
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> None:
    algorithm_factory("sp-parent", SUBPIPELINE_PARENT)
    algorithm_factory("sp-echo", SUBPIPELINE_CHILD)


def parent_pipeline(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec travels in the flowInput: `@` strings in it are the child's, not the parent's."""
    return {
        "name": name,
        "nodes": [{"nodeName": "parent", "algorithmName": "sp-parent", "input": ["@flowInput.spec"]}],
        "flowInput": {"spec": spec},
    }


def raw_child(*inputs: object) -> dict[str, Any]:
    return {
        "kind": "raw",
        "name": "sp-child",
        "nodes": [{"nodeName": "echo", "algorithmName": "sp-echo", "input": list(inputs)}],
        "flowInput": {"x": 5},
    }


def parent_result(hkube: Cluster, job_id: str) -> Any:
    data = hkube.results(job_id)["data"]
    assert [item["nodeName"] for item in data] == ["parent"], data
    return data[0]["result"]


def only_child(hkube: Cluster, job_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        response = hkube.get(f"exec/tree/{job_id}")
        if response.status_code == 200:
            children = response.json()["children"]
            assert len(children) == 1, children
            child: str = children[0]["jobId"]
            return child
        assert time.monotonic() < deadline, f"job {job_id} started no sub-pipeline"
        time.sleep(0.05)


def test_a_raw_sub_pipeline_runs_as_a_child_job_and_its_results_reach_the_parent(
    hkube: Cluster, algorithms: None
) -> None:
    status = hkube.run("exec/raw", parent_pipeline("sp-raw", raw_child("@flowInput.x")))

    assert status["status"] == "completed", status
    assert parent_result(hkube, status["jobId"]) == [
        {"nodeName": "echo", "algorithmName": "sp-echo", "result": [5]}
    ]
    tree = hkube.get(f"exec/tree/{status['jobId']}").json()
    child = tree["children"][0]["jobId"]
    assert tree == {
        "name": "sp-raw",
        "jobId": status["jobId"],
        "children": [{"name": "sp-child", "jobId": child, "children": []}],
    }
    executed = hkube.get(f"exec/pipelines/{child}").json()
    assert executed["types"] == ["internal", "raw", "sub-pipeline"]
    assert (executed["rootJobId"], executed["parentJobId"]) == (status["jobId"], status["jobId"])
    assert executed["experimentName"] == "main"
    assert hkube.get(f"exec/status/{child}").json()["status"] == "completed"


def test_a_stored_sub_pipeline_gets_the_given_flow_input_merged_into_the_stored_one(
    hkube: Cluster, algorithms: None
) -> None:
    stored = {
        "name": "sp-stored-child",
        "nodes": [
            {"nodeName": "echo", "algorithmName": "sp-echo", "input": ["@flowInput.a", "@flowInput.b"]}
        ],
        "flowInput": {"a": 1, "b": {"c": 2}},
    }
    response = hkube.post("store/pipelines", stored)
    assert response.status_code in (201, 409), response.text
    spec = {"kind": "stored", "name": "sp-stored-child", "flowInput": {"b": {"d": 3}}}

    status = hkube.run("exec/raw", parent_pipeline("sp-stored", spec))

    assert parent_result(hkube, status["jobId"]) == [
        {"nodeName": "echo", "algorithmName": "sp-echo", "result": [1, {"c": 2, "d": 3}]}
    ]
    child = only_child(hkube, status["jobId"])
    assert hkube.get(f"exec/pipelines/{child}").json()["types"] == ["internal", "stored", "sub-pipeline"]


def test_a_failed_child_comes_back_to_the_algorithm_as_its_error_message(
    hkube: Cluster, algorithms: None
) -> None:
    status = hkube.run("exec/raw", parent_pipeline("sp-fail", raw_child("fail")))

    assert status["status"] == "completed", status  # a child's failure is the algorithm's to judge
    error = parent_result(hkube, status["jobId"])
    assert isinstance(error, str) and "child refused" in error
    child = only_child(hkube, status["jobId"])
    assert hkube.get(f"exec/status/{child}").json()["status"] == "failed"


def test_a_refused_sub_pipeline_comes_back_as_the_refusal(hkube: Cluster, algorithms: None) -> None:
    spec = {**raw_child(1), "nodes": [{"nodeName": "echo", "algorithmName": "sp-nosuch", "input": []}]}

    status = hkube.run("exec/raw", parent_pipeline("sp-refused", spec))

    assert parent_result(hkube, status["jobId"]) == "algorithm sp-nosuch Not Found"


def test_stopping_the_parent_job_stops_its_running_child(hkube: Cluster, algorithms: None) -> None:
    response = hkube.post("exec/raw", parent_pipeline("sp-stop", raw_child("sleep")))
    assert response.status_code == 200, response.text
    parent = response.json()["jobId"]
    child = only_child(hkube, parent)
    hkube.wait(child, 60, until=("active",))

    assert hkube.post("exec/stop", {"jobId": parent, "reason": "enough"}).status_code == 200

    assert hkube.wait(parent, 30)["status"] == "stopped"
    stopped = hkube.wait(child, 30)
    assert stopped["status"] == "stopped"
    assert stopped["reason"].startswith("parent pipeline stopped"), stopped
