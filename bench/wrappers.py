"""Benchmark: our Python wrapper next to HKube's published one (hkube-python-wrapper 2.4.2).

    .venv/bin/python bench/wrappers.py [--cold-runs 3] [--n 2000] [--rounds 3] [--raw-tasks 2000]

1. Cold start, through the REST API: a one-node job on an algorithm that never ran, from
   submit to seeing `completed` (the executor starting a Celery worker, that worker starting
   the algorithm process, the task). Each run uses a freshly built algorithm, so it is a
   true first task. Split with the Task row's start/end times and a raw process start.
2. Warm per-task overhead through the whole system: a batch node of N trivial items
   (`#[1...N]`, `start` returns its input) on one warm worker (`maxWorkers: 1`), so
   tasks/s is the serial rate and ms/task its inverse. HKube's wrapper in storage v3 (it
   writes each output itself) and v1 (`algorithmEnv: {STORAGE_PROTOCOL: v1}`).
3. Raw AlgorithmSession per-task latency with the same built environments and nothing else
   (no Celery, no database, no engine): initialize -> done, one process, sequential tasks.

Builds download hkube-python-wrapper's dependencies from PyPI the first time (the cluster's
pip cache is fresh); their times are printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.algorithms import make_archive  # noqa: E402
from tests.e2e.harness import Cluster  # noqa: E402

TRIVIAL_OURS = "def start(args):\n    return args['input'][0]\n"
TRIVIAL_HKUBE = "def start(args, hkubeApi):\n    return args['input'][0]\n"
HKUBE_REQUIREMENTS = "hkube-python-wrapper==2.4.2\n"


# --- through the system ----------------------------------------------------------------------


def apply(cluster: Cluster, work: Path, name: str, wrapper: str, **descriptor: Any) -> float:
    """Apply a trivial algorithm; returns its build time in seconds."""
    files = {"main.py": TRIVIAL_OURS}
    if wrapper == "hkube":
        files = {"main.py": TRIVIAL_HKUBE, "requirements.txt": HKUBE_REQUIREMENTS}
    archive = make_archive(work / name, files, work / f"{name}.tar.gz")
    payload = {"name": name, "env": "python", "entryPoint": "main.py", "maxWorkers": 1, **descriptor}
    body = cluster.apply_algorithm(payload, archive)
    build = cluster.wait_build(body["buildId"], timeout=900)
    return float(build["endTime"] - build["startTime"]) / 1000


def run(
    session: requests.Session, cluster: Cluster, pipeline: dict[str, Any], poll: float
) -> tuple[str, float]:
    """Submit a raw pipeline, wait for `completed`; returns (jobId, submit time in epoch ms)."""
    submitted = time.time() * 1000
    response = session.post(cluster.url("exec/raw"), json=pipeline)
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    while True:
        status = session.get(cluster.url(f"exec/status/{job_id}")).json()
        if status["status"] in ("completed", "failed", "stopped"):
            break
        time.sleep(poll)
    assert status["status"] == "completed", status
    return job_id, submitted


def task_rows(cluster: Cluster, job_id: str) -> list[dict[str, Any]]:
    code = (
        "import json; from pipelines.models import Task; print(json.dumps(list("
        f"Task.objects.filter(job_id={job_id!r}).values('start_time', 'end_time', 'result'))))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=cluster.env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def cold_start(session: requests.Session, cluster: Cluster, name: str) -> dict[str, float]:
    pipeline = {"name": f"cold-{name}", "nodes": [{"nodeName": "A", "algorithmName": name, "input": [7]}]}
    started = time.perf_counter()
    job_id, submitted = run(session, cluster, pipeline, poll=0.01)
    total = time.perf_counter() - started
    (row,) = task_rows(cluster, job_id)
    return {
        "total": total * 1000,
        "to_task": row["start_time"] - submitted,  # engine + worker boot + algorithm start
        "task": row["end_time"] - row["start_time"],
    }


def warm_rate(session: requests.Session, cluster: Cluster, name: str, n: int) -> float:
    pipeline = {
        "name": f"warm-{name}",
        "nodes": [{"nodeName": "A", "algorithmName": name, "input": [f"#[1...{n}]"]}],
    }
    started = time.perf_counter()
    run(session, cluster, pipeline, poll=0.05)
    return n / (time.perf_counter() - started)


# --- raw sessions ------------------------------------------------------------------------------


def version_env(cluster: Cluster, name: str) -> Path:
    (env,) = (cluster.home / "algorithms" / name).glob("*/env")
    return env


def raw_session(cluster: Cluster, name: str, storage: Path, extra: dict[str, str]) -> Any:
    from algorithms.runtime.session import AlgorithmSession
    from builds import languages
    from builds.languages.base import StorageSite, Version

    env_dir = version_env(cluster, name)
    code_dir = env_dir.parent / "code"
    launch = languages.launcher("python", env_dir).launch(
        Version(
            code_dir=code_dir,
            env_dir=env_dir,
            descriptor={"entryPoint": "main.py"},
            metrics_dir=storage.parent / "metrics",
            site=StorageSite(cluster="local", storage="fs", storage_dir=storage, storage_encoding="msgpack"),
        )
    )
    return AlgorithmSession(launch.command, env={**launch.env, **extra}, cwd=str(launch.cwd))


def raw(cluster: Cluster, name: str, tasks: int, extra: dict[str, str]) -> dict[str, float]:
    storage = Path(tempfile.mkdtemp(prefix="hkube-bench-raw-")) / "storage"
    starts = []
    for _ in range(3):
        session = raw_session(cluster, name, storage, extra)
        began = time.perf_counter()
        session.start()
        starts.append(time.perf_counter() - began)
        session.close()
    session = raw_session(cluster, name, storage, extra)
    session.start()
    latencies = []
    try:
        for i in range(tasks):
            payload = {
                "jobId": "bench-job", "taskId": f"t{i}", "nodeName": "A", "algorithmName": name,
                "pipelineName": "bench", "batchIndex": i + 1, "kind": "batch", "input": [i],
                "storage": {}, "flatInput": {}, "info": {"savePaths": []}, "spanId": None,
            }  # fmt: skip
            began = time.perf_counter()
            outcome = session.run_task(payload)
            latencies.append(time.perf_counter() - began)
            assert outcome.status == "done", outcome
        mode = f"{session.storage_mode}/{session.encoding}"
    finally:
        session.close()
    latencies.sort()
    return {
        "start_ms": statistics.median(starts) * 1000,
        "median_ms": statistics.median(latencies) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
        "tps": len(latencies) / sum(latencies),
        "mode": mode,  # type: ignore[dict-item]
    }


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw-tasks", type=int, default=2000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hkube-bench-wrappers-"))
    work = home.parent / (home.name + "-code")
    cluster = Cluster(home=home)
    cluster.start()
    try:
        http = requests.Session()
        builds: dict[str, list[float]] = {"ours": [], "hkube": []}
        print("building (HKube's wrapper comes from PyPI) ...", flush=True)
        for wrapper in ("ours", "hkube"):
            for i in range(args.cold_runs):
                builds[wrapper].append(apply(cluster, work, f"bench-{wrapper}-{i}", wrapper))
        v1_build = apply(cluster, work, "bench-hkube-v1", "hkube", algorithmEnv={"STORAGE_PROTOCOL": "v1"})
        for wrapper, times in builds.items():
            shown = ", ".join(f"{t:.1f}" for t in times)
            print(f"build times, {wrapper} wrapper (s): {shown}")
        print(f"build time, HKube's wrapper for the v1 variant (s): {v1_build:.1f}")

        cold: dict[str, list[dict[str, float]]] = {"ours": [], "hkube": []}
        for i in range(args.cold_runs):
            for wrapper in ("ours", "hkube"):
                cold[wrapper].append(cold_start(http, cluster, f"bench-{wrapper}-{i}"))
        print("\ncold start: a one-node job on a never-run algorithm (median of", args.cold_runs, "runs)")
        print(f"{'':<40}{'ours':>12}{'HKube':>12}")
        for key, label in (
            ("total", "submit -> completed seen (ms)"),
            ("to_task", "submit -> task starts (ms)"),
            ("task", "the task itself (ms)"),
        ):
            values = [statistics.median(r[key] for r in cold[w]) for w in ("ours", "hkube")]
            print(f"{label:<40}{values[0]:>12.0f}{values[1]:>12.0f}")

        print(f"\nwarm: a batch of N={args.n} trivial items on one warm worker", flush=True)
        variants = {"ours": "bench-ours-0", "HKube v3": "bench-hkube-0", "HKube v1": "bench-hkube-v1"}
        for name in variants.values():
            warm_rate(http, cluster, name, 50)  # the worker is up and the process warm
        rates: dict[str, list[float]] = {label: [] for label in variants}
        for _ in range(args.rounds):
            for label, name in variants.items():
                rates[label].append(warm_rate(http, cluster, name, args.n))
        print(f"{'':<24}{'tasks/s':>10}{'ms/task':>10}   rounds (tasks/s)")
        for label, values in rates.items():
            med = statistics.median(values)
            print(f"{label:<24}{med:>10.0f}{1000 / med:>10.2f}   {', '.join(f'{v:.0f}' for v in values)}")

        print(f"\nraw AlgorithmSession, {args.raw_tasks} sequential trivial tasks, no system around it")
        print(f"{'':<26}{'start ms':>9}{'median':>9}{'mean':>9}{'p95':>9}{'tasks/s':>9}  mode")
        for label, name, extra in (
            ("ours (python)", "bench-ours-0", {}),
            ("HKube v3 (writes storage)", "bench-hkube-0", {}),
            ("HKube v1", "bench-hkube-0", {"STORAGE_PROTOCOL": "v1"}),
            (
                "HKube v1, json frames",
                "bench-hkube-0",
                {"STORAGE_PROTOCOL": "v1", "WORKER_ALGORITHM_ENCODING": "json"},
            ),
        ):
            r = raw(cluster, name, args.raw_tasks, extra)
            print(
                f"{label:<26}{r['start_ms']:>9.0f}{r['median_ms']:>9.2f}{r['mean_ms']:>9.2f}"
                f"{r['p95_ms']:>9.2f}{r['tps']:>9.0f}  {r['mode']}",
                flush=True,
            )
    finally:
        cluster.stop()
        for folder in (home, work, *Path(tempfile.gettempdir()).glob("hkube-bench-raw-*")):
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
