"""The executor with `HKUBE_LAUNCHER=kubernetes`, wired as in production (settings, the release's
environment, a kubeconfig) against the fake API server: Jobs created per pass up to the cap,
pods not yet running counted, a GPU request larger than any node never creates a Job, and a bad
`HKUBE_LAUNCHER` fails loudly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from algorithms import executor, resources
from algorithms.launcher import Routed
from algorithms.models import Algorithm
from k8s import naming
from k8s.launcher import KubernetesLauncher
from tests.e2e.harness import ROOT

from .fakeapi import FakeApi

NS = "hk"
RELEASE_ENV = {
    "HKUBE_K8S_RELEASE": "rel",
    "HKUBE_K8S_PLATFORM_IMAGE": "registry.local/hkube:1",
    "HKUBE_K8S_CONFIGMAP": "rel-config",
    "HKUBE_K8S_SECRET": "rel-secret",
    "HKUBE_K8S_STORAGE_SECRET": "rel-storage",
}
READY = [{"type": "Ready", "status": "True"}]
GPU_NODE = {
    "metadata": {"name": "gpu-1"},
    "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    "status": {"conditions": READY, "allocatable": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "2"}},
}
CPU_NODE = {
    "metadata": {"name": "cpu-1"},
    "status": {"conditions": READY, "allocatable": {"cpu": "32", "memory": "128Gi"}},
}


@pytest.fixture
def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: object, real_redis: redis.Redis
) -> Iterator[FakeApi]:
    with FakeApi() as fake:
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u", "namespace": NS}}],
        }  # fmt: skip
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        monkeypatch.setenv("KUBECONFIG", str(path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for key, value in RELEASE_ENV.items():
            monkeypatch.setenv(key, value)
        settings.HKUBE_LAUNCHER = "kubernetes"  # type: ignore[attr-defined]
        settings.HKUBE_K8S_NAMESPACE = ""  # type: ignore[attr-defined]
        settings.HKUBE_MAX_WORKERS = 100  # type: ignore[attr-defined]
        settings.HKUBE_K8S_MAX_CREATE_PER_PASS = 4  # type: ignore[attr-defined]
        fake.put("nodes", CPU_NODE, None)
        fake.put("nodes", GPU_NODE, None)
        executor.launcher.cache_clear()
        yield fake
        executor.launcher.cache_clear()


def queue(client: redis.Redis, name: str, messages: int) -> None:
    for _ in range(messages):
        client.lpush(f"algorithm.{name}:3", b"{}")


def add_algorithm(name: str, **descriptor: object) -> None:
    body = {"name": name, "cpu": 1, "mem": "1Gi", "algorithmImage": f"registry.local/{name}:1", **descriptor}
    Algorithm.objects.create(name=name, descriptor=body, version="v1")


@pytest.mark.django_db
def test_kubernetes_mode_creates_worker_jobs_capped_per_pass(api: FakeApi, real_redis: redis.Redis) -> None:
    add_algorithm("green-alg")
    queue(real_redis, "green-alg", 6)

    launch = executor.launcher()
    assert isinstance(launch, Routed) and isinstance(launch.cluster, KubernetesLauncher)
    first = executor.reconcile()
    assert len(first["started"]) == 4  # HKUBE_K8S_MAX_CREATE_PER_PASS
    jobs = api.objects_of("jobs", NS)
    assert len(jobs) == 4 and {j["metadata"]["labels"][naming.ALGORITHM] for j in jobs} == {"green-alg"}
    assert all(
        j["spec"]["template"]["spec"]["containers"][1]["image"] == "registry.local/green-alg:1" for j in jobs
    )
    # The cluster was read: the release's workers by label, then nodes and every pod.
    gets = [(r.path, r.label_selector) for r in api.calls("GET")]
    selector = "hkube.io/component=worker,hkube.io/release=rel"
    assert gets[:4] == [
        (f"/apis/batch/v1/namespaces/{NS}/jobs", selector),
        (f"/api/v1/namespaces/{NS}/pods", selector),
        ("/api/v1/nodes", None),
        ("/api/v1/pods", None),
    ]

    second = executor.reconcile()  # four pods not running yet count: two more for six messages
    assert len(second["started"]) == 2
    third = executor.reconcile()
    assert third["started"] == [] and len(api.objects_of("jobs", NS)) == 6
    assert all(w["starting"] for w in map(json.loads, real_redis.hgetall("hkube:workers").values()))


@pytest.mark.django_db
def test_a_gpu_request_larger_than_any_node_creates_no_job(api: FakeApi, real_redis: redis.Redis) -> None:
    add_algorithm("big-gpu", gpu=4)
    add_algorithm("one-gpu", gpu=1)
    queue(real_redis, "big-gpu", 1)
    queue(real_redis, "one-gpu", 1)

    tick = executor.reconcile()
    assert tick["unscheduled"] == {"big-gpu": "Maximum capacity exceeded gpu (4 > 2)"}
    [job] = api.objects_of("jobs", NS)
    assert job["metadata"]["labels"][naming.ALGORITHM] == "one-gpu"
    runner = job["spec"]["template"]["spec"]["containers"][1]
    assert runner["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in json.dumps(job)
    assert resources.unscheduled()["big-gpu"]["isError"] is True


@pytest.mark.django_db
def test_a_worker_whose_job_is_gone_is_lost_and_replaced(api: FakeApi, real_redis: redis.Redis) -> None:
    add_algorithm("green-alg")
    queue(real_redis, "green-alg", 1)
    [worker_id] = executor.reconcile()["started"]
    api.remove("jobs", naming.job_name(worker_id), NS)  # deleted, or its node lost
    tick = executor.reconcile()
    assert len(tick["started"]) == 1 and tick["started"] != [worker_id]
    assert worker_id.encode() not in real_redis.hkeys("hkube:workers")


def silent_worker(api: FakeApi, client: redis.Redis, phase: str) -> str:
    """A worker whose pod is in `phase` and whose last heartbeat is ten minutes old."""
    add_algorithm("green-alg")
    queue(client, "green-alg", 1)
    [worker_id] = executor.reconcile()["started"]
    labels = {naming.RELEASE: "rel", naming.COMPONENT: "worker", naming.WORKER_ID: worker_id}
    api.put(
        "pods", {"metadata": {"name": f"{worker_id}-x", "labels": labels}, "status": {"phase": phase}}, NS
    )
    record = json.loads(client.hget("hkube:workers", worker_id) or b"{}")
    record["seen"] = record["started"] = record["seen"] - 600
    client.hset("hkube:workers", worker_id, json.dumps(record))
    return worker_id


@pytest.mark.django_db
def test_a_running_worker_that_went_silent_loses_its_job(api: FakeApi, real_redis: redis.Redis) -> None:
    worker_id = silent_worker(api, real_redis, "Running")  # its worker container stopped beating
    tick = executor.reconcile()
    job = naming.job_name(worker_id)
    assert [r.path.rsplit("/", 1)[-1] for r in api.calls("DELETE")] == [job]
    assert api.get("jobs", job, NS) is None and len(tick["started"]) == 1


@pytest.mark.django_db
def test_a_pod_still_pending_is_waited_for(api: FakeApi, real_redis: redis.Redis) -> None:
    worker_id = silent_worker(api, real_redis, "Pending")  # waiting for a node, or pulling its image
    tick = executor.reconcile()
    assert api.calls("DELETE") == [] and tick["started"] == []
    assert worker_id.encode() in real_redis.hkeys("hkube:workers")


@pytest.mark.django_db
def test_an_unreachable_api_skips_the_pass(api: FakeApi, real_redis: redis.Redis) -> None:
    add_algorithm("green-alg")
    queue(real_redis, "green-alg", 1)
    api.fail("GET", f"/namespaces/{NS}/jobs", 503)
    assert executor.reconcile()["skipped"].startswith("Kubernetes API")
    assert api.objects_of("jobs", NS) == []


def test_a_bad_launcher_setting_fails_loudly() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hkube_site.settings", "HKUBE_LAUNCHER": "docker"}
    command = [sys.executable, "-c", "import django; django.setup()"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ImproperlyConfigured: HKUBE_LAUNCHER must be local or kubernetes, got 'docker'" in done.stderr
