"""A stream job's gateway ingress, and its per-edge figures in exec/status and graph/raw."""

from __future__ import annotations

import json
from typing import Any

import redis
from django.test import Client

from algorithms.runtime.streams.transport import Consumer
from hkube_site import redis_client as rc
from pipelines.models import Job, JobNode, JobStatus, NodeStatus
from tests.api.conftest import Api

PIPELINE: dict[str, Any] = {
    "name": "gw-stream",
    "kind": "stream",
    "nodes": [
        {"nodeName": "G", "algorithmName": "gw1-gateway", "kind": "gateway", "stateType": "stateful"},
        {"nodeName": "B", "algorithmName": "yellow-alg", "stateType": "stateless"},
    ],
    "edges": [{"source": "G", "target": "B", "types": ["customStream"]}],
    "streaming": {
        "flows": {"main": "G >> B"},
        "parsedFlow": {"main": [{"source": "G", "next": ["B"]}]},
        "defaultFlow": "main",
        "gateways": [{"nodeName": "G", "url": "hkube/gateway/gw1"}],
    },
}


def stream_job(job_id: str, status: str = JobStatus.ACTIVE) -> Job:
    job = Job.objects.create(
        job_id=job_id,
        pipeline_name="gw-stream",
        status=status,
        pipeline=PIPELINE,
        user_pipeline=PIPELINE,
        start_time=1_000,
        status_timestamp=9_000,
    )
    for level, name in enumerate(("G", "B")):
        JobNode.objects.create(
            job=job,
            node_name=name,
            algorithm_name="x",
            position=level,
            level=level,
            status=NodeStatus.ACTIVE,
            start_time=2_000,
        )
    return job


def test_a_gateway_post_becomes_a_message_to_the_next_nodes(
    client: Client, db: None, real_redis: redis.Redis
) -> None:
    stream_job("gwjob000001")
    response = client.post(
        "/hkube/gateway/gw1/streaming/message", json.dumps({"n": 1}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "OK"
    consumer = Consumer(rc.client(), rc.stream_keys("gwjob000001"), "B", ["G"], "t1")
    messages = consumer.receive(count=10, block_ms=100)
    assert [m.payload for m in messages] == [{"n": 1}]
    assert messages[0].source == "G" and messages[0].flow == "main"
    info = client.get("/hkube/gateway/gw1/streaming/info").json()
    assert info == {"jobId": "gwjob000001", "pipelineName": "gw-stream", "nodeName": "G"}


def test_an_unknown_gateway_or_one_whose_job_ended_is_a_404(
    client: Client, db: None, real_redis: redis.Redis
) -> None:
    stream_job("gwjob000002", status=JobStatus.STOPPED)
    for name in ("gw1", "nope"):
        response = client.post(
            f"/hkube/gateway/{name}/streaming/message", "{}", content_type="application/json"
        )
        assert response.status_code == 404
        assert response.json()["error"]["message"] == f"gateway {name} Not Found"


def test_stream_figures_in_status_and_graph(api: Api, real_redis: redis.Redis) -> None:
    stream_job("gwjob000003")
    figures = {"G>B": {"queueSize": 3.0, "throughput": 40.0, "processingTimeMs": 2.5, "dropped": 0.0}}
    rc.client().set(rc.stream_keys("gwjob000003").metrics, json.dumps(figures))
    status, body = api.get("exec/status/gwjob000003")
    assert status == 200
    assert body["data"]["progress"] == 40.0  # HKube: the median throughput
    assert body["data"]["metrics"] == figures
    assert "completed" not in body["data"]["details"]
    status, graph = api.get("graph/raw/gwjob000003")
    assert status == 200
    [edge] = graph["edges"]
    assert (edge["from"], edge["to"]) == ("G", "B")
    assert edge["value"]["metrics"] == figures["G>B"]
