"""Kubernetes mode end to end on the simulated cluster (`tests/k8s_sim/kubelet.py`): the executor
creates worker Jobs through the real `kubernetes` client, the simulator runs their pods' two
containers as local processes (the `worker` container our Celery worker, the `algorunner` our
wrapper over the image's code), the supervisor watches the pods, and all data is in S3 (moto).

Simulated, not a real cluster: scheduling, image pulls, OOM kills and node loss are the
simulator's (with the status shapes and Events a kubelet and scheduler write).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from algorithms.runtime.limits import OOM_MESSAGE
from k8s.naming import job_name
from k8s.outcomes import IMAGE_MESSAGE
from tests.e2e.algorithms import store_pipeline_files
from tests.e2e.harness import ROOT, eventually, node
from tests.k8s_sim.cluster import SimCluster, code_image, simulated_cluster
from tests.k8s_sim.kubelet import MEMORY_EXCEEDED

pytestmark = pytest.mark.e2e

NUMBERS = ROOT / "examples" / "numbers"
SLEEPS = """import time


def start(args):
    time.sleep(args['input'][0])
    return args['input'][1]
"""
# The kernel kills a process that allocates past its limit; here the algorithm says it did.
EATS_MEMORY = f"""import os
import pathlib
import time


def start(args):
    pathlib.Path(os.environ['HKUBE_HOME'], '{MEMORY_EXCEEDED}').write_text('x')
    time.sleep(60)
"""


def write_code(base: Path, name: str, source: str) -> Path:
    code = base / name
    code.mkdir(parents=True)
    (code / "main.py").write_text(source)
    return code


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    codes = tmp_path_factory.mktemp("images")
    images = {
        "sim/range:v1": code_image("python", NUMBERS / "range"),
        "sim/multiply:v1": code_image("python", NUMBERS / "multiply"),
        "sim/reduce:v1": code_image("nodejs", NUMBERS / "reduce"),
        "sim/sleeps:v1": code_image("python", write_code(codes, "sleeps", SLEEPS)),
        "sim/eats-memory:v1": code_image("python", write_code(codes, "eats", EATS_MEMORY)),
    }
    with simulated_cluster(tmp_path_factory.mktemp("k8s-sim"), images) as cluster:
        hkube = cluster.hkube
        for name, env, entry in (
            ("range", "python", "main.py"),
            ("multiply", "python", "main.py"),
            ("reduce", "nodejs", "index.js"),
        ):
            apply(cluster, name, f"sim/{name}:v1", env=env, entryPoint=entry)
        store_pipeline_files(hkube, NUMBERS, "numbers.yml")
        yield cluster


def apply(cluster: SimCluster, name: str, image: str, **descriptor: Any) -> str:
    """An algorithm with an image (HKube's "long way": no build)."""
    body = {
        "name": name,
        "env": "python",
        "entryPoint": "main.py",
        "cpu": 0.1,
        "mem": "256Mi",
        "algorithmImage": image,
        **descriptor,
    }
    answer = cluster.hkube.send_apply(body)
    assert not answer.get("buildId"), answer
    return name


def wait(sim: SimCluster, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The job's final status; a job that does not end shows the cluster's story."""
    try:
        return sim.hkube.wait(job_id, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{sim.logs()}") from None


def pods_on(cluster: SimCluster, algorithm: str, phase: str) -> list[dict[str, Any]]:
    return [p for p in cluster.kubelet.pods_of(algorithm) if p.get("status", {}).get("phase") == phase]


def test_the_numbers_pipeline_gives_30_on_worker_pods(sim: SimCluster) -> None:
    hkube = sim.hkube
    job_id = hkube.submit({"name": "numbers", "flowInput": {"data": 5, "mul": 2}}, "exec/stored")
    status = wait(sim, job_id)
    assert status["status"] == "completed", f"{status}\n{sim.logs()}"
    assert hkube.results(status["jobId"])["data"] == [
        {"nodeName": "Reduce", "algorithmName": "reduce", "result": 30}
    ]
    # Each algorithm ran in worker pods the simulator created from the executor's Jobs.
    for name in ("range", "multiply", "reduce"):
        assert 1 <= sim.jobs_created(name) <= 3, (name, sim.jobs_created(name))
        assert sim.kubelet.pods_of(name), name
    # Every registered worker is a pod's worker container, named after its Job.
    jobs = {j["metadata"]["name"] for j in sim.api.objects_of("jobs", "hkube")}
    assert hkube.workers() and {job_name(w["id"]) for w in hkube.workers()} <= jobs, (hkube.workers(), jobs)
    assert not (hkube.home / "storage").exists()


def test_a_bad_image_fails_its_job_fast_with_hkubes_message_and_no_flood_of_jobs(sim: SimCluster) -> None:
    name = apply(sim, "bad-image", "sim/no-such-image:v1")
    began = time.monotonic()
    status = sim.hkube.run("exec/raw", {"name": "bad", "nodes": [node("a", name, 1)]}, timeout=60)
    assert status["status"] == "failed", status
    assert time.monotonic() - began < 30
    assert IMAGE_MESSAGE in status["error"], status
    assert "Container - algorunner" in status["error"], status
    created = sim.jobs_created(name)
    assert 1 <= created <= 2, created
    # A second job of the same version fails too, and no more Jobs are created for it.
    again = sim.hkube.run("exec/raw", {"name": "bad-again", "nodes": [node("a", name, 1)]}, timeout=60)
    assert again["status"] == "failed" and IMAGE_MESSAGE in again["error"], again
    time.sleep(3)
    assert sim.jobs_created(name) == created


def test_a_gpu_request_larger_than_any_node_fails_its_job_without_creating_a_pod(sim: SimCluster) -> None:
    name = apply(sim, "too-many-gpus", "sim/sleeps:v1", gpu=3)
    status = wait(sim, sim.hkube.submit({"name": "gpus", "nodes": [node("g", name, 0, "done")]}), timeout=60)
    # HKube's isError: the nodes show that none has 3 GPUs, so the job fails at once.
    assert status["status"] == "failed", status
    assert status["error"].startswith(
        f"node g failed: Maximum capacity exceeded gpu (3 > 2): algorithm {name} asks for more than any node"
    ), status
    assert sim.jobs_created(name) == 0


def test_a_gpu_request_no_free_node_fits_shows_failed_scheduling(sim: SimCluster) -> None:
    # Another tenant's pod holds both GPUs of the GPU node.
    sim.api.put("pods", {
        "metadata": {"name": "someone-elses-training"},
        "spec": {"nodeName": "gpu-a", "containers": [{"name": "train", "image": "train:v1",
                 "resources": {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}}]},
        "status": {"phase": "Running"},
    }, "tenant")  # fmt: skip
    name = apply(sim, "two-gpus", "sim/sleeps:v1", gpu=2)
    job_id = sim.hkube.submit({"name": "gpus-busy", "nodes": [node("g", name, 0, "done")]})
    try:
        status = eventually(
            lambda: (
                (s := sim.hkube.get(f"exec/status/{job_id}").json())["data"]["states"].get("failedScheduling")
                and s
            ),
            timeout=60,
            what="failedScheduling in exec/status",
        )
        assert status["status"] == "active", status
        (warning,) = status["data"]["warnings"]
        assert warning.startswith(f"node g waits for algorithm {name}: Insufficient gpu"), status
        graph_node = sim.hkube.get(f"graph/raw/{job_id}").json()["nodes"][0]
        assert graph_node["status"] == "failedScheduling"
        reason = sim.hkube.get(f"store/algorithms/{name}").json()["unscheduledReason"]
        assert reason.startswith("Insufficient gpu"), reason
        assert sim.jobs_created(name) == 0
    finally:
        sim.hkube.post("exec/stop", {"jobId": job_id})
        sim.api.remove("pods", "someone-elses-training", "tenant")


def test_an_oom_kill_retries_and_then_crashes_with_hkubes_message(sim: SimCluster) -> None:
    name = apply(sim, "eats-memory", "sim/eats-memory:v1")
    pipeline = {"name": "oom", "nodes": [node("m", name, 1, retry={"policy": "OnCrash", "limit": 1})]}
    status = wait(sim, sim.hkube.submit(pipeline), timeout=150)
    assert status["status"] == "failed", f"{status}\n{sim.logs()}"
    assert OOM_MESSAGE in status["error"], status
    killed = [pod for pod in sim.kubelet.oom_killed if pod.startswith(name)]
    assert len(killed) == 2, killed  # the first run and its one retry, each in its own pod
    # A third worker may take the chunk after the second death, only to record it crashed.
    assert 2 <= sim.jobs_created(name) <= 3


def test_a_supervisor_restart_adopts_running_workers(sim: SimCluster) -> None:
    name = apply(sim, "restart-sleeps", "sim/sleeps:v1")
    job_id = sim.hkube.submit({"name": "restart", "nodes": [node("s", name, 6, "slept")]})
    eventually(lambda: pods_on(sim, name, "Running"), timeout=60, what="a running worker pod")
    before = sim.jobs_created(name)
    sim.restart_supervisor()
    status = wait(sim, job_id)
    assert status["status"] == "completed", f"{status}\n{sim.logs()}"
    assert sim.hkube.results(job_id)["data"][0]["result"] == "slept"
    assert sim.jobs_created(name) == before  # nothing created twice


def test_a_lost_nodes_work_runs_again(sim: SimCluster) -> None:
    name = apply(sim, "lost-sleeps", "sim/sleeps:v1")
    job_id = sim.hkube.submit({"name": "lost", "nodes": [node("s", name, 4, "survived")]})
    (pod,) = eventually(lambda: pods_on(sim, name, "Running"), timeout=60, what="a running worker pod")
    sim.kubelet.lose_node(pod["spec"]["nodeName"])
    status = wait(sim, job_id)
    assert status["status"] == "completed", f"{status}\n{sim.logs()}"
    assert sim.hkube.results(job_id)["data"][0]["result"] == "survived"
    assert sim.jobs_created(name) >= 2
