"""`resources/unscheduledalgorithms`, `kubernetes/algorithms/jobs|pods/{name}` (stopping an
algorithm's workers through the launcher) and `jaeger?jobId=`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
import requests
from django.test import Client

from algorithms import executor
from hkube_site import redis_client as rc
from hkube_site import tracing
from pipelines.models import Job
from tests.algorithms.fakes import FakeLauncher
from tests.api.conftest import Api

WARNING = {
    "algorithmName": "green-alg",
    "type": "warning",
    "reason": "failedScheduling",
    "code": 1006,
    "message": "insufficient cpu (4)",
    "isError": False,
    "surpassTimeout": False,
    "requestedResources": {"cpu": 4, "mem": 256, "gpu": 0},
    "timestamp": 1000,
    "since": 900,
}


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch, real_redis: redis.Redis) -> FakeLauncher:
    fake = FakeLauncher()
    monkeypatch.setattr(executor, "launcher", lambda: fake)
    return fake


def register(client: redis.Redis, worker_id: str, algorithm: str) -> None:
    now = time.time()
    record = {"id": worker_id, "algorithm": algorithm, "pid": 7, "busy": False,
              "lastActive": now, "seen": now, "started": now}  # fmt: skip
    client.hset(rc.WORKERS_KEY, worker_id, json.dumps(record))


def test_unscheduled_algorithms_as_hkube_shows_them(
    api: Api, client: Client, real_redis: redis.Redis
) -> None:
    assert api.get("resources/unscheduledalgorithms") == (200, {})
    real_redis.hset(rc.UNSCHEDULED_KEY, "green-alg", json.dumps(WARNING))
    expected = {k: v for k, v in WARNING.items() if k != "since"}
    assert api.get("resources/unscheduledalgorithms/") == (200, {"green-alg": expected})
    assert api.get("resources/unscheduledalgorithms/green-alg") == (200, expected)
    missing = client.get("/hkube/api-server/api/v1/resources/unscheduledalgorithms/yellow-alg")
    assert missing.status_code == 404
    assert missing.content.decode() == "Algorithm yellow-alg not found in the unscheduled list"


@pytest.mark.parametrize("kind", ["pods", "jobs"])
def test_deleting_an_algorithms_pods_or_jobs_stops_its_workers(
    api: Api, client: Client, real_redis: redis.Redis, launcher: FakeLauncher, kind: str
) -> None:
    register(real_redis, "green-alg-a", "green-alg")
    register(real_redis, "green-alg-b", "green-alg")
    register(real_redis, "debug-green", "debug:green-alg")
    register(real_redis, "yellow-alg-a", "yellow-alg")
    response = client.delete(f"/api/v1/kubernetes/algorithms/{kind}/green-alg")
    assert response.status_code == 200
    assert response.json() == {"message": ["debug-green", "green-alg-a", "green-alg-b"]}
    assert sorted(launcher.stopped) == ["debug-green", "green-alg-a", "green-alg-b"]
    assert [k.decode() for k in real_redis.hkeys(rc.WORKERS_KEY)] == ["yellow-alg-a"]
    again = client.delete(f"/api/v1/kubernetes/algorithms/{kind}/green-alg/")
    assert again.status_code == 404
    assert again.json() == f"No {kind} found with selector algorithm-name=green-alg"


def test_the_selector_names_the_algorithm(
    api: Api, client: Client, real_redis: redis.Redis, launcher: FakeLauncher
) -> None:
    register(real_redis, "yellow-alg-a", "yellow-alg")
    selected = client.delete("/api/v1/kubernetes/algorithms/pods/x?selector=algorithm-name=yellow-alg")
    assert selected.json() == {"message": ["yellow-alg-a"]}
    bad = client.delete("/api/v1/kubernetes/algorithms/pods/x?selector=app=worker")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "selector should be algorithm-name=<algorithm name>"


def make_job(job_id: str) -> None:
    pipeline = {"name": "p1", "nodes": []}
    Job.objects.create(job_id=job_id, pipeline_name="p1", pipeline=pipeline, user_pipeline=pipeline)


class FakeJaeger:
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body, self.urls = status, body, []

    def get(self, url: str, timeout: float) -> requests.Response:
        self.urls.append(url)
        response = requests.Response()
        response.status_code = self.status
        response._content = json.dumps(self.body).encode()
        return response


def test_jaeger_is_empty_when_tracing_is_off(api: Api, settings: Any) -> None:
    make_job("job1")
    settings.HKUBE_JAEGER_URL = "http://jaeger:16686"
    assert api.get("jaeger?jobId=job1") == (200, {"data": []})


def test_jaeger_reads_the_jobs_trace_by_its_derived_id(
    api: Api, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_job("job1")
    settings.HKUBE_JAEGER_URL = "http://jaeger:16686/"
    monkeypatch.setattr(tracing, "enabled", lambda: True)
    trace_id = tracing.job_trace_id("job1")
    assert trace_id and len(trace_id) == 32
    jaeger = FakeJaeger(200, {"data": [{"traceID": trace_id, "spans": []}]})
    monkeypatch.setattr(requests, "get", jaeger.get)
    assert api.get("jaeger/?jobId=job1") == (200, {"data": [{"traceID": trace_id, "spans": []}]})
    assert jaeger.urls == [f"http://jaeger:16686/api/traces/{trace_id}"]
    monkeypatch.setattr(requests, "get", FakeJaeger(404, {"data": None}).get)
    assert api.get("jaeger?jobId=job1") == (200, {"data": []})
    monkeypatch.setattr(requests, "get", FakeJaeger(500, {}).get)
    assert api.error("get", "jaeger?jobId=job1") == (502, "jaeger answered 500")


def test_jaeger_needs_a_known_job(api: Api) -> None:
    assert api.error("get", "jaeger") == (400, "data should have required property 'jobId'")
    assert api.error("get", "jaeger?jobId=nope") == (404, "jobId nope Not Found")
