"""The worker side of a worker pod, run as two local processes: a Celery algorithm worker with
`HKUBE_WORKER_SOCKET_PORT` set (the `worker` container) and our Python wrapper connecting to
it as the `algorunner` container would. A task runs end to end through it; when the algorunner
goes away, the worker exits non-zero so that its pod would end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from algorithms.runtime.pod import EXIT_ALGORUNNER_GONE
from algorithms.runtime.wrappers import PYTHON_WRAPPER_DIR
from hkube_site import embedded
from tests.e2e.harness import ROOT, Cluster, eventually, node

pytestmark = pytest.mark.e2e

STORED = "def start(args):\n    raise RuntimeError('a pod worker must not spawn the stored code')\n"
IN_THE_IMAGE = "def start(args):\n    print('hello from the algorunner')\n    return args['input'][0] * 2\n"


@pytest.fixture
def pod(
    hkube: Cluster, algorithm_factory: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    name = algorithm_factory("pod-double", {"main.py": STORED})
    port = embedded.free_port()
    worker_id = f"{name}-podw1"
    worker_env = {**hkube.env, "HKUBE_WORKER_ID": worker_id, "HKUBE_WORKER_ALGORITHM": name,
                  "HKUBE_WORKER_SOCKET_PORT": str(port)}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hkube_site", "worker", "-Q", f"algorithm.{name}",
         "-n", f"{worker_id}@%h", "-P", "solo", "-c", "1", "--prefetch-multiplier", "1",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    code = tmp_path / "image"
    code.mkdir()
    (code / "main.py").write_text(IN_THE_IMAGE)
    runner_env = {**os.environ, "WORKER_SOCKET_URL": f"ws://localhost:{port}", "ALGORITHM_PATH": str(code),
                  "PYTHONPATH": str(PYTHON_WRAPPER_DIR)}  # fmt: skip
    algorunner = subprocess.Popen(
        [sys.executable, "-m", "hkube_wrapper"],
        env=runner_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(
            lambda: any(w["id"] == worker_id for w in hkube.workers()), 60, "the pod worker's heartbeat"
        )
        yield name, worker, algorunner
    finally:
        for process in (algorunner, worker):
            if process.poll() is None:
                process.kill()
            process.wait(10)


def test_a_task_runs_in_the_algorunner_and_its_exit_ends_the_worker(
    hkube: Cluster, pod: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]
) -> None:
    name, worker, algorunner = pod
    status = hkube.run("exec/raw", {"name": "pod-run", "nodes": [node("A", name, 21)]}, timeout=90)
    assert status["status"] == "completed", status
    [result] = hkube.results(status["jobId"])["data"]
    assert result["result"] == 42  # the image's code ran, not the stored one
    assert [w for w in hkube.workers() if w["algorithm"] == name and w["id"] != f"{name}-podw1"] == []

    algorunner.terminate()
    output = algorunner.communicate(timeout=15)[0].decode(errors="replace")
    assert "hello from the algorunner" in output
    try:
        code = worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(worker.communicate()[0].decode(errors="replace")[-3000:]) from None
    log = worker.stdout.read().decode(errors="replace") if worker.stdout else ""
    assert code == EXIT_ALGORUNNER_GONE, log[-3000:]
    assert "the algorunner container disconnected or exited" in log
