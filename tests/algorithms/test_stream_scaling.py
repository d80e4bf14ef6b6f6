"""The stream autoscaler's loop (algorithms/stream_scaling.py) over a job's rows and counters."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from algorithms import stream_scaling
from algorithms.resources import Budget
from algorithms.scheduling.snapshot import Plan, Snapshot
from hkube_site import redis_client as rc
from pipelines.models import Job, JobNode, JobStatus, NodeStatus
from pipelines.services import sending

PIPELINE: dict[str, Any] = {
    "name": "scaling",
    "kind": "stream",
    "nodes": [
        {"nodeName": "src", "algorithmName": "a", "stateType": "stateful"},
        {"nodeName": "double", "algorithmName": "b", "stateType": "stateless", "maxStatelessCount": 5},
    ],
}
JOB = "scalejob001"


@pytest.fixture
def job(db: None, real_redis: redis.Redis, settings: Any) -> Job:
    settings.HKUBE_MAX_WORKERS = 10
    settings.STREAMING_SCALE_DOWN_SECONDS = 30.0
    created = Job.objects.create(
        job_id=JOB, pipeline_name="scaling", status=JobStatus.ACTIVE, pipeline=PIPELINE,
        user_pipeline=PIPELINE, start_time=1, status_timestamp=1,
    )  # fmt: skip
    for level, (name, state) in enumerate((("src", "stateful"), ("double", "stateless"))):
        JobNode.objects.create(
            job=created, node_name=name, algorithm_name="ab"[level], level=level, position=level,
            status=NodeStatus.ACTIVE, total=1, spec={"stateType": state, "mode": "batch", "jobId": JOB},
        )  # fmt: skip
    return created


def counters(**values: float) -> None:
    client = rc.client()
    for name, value in values.items():
        client.hset(rc.stream_keys(JOB).stats, f"src>double:{name}", value)


def tick(now: float) -> dict[str, Any]:
    snapshot = Snapshot(now, (), {}, {}, Budget(cpu=8, mem=8192, gpus=()))
    return stream_scaling.tick(snapshot, Plan(), now)


def test_scales_up_under_load_then_down_to_the_minimum_when_idle(
    job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent_chunks: list[list[list[int]]] = []
    published: list[dict[str, Any]] = []

    def send_chunks(spec: Any, chunks: list[list[int]], inline_finish: bool) -> list[str]:
        sent_chunks.append(chunks)
        return ["c"] * len(chunks)

    monkeypatch.setattr(sending, "send_chunks", send_chunks)
    monkeypatch.setattr(rc, "publish", published.append)

    counters(sent=0, received=0, durationMs=0)
    assert tick(1000.0) == {}  # the first reading: no rate yet
    counters(sent=600, received=100, durationMs=1000)  # 300/s asked, a replica does 100/s
    assert tick(1002.0) == {JOB: {"double": 2}}
    assert sent_chunks == [[[1], [2]]]
    assert JobNode.objects.get(node_name="double").total == 3

    figures = rc.stream_metrics(JOB)["src>double"]
    assert figures["throughput"] == 50.0 and figures["requestRate"] == 300.0
    assert figures["processingTimeMs"] == 10.0 and figures["sent"] == 600

    assert tick(1040.0) == {JOB: {"double": -2}}  # idle: back to one
    assert [p["stopReplica"]["batchIndex"] for p in published] == [2, 3]
    assert tick(1042.0) == {}
    assert json.loads(rc.client().hget(rc.stream_keys(JOB).scale, "replicas:double") or b"[]") == [1]


def test_scale_down_waits_for_the_hysteresis(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rc, "publish", lambda message: None)
    rc.client().hset(rc.stream_keys(JOB).scale, "replicas:double", json.dumps([1, 2, 3]))
    rc.client().hset(rc.stream_keys(JOB).scale, "down:double", "995")
    counters(sent=10)
    tick(1000.0)
    assert tick(1002.0) == {}  # idle, but scaled down 7 s ago
    assert tick(1030.0) == {JOB: {"double": -2}}
