"""`/metrics` in Prometheus' text format, read from the rows and Redis at scrape time."""

from __future__ import annotations

import json

import pytest
import redis
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from algorithms.models import Algorithm
from builds.models import Build
from hkube_site import redis_client as rc
from pipelines.models import Job, JobStatus, Task, WebhookDelivery

PIPELINE = {"name": "p", "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}]}


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def job(job_id: str, status: str) -> Job:
    return Job.objects.create(
        job_id=job_id, pipeline_name="p", status=status, pipeline=PIPELINE, user_pipeline=PIPELINE
    )


@pytest.fixture
def hkube(db: None, real_redis: redis.Redis) -> None:
    Algorithm.objects.create(name="green-alg", descriptor={"name": "green-alg"})


def test_jobs_started_and_ended_by_status(client: Client, hkube: None) -> None:
    before = scrape(client)
    assert before[("hkube_jobs_started_total", ())] == 0
    assert before[("hkube_jobs_ended_total", (("status", "completed"),))] == 0
    job("j1", JobStatus.COMPLETED)
    job("j2", JobStatus.FAILED)
    job("j3", JobStatus.ACTIVE)
    after = scrape(client)
    assert after[("hkube_jobs_started_total", ())] == 3
    assert after[("hkube_jobs_ended_total", (("status", "completed"),))] == 1
    assert after[("hkube_jobs_ended_total", (("status", "failed"),))] == 1
    assert after[("hkube_jobs_ended_total", (("status", "stopped"),))] == 0
    assert after[("hkube_jobs", (("status", "active"),))] == 1


def test_task_durations_are_a_cumulative_histogram_per_algorithm(client: Client, hkube: None) -> None:
    owner = job("j1", JobStatus.COMPLETED)
    for i, ms in enumerate((30, 700, 4000)):
        Task.objects.create(
            job=owner,
            node_name="a",
            task_id=f"t{i}",
            batch_index=i,
            algorithm_name="green-alg",
            status="succeed",
            start_time=10_000,
            end_time=10_000 + ms,
        )
    Task.objects.create(job=owner, node_name="a", task_id="t9", batch_index=9, algorithm_name="green-alg")
    samples = scrape(client)
    label = ("algorithm", "green-alg")
    assert samples[("hkube_task_duration_seconds_bucket", (label, ("le", "0.05")))] == 1
    assert samples[("hkube_task_duration_seconds_bucket", (label, ("le", "1.0")))] == 2
    assert samples[("hkube_task_duration_seconds_bucket", (label, ("le", "5.0")))] == 3
    assert samples[("hkube_task_duration_seconds_bucket", (label, ("le", "+Inf")))] == 3
    assert samples[("hkube_task_duration_seconds_count", (label,))] == 3
    assert samples[("hkube_task_duration_seconds_sum", (label,))] == pytest.approx(4.73)


def test_builds_webhooks_queues_and_workers(client: Client, hkube: None, real_redis: redis.Redis) -> None:
    Build.objects.create(
        build_id="b1",
        algorithm_name="green-alg",
        env="python",
        status="completed",
        algorithm={},
        start_time=0,
        end_time=12_000,
    )
    WebhookDelivery.objects.create(
        job_id="j1",
        kind="result",
        url="http://x",
        pipeline_status="completed",
        response_status="failed",
        error_code="ECONNREFUSED",
    )
    WebhookDelivery.objects.create(
        job_id="j2", kind="result", url="http://x", pipeline_status="completed", response_status="succeed"
    )
    real_redis.rpush("algorithm.green-alg", "m1", "m2")
    real_redis.rpush("algorithm.green-alg:3", "m3")
    for wid, busy in (("w1", True), ("w2", False), ("w3", False)):
        real_redis.hset(
            rc.WORKERS_KEY, wid, json.dumps({"id": wid, "algorithm": "green-alg", "pid": 1, "busy": busy})
        )
    samples = scrape(client)
    assert samples[("hkube_build_duration_seconds_count", (("status", "completed"),))] == 1
    assert samples[("hkube_build_duration_seconds_bucket", (("le", "10.0"), ("status", "completed")))] == 0
    assert samples[("hkube_build_duration_seconds_bucket", (("le", "30.0"), ("status", "completed")))] == 1
    assert samples[("hkube_webhook_failures_total", (("kind", "result"),))] == 1
    assert samples[("hkube_queue_depth", (("algorithm", "green-alg"),))] == 3
    assert samples[("hkube_workers", (("algorithm", "green-alg"), ("state", "ready")))] == 2
    assert samples[("hkube_workers", (("algorithm", "green-alg"), ("state", "working")))] == 1
