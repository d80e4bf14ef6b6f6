"""`kind: pipeline` nodes (pipe in pipe): a stored pipeline run inline as part of another.

As HKube's api-server does, the stored pipeline's nodes join the job renamed `<node>-<inner>`;
a child's `@<node>` reads the sub-pipeline's sink (semantics §3.3 step 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.algorithms import ECHO, SLEEPS, fails_when
from tests.e2e.harness import Cluster, node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "echo": algorithm_factory("pip-echo", ECHO),
        "picky": algorithm_factory("pip-picky", fails_when("value == 2", "'two'")),
        "sleep": algorithm_factory("pip-sleep", SLEEPS),
    }


def store(hkube: Cluster, descriptor: dict[str, Any]) -> None:
    response = hkube.post("store/pipelines", descriptor)
    assert response.status_code == 201, response.text


def sub(name: str, pipeline: str, *inputs: object) -> dict[str, Any]:
    return {"nodeName": name, "kind": "pipeline", "spec": {"name": pipeline}, "input": list(inputs)}


@pytest.fixture(scope="module")
def inner(hkube: Cluster, algorithms: dict[str, str]) -> str:
    store(
        hkube,
        {
            "name": "pip-inner",
            "nodes": [
                node("a", algorithms["picky"], "@flowInput.x"),
                node("b", algorithms["echo"], "@a", "in"),
            ],
            "flowInput": {"x": 3},
        },
    )
    return "pip-inner"


def test_the_sub_pipeline_result_flows_to_the_child(
    hkube: Cluster, algorithms: dict[str, str], inner: str
) -> None:
    pipeline = {
        "name": "pip-outer",
        "nodes": [
            node("first", algorithms["echo"], "hello"),
            sub("S", inner),
            node("T", algorithms["echo"], "@S", "@first"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert [(d["nodeName"], d["result"]) for d in data] == [("T", [[3, "in"], ["hello"]])]
    executed = hkube.get(f"exec/pipelines/{status['jobId']}").json()
    assert [(n["nodeName"], n.get("origName")) for n in executed["nodes"]] == [
        ("first", None),
        ("S-a", "S"),
        ("S-b", "S"),
        ("T", None),
    ]


def test_the_outer_flow_input_wins_and_a_failed_inner_node_fails_the_job(
    hkube: Cluster, algorithms: dict[str, str], inner: str
) -> None:
    pipeline = {"name": "pip-fails", "nodes": [sub("S", inner)], "flowInput": {"x": 2}}
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "failed", status
    assert "two" in str(status.get("error")), status


def test_stopping_the_job_stops_the_sub_pipeline(hkube: Cluster, algorithms: dict[str, str]) -> None:
    store(hkube, {"name": "pip-slow", "nodes": [node("nap", algorithms["sleep"], 60)]})
    job_id = hkube.submit({"name": "pip-stop", "nodes": [sub("S", "pip-slow")]}, "exec/raw")
    deadline = time.monotonic() + 60
    while hkube.get(f"exec/status/{job_id}").json().get("data", {}).get("states", {}).get("active") != 1:
        assert time.monotonic() < deadline, hkube.get(f"exec/status/{job_id}").json()
        time.sleep(0.1)
    assert hkube.post("exec/stop", {"jobId": job_id}).status_code == 200
    assert hkube.wait(job_id, timeout=30)["status"] == "stopped"


def test_an_unknown_pipeline_is_refused_with_hkube_message(hkube: Cluster) -> None:
    response = hkube.post("exec/raw", {"name": "pip-unknown", "nodes": [sub("S", "pip-nope")]})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"] == "pipeline pip-nope Not Found"
