"""The Kubernetes launcher against the fake API server, with the real `kubernetes` client:
request paths, label selectors and bodies; 409 on create, 404 on delete, retried 429/5xx/quota."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from k8s import naming
from k8s.client import Fatal, Retryable
from k8s.launcher import KubernetesLauncher, RetryPolicy, WorkerTemplate
from k8s.specs import WorkerSettings

from .fakeapi import FakeApi

NS = "hkube"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"
PODS = f"/api/v1/namespaces/{NS}/pods"
SELECTOR = "hkube.io/component=worker,hkube.io/release=rel"
SETTINGS = WorkerSettings(release="rel", platform_image="registry.local/hkube:1")


def resolve(name: str, worker_id: str) -> WorkerTemplate:
    descriptor: Any = {"name": name, "cpu": 0.5, "mem": "512Mi", "gpu": 1}
    return WorkerTemplate(descriptor, "v1abc", f"registry.local/{name}:v1abc", ["celery", "-n", worker_id])


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def launcher(api: FakeApi, sleeps: list[float]) -> KubernetesLauncher:
    return KubernetesLauncher(api.kube(NS), SETTINGS, resolve, sleep=sleeps.append, read_nodes=False)


def test_start_creates_one_labelled_worker_job(api: FakeApi, launcher: KubernetesLauncher) -> None:
    started = launcher.start("green-alg")

    assert started.worker_id.startswith("green-alg-") and started.pid == 0
    [create] = api.calls("POST")
    assert create.path == JOBS
    body = create.body
    assert body["metadata"]["name"] == naming.job_name(started.worker_id)
    labels = body["metadata"]["labels"]
    assert labels["hkube.io/release"] == "rel"
    assert labels["hkube.io/algorithm"] == "green-alg"
    assert labels["hkube.io/worker-id"] == started.worker_id
    assert body["spec"]["backoffLimit"] == 0
    pod = body["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["worker", "algorunner"]
    assert pod["containers"][1]["image"] == "registry.local/green-alg:v1abc"
    assert pod["containers"][1]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["containers"][0]["command"] == ["celery", "-n", started.worker_id]
    every_env = [e["name"] for c in pod["containers"] for e in c.get("env", [])]
    assert "CUDA_VISIBLE_DEVICES" not in every_env


def test_device_ids_from_the_executor_never_reach_the_pod(api: FakeApi, launcher: KubernetesLauncher) -> None:
    launcher.start("green-alg", {"CUDA_VISIBLE_DEVICES": "0", "EXTRA": "1"})
    worker = api.calls("POST")[0].body["spec"]["template"]["spec"]["containers"][0]
    names = {e["name"]: e.get("value") for e in worker["env"]}
    assert names["EXTRA"] == "1" and "CUDA_VISIBLE_DEVICES" not in names


def test_alive_lists_jobs_and_pods_by_label_once_per_refresh(
    api: FakeApi, launcher: KubernetesLauncher
) -> None:
    a = launcher.start("green-alg").worker_id
    b = launcher.start("green-alg").worker_id
    labels = {naming.WORKER_ID: b, naming.RELEASE: "rel", naming.COMPONENT: "worker"}
    api.put("pods", {"metadata": {"name": "x-1", "labels": labels}, "status": {"phase": "Failed"}}, NS)
    # Another release's Job with the same worker id is not ours.
    api.put("jobs", {"metadata": {"name": "other", "labels": {naming.WORKER_ID: "z", naming.RELEASE: "r2",
             naming.COMPONENT: "worker"}}}, NS)  # fmt: skip
    view = launcher.refresh()

    assert [(r.path, r.label_selector) for r in api.calls("GET")] == [(JOBS, SELECTOR), (PODS, SELECTOR)]
    assert set(view.workers) == {a, b}
    assert view.workers[a].pending and view.pending("green-alg") == 1
    assert launcher.alive(a, 0) and not launcher.alive(b, 0) and not launcher.alive("z", 0)
    assert len(api.calls("GET")) == 2  # alive answered from the listing
    api.remove("jobs", naming.job_name(a), NS)
    launcher.refresh()
    assert not launcher.alive(a, 0)


def test_a_running_pod_is_no_longer_pending(api: FakeApi, launcher: KubernetesLauncher) -> None:
    worker_id = launcher.start("green-alg").worker_id
    labels = {naming.WORKER_ID: worker_id, naming.RELEASE: "rel", naming.COMPONENT: "worker"}
    api.put("pods", {"metadata": {"name": "p", "labels": labels}, "status": {"phase": "Running"}}, NS)
    view = launcher.refresh()
    assert view.workers[worker_id].alive and not view.workers[worker_id].pending


def test_409_already_exists_on_create_counts_as_created(api: FakeApi, launcher: KubernetesLauncher) -> None:
    api.fail("POST", "/jobs", 409, reason="AlreadyExists", message='jobs.batch "x" already exists')
    launcher.start("green-alg")
    assert len(api.calls("POST")) == 1


def test_a_conflict_that_is_not_already_exists_is_retried(
    api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]
) -> None:
    api.fail("POST", "/jobs", 409, reason="Conflict", message="the object has been modified")
    launcher.start("green-alg")
    assert len(api.calls("POST")) == 2 and len(api.objects_of("jobs", NS)) == 1
    assert sleeps == [0.5]


def test_429_waits_retry_after_then_succeeds(
    api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]
) -> None:
    api.fail("POST", "/jobs", 429, reason="TooManyRequests", headers={"Retry-After": "3"}, times=2)
    launcher.start("green-alg")
    assert sleeps == [3.0, 3.0]
    assert len(api.calls("POST")) == 3 and len(api.objects_of("jobs", NS)) == 1


def test_500_is_retried_with_backoff(api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]) -> None:
    api.fail("POST", "/jobs", 500, reason="InternalError", times=2)
    launcher.start("green-alg")
    assert sleeps == [0.5, 1.0]
    assert len(api.objects_of("jobs", NS)) == 1


def test_a_quota_403_is_retried(api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]) -> None:
    message = (
        'jobs "w" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: 9, limited: 10'
    )
    api.fail("POST", "/jobs", 403, reason="Forbidden", message=message)
    launcher.start("green-alg")
    assert len(sleeps) == 1 and len(api.objects_of("jobs", NS)) == 1


def test_retries_give_up_after_the_policy_attempts(api: FakeApi, sleeps: list[float]) -> None:
    launch = KubernetesLauncher(
        api.kube(NS), SETTINGS, resolve, sleep=sleeps.append, read_nodes=False,
        retry=RetryPolicy(attempts=3, backoff=0.1, max_wait=0.15),
    )  # fmt: skip
    api.fail("POST", "/jobs", 503, times=5)
    with pytest.raises(Retryable):
        launch.start("green-alg")
    assert sleeps == [0.1, 0.15] and len(api.calls("POST")) == 3


def test_a_forbidden_create_is_fatal_and_not_retried(
    api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]
) -> None:
    api.fail("POST", "/jobs", 403, reason="Forbidden", message='cannot create resource "jobs"')
    with pytest.raises(Fatal):
        launcher.start("green-alg")
    assert sleeps == [] and len(api.calls("POST")) == 1


def test_stop_deletes_the_job_in_the_background(api: FakeApi, launcher: KubernetesLauncher) -> None:
    worker_id = launcher.start("green-alg").worker_id
    name = naming.job_name(worker_id)
    api.put("pods", {"metadata": {"name": f"{name}-abcde", "labels": {"job-name": name}}}, NS)
    launcher.stop(worker_id, 0)

    [delete] = api.calls("DELETE")
    assert delete.path == f"{JOBS}/{name}"
    assert delete.query.get("propagationPolicy") == "Background"
    assert api.objects_of("jobs", NS) == [] and api.objects_of("pods", NS) == []


def test_stopping_a_gone_worker_is_no_error(
    api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]
) -> None:
    launcher.stop("green-alg-gone1", 0)
    assert len(api.calls("DELETE")) == 1 and sleeps == []


def test_a_delete_answered_500_is_retried(
    api: FakeApi, launcher: KubernetesLauncher, sleeps: list[float]
) -> None:
    worker_id = launcher.start("green-alg").worker_id
    api.fail("DELETE", f"/jobs/{naming.job_name(worker_id)}", 500)
    launcher.stop(worker_id, 0)
    assert len(api.calls("DELETE")) == 2 and api.objects_of("jobs", NS) == []


def test_capacity_comes_from_nodes_and_every_pod(api: FakeApi) -> None:
    launch = KubernetesLauncher(api.kube(NS), SETTINGS, resolve, read_nodes=True)
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    api.put("nodes", {"metadata": {"name": "n1"}, "status": {**ready,
            "allocatable": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "2"}}}, None)  # fmt: skip
    api.put("pods", {"metadata": {"name": "busy", "labels": {}}, "spec": {"nodeName": "n1", "containers": [
        {"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
        "status": {"phase": "Running"}}, "other")  # fmt: skip
    view = launch.refresh()

    assert view.capacity is not None
    assert view.capacity.free().cpu == pytest.approx(3.0) and view.capacity.free().gpu == 2
    paths = [r.path for r in api.calls("GET")]
    assert paths[-2:] == ["/api/v1/nodes", "/api/v1/pods"]


def test_nodes_forbidden_leaves_capacity_to_the_budget(api: FakeApi) -> None:
    launch = KubernetesLauncher(api.kube(NS), SETTINGS, resolve, read_nodes=True)
    api.fail("GET", "/api/v1/nodes", 403, reason="Forbidden", message='cannot list resource "nodes"')
    assert launch.refresh().capacity is None
