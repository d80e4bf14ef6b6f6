"""The simulated cluster's scenarios against a real Kubernetes cluster: opt-in, never run here.

Runs only with `HKUBE_TEST_REAL_CLUSTER=1`, `KUBECONFIG` set and `HKUBE_TEST_API_URL` naming the
REST API of an HKube release installed in that cluster with the chart (builds need the chart's
`builds.registry`). Select them with `-m real_cluster`. Otherwise every test here is reported
SKIPPED with the reason, never as passed.

What a real cluster cannot be asked to do from a test (restart the supervisor's pod, lose a
node) stays with the simulator (`test_simulated_cluster.py`).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from algorithms.runtime.limits import OOM_MESSAGE
from k8s.outcomes import IMAGE_MESSAGE
from tests.e2e.algorithms import algorithm_applier, apply_example, store_pipeline_files
from tests.e2e.harness import ROOT, Cluster, eventually, node


def missing_settings() -> str:
    """Why the real-cluster tests cannot run here ("" when they can)."""
    wanted = {
        "HKUBE_TEST_REAL_CLUSTER": os.environ.get("HKUBE_TEST_REAL_CLUSTER") == "1",
        "KUBECONFIG": bool(os.environ.get("KUBECONFIG")),
        "HKUBE_TEST_API_URL": bool(os.environ.get("HKUBE_TEST_API_URL")),
    }
    absent = [name for name, ok in wanted.items() if not ok]
    if not absent:
        return ""
    return (
        "REAL CLUSTER TESTS NOT RUN: set HKUBE_TEST_REAL_CLUSTER=1, KUBECONFIG and HKUBE_TEST_API_URL "
        f"(missing: {', '.join(absent)}); only the simulated cluster was tested"
    )


pytestmark = [
    pytest.mark.real_cluster,
    pytest.mark.e2e,
    pytest.mark.skipif(bool(missing_settings()), reason=missing_settings()),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """The installed release's API, through the e2e harness's REST helpers (nothing started)."""
    return Cluster(home=tmp_path_factory.mktemp("real-cluster"), base_url=os.environ["HKUBE_TEST_API_URL"])


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def test_the_numbers_pipeline_gives_30(real: Cluster) -> None:
    example = ROOT / "examples" / "numbers"
    subprocess.run(["bash", str(example / "package.sh")], check=True, cwd=example)
    for name in ("range", "multiply", "reduce"):
        apply_example(real, example, name)  # built in the cluster, pushed to its registry
    store_pipeline_files(real, example, "numbers.yml")
    status = real.run("exec/stored", {"name": "numbers", "flowInput": {"data": 5, "mul": 2}}, timeout=900)
    assert status["status"] == "completed", status
    assert real.results(status["jobId"])["data"][0]["result"] == 30


def test_a_bad_image_fails_its_job_with_hkubes_message(real: Cluster) -> None:
    name = unique("bad-image")
    real.send_apply(
        {
            "name": name,
            "env": "python",
            "cpu": 0.1,
            "mem": "128Mi",
            "algorithmImage": "registry.invalid/hkube-tests/no-such-image:v1",
        }
    )
    began = time.monotonic()
    status = real.run("exec/raw", {"name": name, "nodes": [node("a", name, 1)]}, timeout=300)
    assert status["status"] == "failed" and IMAGE_MESSAGE in status["error"], status
    assert time.monotonic() - began < 300
    real.post("store/algorithms/delete", {"name": name})


def test_a_gpu_request_larger_than_any_node_shows_failed_scheduling(real: Cluster) -> None:
    name = unique("too-many-gpus")
    real.send_apply(
        {
            "name": name,
            "env": "python",
            "cpu": 0.1,
            "mem": "128Mi",
            "gpu": 64,
            "algorithmImage": "registry.invalid/hkube-tests/never-pulled:v1",
        }
    )
    job_id = real.submit({"name": name, "nodes": [node("g", name, 1)]})
    eventually(
        lambda: real.get(f"exec/status/{job_id}").json()["data"]["states"].get("failedScheduling"),
        timeout=180,
        what="failedScheduling",
    )
    real.post("exec/stop", {"jobId": job_id})


def test_an_oom_kill_retries_and_then_crashes_with_hkubes_message(real: Cluster, tmp_path: Path) -> None:
    create = algorithm_applier(real, tmp_path)
    grows = "def start(args):\n    grow = []\n    while True:\n        grow.append(bytearray(1 << 24))\n"
    source = {"main.py": grows}
    name = create(unique("eats-memory"), source, mem="128Mi", cpu=0.1)
    pipeline = {"name": name, "nodes": [node("m", name, 1, retry={"policy": "OnCrash", "limit": 1})]}
    status = real.run("exec/raw", pipeline, timeout=600)
    assert status["status"] == "failed" and OOM_MESSAGE in status["error"], status
