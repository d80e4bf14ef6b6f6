"""Builds in the cluster, against a fake Kubernetes API with the real `kubernetes` client:
applying code creates a `build-<id>` Job; status, progress and the live log come from its
pod; success makes a version that runs the pushed image; stop deletes the Job."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from algorithms.models import Algorithm, AlgorithmVersion
from builds import cluster, services, tasks
from builds.models import Build, BuildStatus
from k8s.client import Retryable

from .fake_builds_api import FakeBuildsApi, serve

REGISTRY = "registry.example:5000"


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[FakeBuildsApi]:
    with serve(namespace="hkube") as fake:
        settings.HKUBE_LAUNCHER = "kubernetes"
        settings.HKUBE_BUILD_POLL_SECONDS = 2
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for name, value in {
            "KUBECONFIG": str(fake.kubeconfig(tmp_path)),
            "HKUBE_K8S_NAMESPACE": "hkube",
            "HKUBE_K8S_RELEASE": "rel",
            "HKUBE_K8S_PLATFORM_IMAGE": "reg.example/hkube/platform:1",
            "HKUBE_K8S_CONFIGMAP": "rel-config",
            "HKUBE_K8S_SECRET": "rel-secret",
            "HKUBE_BUILD_REGISTRY": REGISTRY,
            "HKUBE_BUILD_REGISTRY_NAMESPACE": "algos",
            "HKUBE_BUILD_REGISTRY_SECRET": "push-creds",
        }.items():
            monkeypatch.setenv(name, value)
        cluster.kube.cache_clear()
        yield fake
    cluster.kube.cache_clear()


def archive(tmp_path: Path) -> Path:
    path = tmp_path / "code.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"def start(args):\n    return 1\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def new_build(tmp_path: Path, name: str = "my-alg") -> str:
    package = services.store_package(name, archive(tmp_path))
    services.create_build(package, {"name": name, "env": "python", "fileInfo": {"fileExt": "gz"}, "cpu": 1})
    return package.build_id


def started(api: FakeBuildsApi, tmp_path: Path) -> tuple[str, str]:
    build_id = new_build(tmp_path)
    assert cluster.start_build(build_id) == 2
    return build_id, f"build-{build_id}"


def running(name: str, image: str = "img") -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": True,
        "restartCount": 0,
        "state": {"running": {}},
    }


def terminated(name: str, code: int, message: str = "", reason: str = "Completed") -> dict[str, Any]:
    state = {"terminated": {"exitCode": code, "reason": reason, "message": message}}
    return {"name": name, "image": "img", "imageID": "", "ready": False, "restartCount": 0, "state": state}


def waiting(name: str, reason: str, image: str) -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": "Back-off pulling image"}}
    return {"name": name, "image": image, "imageID": "", "ready": False, "restartCount": 0, "state": state}


@pytest.mark.django_db
def test_starting_a_build_creates_its_job_with_the_image_to_push(api: FakeBuildsApi, tmp_path: Path) -> None:
    build_id, job = started(api, tmp_path)
    build = Build.objects.get(build_id=build_id)
    assert build.status == BuildStatus.ACTIVE and build.version
    (create,) = api.calls("POST", "/apis/batch/v1/namespaces/hkube/jobs")
    body = create.body
    assert body["metadata"]["name"] == job
    assert body["metadata"]["labels"]["hkube.io/build-id"] == build_id
    assert body["metadata"]["annotations"]["hkube.io/algorithm-version"] == build.version
    pod = body["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"][-3:] == [build_id, "--output", "/workspace"]
    assert f"--destination={REGISTRY}/algos/my-alg:{build.version}" in pod["containers"][0]["args"]
    assert build.as_api()["buildMode"] == "kaniko"


@pytest.mark.django_db
def test_progress_and_the_live_log_follow_the_pod(api: FakeBuildsApi, tmp_path: Path) -> None:
    build_id, job = started(api, tmp_path)
    api.set_pod(
        job, conditions=[{"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available"}]
    )
    assert cluster.poll_build(build_id) == 2
    build = Build.objects.get(build_id=build_id)
    assert build.progress == 10 and "0/3 nodes are available" in build.log

    api.set_pod(job, init=[running("prepare")], logs={"prepare": "unpacking\n"})
    cluster.poll_build(build_id)
    build = Build.objects.get(build_id=build_id)
    assert build.progress == 20 and "[prepare] unpacking" in build.log

    api.set_pod(
        job,
        phase="Running",
        init=[terminated("prepare", 0)],
        containers=[running("builder")],
        logs={
            "prepare": "unpacking\ncontext written\n",
            "builder": "INFO Retrieving image\nINFO RUN pip install\n",
        },
    )
    cluster.poll_build(build_id)
    build = Build.objects.get(build_id=build_id)
    assert build.status == BuildStatus.ACTIVE and build.progress == 50
    assert "[prepare] context written" in build.log and "[builder] INFO RUN pip install" in build.log
    (listing, *_) = api.calls("GET", "/api/v1/namespaces/hkube/pods")
    assert listing.query["labelSelector"] == [f"hkube.io/build-id={build_id}"]


@pytest.mark.django_db
def test_a_pushed_image_becomes_the_version_that_runs_it(api: FakeBuildsApi, tmp_path: Path) -> None:
    build_id, job = started(api, tmp_path)
    api.set_pod(
        job,
        phase="Succeeded",
        init=[terminated("prepare", 0)],
        containers=[terminated("builder", 0, message="sha256:abc123")],
        logs={"prepare": "ok\n", "builder": "INFO Pushed\n"},
    )
    assert cluster.poll_build(build_id) is None
    build = Build.objects.get(build_id=build_id)
    image = f"{REGISTRY}/algos/my-alg:{build.version}"
    assert build.status == BuildStatus.COMPLETED and build.progress == 100
    assert f"image pushed: {image} (sha256:abc123)" in build.log
    version = AlgorithmVersion.objects.get(algorithm_name="my-alg", version=build.version)
    assert version.descriptor["algorithmImage"] == image
    assert version.build_id == build_id and version.code_path == ""
    assert Algorithm.objects.get(name="my-alg").version == build.version


@pytest.mark.django_db
def test_a_failed_image_build_fails_with_its_log_and_its_job_is_deleted(
    api: FakeBuildsApi, tmp_path: Path
) -> None:
    build_id, job = started(api, tmp_path)
    api.set_pod(
        job,
        phase="Failed",
        init=[terminated("prepare", 0)],
        containers=[terminated("builder", 1, reason="Error")],
        logs={"prepare": "ok\n", "builder": "error building image: pip failed\n"},
    )
    assert cluster.poll_build(build_id) is None
    build = Build.objects.get(build_id=build_id)
    assert build.status == BuildStatus.FAILED and build.error == "the image build failed (exit code 1)"
    assert "[builder] error building image: pip failed" in build.log and build.version == ""
    assert job not in api.jobs
    (delete,) = api.calls("DELETE", f"/jobs/{job}")
    assert delete.query["propagationPolicy"] == ["Background"]
    assert not AlgorithmVersion.objects.filter(algorithm_name="my-alg").exists()


@pytest.mark.django_db
def test_a_builder_image_that_cannot_be_pulled_fails_fast_with_hkubes_message(
    api: FakeBuildsApi, tmp_path: Path
) -> None:
    build_id, job = started(api, tmp_path)
    api.set_pod(
        job, init=[terminated("prepare", 0)], containers=[waiting("builder", "ImagePullBackOff", "kaniko:x")]
    )
    assert cluster.poll_build(build_id) is None
    error = Build.objects.get(build_id=build_id).error or ""
    assert error.startswith(
        "please check that your image exists and valid (builder image kaniko:x: ImagePullBackOff"
    )


@pytest.mark.django_db
def test_a_failed_context_preparation_fails_the_build(api: FakeBuildsApi, tmp_path: Path) -> None:
    build_id, job = started(api, tmp_path)
    api.set_pod(
        job,
        phase="Failed",
        init=[terminated("prepare", 1, reason="Error")],
        logs={"prepare": "bad archive\n"},
    )
    cluster.poll_build(build_id)
    build = Build.objects.get(build_id=build_id)
    assert (
        build.error == "preparing the build context failed (exit code 1)"
        and "[prepare] bad archive" in build.log
    )


@pytest.mark.django_db
def test_stopping_a_build_deletes_its_job(
    api: FakeBuildsApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    build_id, job = started(api, tmp_path)
    monkeypatch.setattr(tasks.delete_build_job, "delay", cluster.delete_build_job)
    with django_capture_on_commit_callbacks(execute=True):
        services.stop_build(build_id)
    assert job not in api.jobs
    assert Build.objects.get(build_id=build_id).status == BuildStatus.STOPPED
    assert cluster.poll_build(build_id) is None  # a poll already scheduled ends quietly
    cluster.delete_build_job(build_id)  # deleting a Job already gone is fine


@pytest.mark.django_db
def test_a_rerun_deletes_the_earlier_runs_job_then_builds_a_new_version(
    api: FakeBuildsApi, tmp_path: Path
) -> None:
    build_id, job = started(api, tmp_path)
    first = Build.objects.get(build_id=build_id).version
    api.set_pod(job, phase="Succeeded", containers=[terminated("builder", 0, message="sha256:1")])
    cluster.poll_build(build_id)
    services.rerun_build(build_id)
    with pytest.raises(Retryable, match="earlier run"):
        cluster.start_build(build_id)
    assert job not in api.jobs
    assert cluster.start_build(build_id) == 2
    second = Build.objects.get(build_id=build_id).version
    assert second != first
    assert api.jobs[job]["metadata"]["annotations"]["hkube.io/algorithm-version"] == second


@pytest.mark.django_db
def test_a_redelivered_start_adopts_the_job_it_already_created(api: FakeBuildsApi, tmp_path: Path) -> None:
    build_id, _job = started(api, tmp_path)
    # The worker died after creating the Job, before recording it: the row is still `creating`.
    Build.objects.filter(build_id=build_id).update(status=BuildStatus.CREATING)
    assert cluster.start_build(build_id) == 2
    assert len(api.calls("POST", "/jobs")) == 2 and len(api.jobs) == 1
    assert not api.calls("DELETE")
    assert Build.objects.get(build_id=build_id).status == BuildStatus.ACTIVE


@pytest.mark.django_db
def test_throttling_is_retried_later_and_an_invalid_job_fails_the_build(
    api: FakeBuildsApi, tmp_path: Path
) -> None:
    build_id = new_build(tmp_path)
    api.script("POST", "/jobs", 429, {"reason": "TooManyRequests", "message": "slow down"})
    with pytest.raises(Retryable) as raised:
        cluster.start_build(build_id)
    assert raised.value.status == 429
    assert Build.objects.get(build_id=build_id).status == BuildStatus.CREATING

    other = new_build(tmp_path, "other-alg")
    api.script("POST", "/jobs", 422, {"reason": "Invalid", "message": "spec.template: Invalid value"})
    assert cluster.start_build(other) is None
    build = Build.objects.get(build_id=other)
    assert build.status == BuildStatus.FAILED
    assert build.error == "cannot create the build job: spec.template: Invalid value"


@pytest.mark.django_db
def test_a_start_the_api_keeps_refusing_fails_the_build_after_its_retries(
    api: FakeBuildsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_id = new_build(tmp_path)
    for _ in range(tasks.START_RETRIES + 1):
        api.script("POST", "/jobs", 500, {"reason": "InternalError", "message": "etcd unavailable"})
    polls: list[Any] = []
    monkeypatch.setattr(tasks.poll_build, "apply_async", lambda *a, **k: polls.append((a, k)))
    tasks.run_build.apply(args=(build_id,))  # eager: Celery runs its retries in place
    build = Build.objects.get(build_id=build_id)
    assert (
        build.status == BuildStatus.FAILED and build.error == "cannot create the build job: etcd unavailable"
    )
    assert polls == []


@pytest.mark.django_db
def test_the_build_task_creates_the_job_and_schedules_the_first_look(
    api: FakeBuildsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_id = new_build(tmp_path)
    polls: list[Any] = []
    monkeypatch.setattr(tasks.poll_build, "apply_async", lambda *a, **k: polls.append((a, k)))
    tasks.run_build.apply(args=(build_id,))
    assert polls == [(((build_id,),), {"countdown": 2.0})]
    tasks.poll_build.run(build_id)  # the Job runs: it looks again later
    assert len(polls) == 2


@pytest.mark.django_db
def test_a_job_deleted_behind_its_back_or_past_its_deadline_fails_the_build(
    api: FakeBuildsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_id, job = started(api, tmp_path)
    del api.jobs[job]
    assert cluster.poll_build(build_id) is None
    assert Build.objects.get(build_id=build_id).error == "the build job was deleted before the build ended"

    monkeypatch.setenv("HKUBE_BUILD_DEADLINE_SECONDS", "60")
    late, late_job = started(api, tmp_path)
    Build.objects.filter(build_id=late).update(start_time=1)
    api.set_pod(
        late_job, conditions=[{"type": "PodScheduled", "status": "False", "message": "Insufficient cpu"}]
    )
    assert cluster.poll_build(late) is None
    assert (
        Build.objects.get(build_id=late).error
        == "the build did not finish within 60 seconds: Insufficient cpu"
    )
    assert late_job not in api.jobs


@pytest.mark.django_db
def test_without_a_registry_the_build_fails_and_says_what_to_set(
    api: FakeBuildsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HKUBE_BUILD_REGISTRY")
    build_id = new_build(tmp_path)
    assert cluster.start_build(build_id) is None
    assert "set the chart's builds.registry (HKUBE_BUILD_REGISTRY)" in (
        Build.objects.get(build_id=build_id).error or ""
    )
    assert not api.calls("POST")


@pytest.mark.django_db
def test_an_algorithm_image_descriptor_skips_the_build(api: FakeBuildsApi, client: Client) -> None:
    payload = {"name": "img-alg", "algorithmImage": "docker.io/me/img-alg:1", "cpu": 1, "mem": "256Mi"}
    response = client.post("/api/v1/store/algorithms/apply", {"payload": json.dumps(payload)})
    assert response.status_code == 200, response.json()
    assert "buildId" not in response.json()
    assert not Build.objects.exists() and not api.requests
    assert Algorithm.objects.get(name="img-alg").descriptor["algorithmImage"] == "docker.io/me/img-alg:1"
