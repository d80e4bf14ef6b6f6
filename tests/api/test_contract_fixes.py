"""Contracts found by running HKube's own tests black-box: a run from a node names its root
job; a batch node skipped for an empty or null input shows a skipped item."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines import services
from pipelines.models import Job, JobNode, JobStatus, NodeStatus
from tests.api.conftest import Api


def run(api: Api, flow_input: dict[str, Any], *nodes: dict[str, Any]) -> str:
    status, body = api.post("exec/raw", {"name": "p1", "nodes": list(nodes), "flowInput": flow_input})
    assert status == 200, body
    job_id: str = body["jobId"]
    services.start_job(job_id)
    return job_id


def test_a_run_from_a_node_names_the_original_job_as_its_root(api: Api) -> None:
    nodes = [
        {"nodeName": "a", "algorithmName": "green-alg", "input": ["@flowInput.x"]},
        {"nodeName": "b", "algorithmName": "green-alg", "input": ["@a"]},
    ]
    original = run(api, {"x": 1}, *nodes)
    for name in ("a", "b"):
        JobNode.objects.filter(job_id=original, node_name=name).update(
            status=NodeStatus.SUCCEED,
            output={
                "kind": "single",
                "status": "succeed",
                "link": {"storageInfo": {"path": f"{original}/{name}"}},
            },
        )
    Job.objects.filter(job_id=original).update(status=JobStatus.COMPLETED)
    first = api.post("exec/caching", {"jobId": original, "nodeName": "b"})[1]["jobId"]
    assert api.get(f"exec/pipelines/{first}")[1]["rootJobId"] == original
    Job.objects.filter(job_id=first).update(status=JobStatus.COMPLETED)
    again = api.post("exec/caching", {"jobId": first, "nodeName": "b"})[1]["jobId"]
    assert api.get(f"exec/pipelines/{again}")[1]["rootJobId"] == original
    assert "rootJobId" not in api.get(f"exec/pipelines/{original}")[1]


@pytest.mark.parametrize("items", [[], None])
def test_a_batch_node_with_no_items_is_skipped_with_one_skipped_item(api: Api, items: Any) -> None:
    job_id = run(
        api,
        {"items": items, "x": 1},
        {"nodeName": "batch", "algorithmName": "green-alg", "input": ["#@flowInput.items"]},
        {"nodeName": "other", "algorithmName": "yellow-alg", "input": ["@flowInput.x"]},
    )
    status, graph = api.get(f"graph/raw/{job_id}")
    assert status == 200
    node = next(n for n in graph["nodes"] if n["nodeName"] == "batch")
    assert node["status"] == "skipped"
    assert [(i["batchIndex"], i["status"]) for i in node["batch"]] == [(1, "skipped")]
    status, body = api.get(f"exec/status/{job_id}")
    assert status == 200
    assert body["data"]["states"]["skipped"] == 1
    assert "1 skipped" in body["data"]["details"]
