"""Benchmark: the first task of an algorithm that never ran, with and without the fork server.

    .venv/bin/python bench/forkserver_compare.py [--runs 5] [--database sqlite|postgres] [--postgres-url URL]

Two systems run side by side from `tests/e2e/harness.py` (each its own Redis and database):
one with `HKUBE_FORKSERVER=0` (each algorithm worker a fresh `python -m celery` process) and
one with the fork server (workers forked from a process that has Django and Celery imported).
Every run applies a fresh trivial algorithm (our Python wrapper) to each and times a one-node
job on it through the REST API, from submit to seeing `completed` (polling every 10 ms); the
runs alternate between the two systems, so load from elsewhere falls on both alike. The Task
row splits each figure into submit -> task starts (the executor's reaction, the worker's
start, the algorithm process's start) and the task itself. Then each system runs the
getting-started walkthrough's first job (`examples/numbers`: range, multiply, reduce, all three
never run before) once, submit to `completed`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.wrappers import apply, cold_start  # noqa: E402
from tests.e2e.algorithms import apply_example, store_pipeline_files  # noqa: E402
from tests.e2e.harness import FINAL, Cluster  # noqa: E402

VARIANTS = {"fresh process": "0", "fork server": "1"}
NUMBERS = ROOT / "examples" / "numbers"


def prepare_numbers(cluster: Cluster) -> None:
    for name in ("range", "multiply", "reduce"):
        apply_example(cluster, NUMBERS, name)
    store_pipeline_files(cluster, NUMBERS, "numbers.yml")


def numbers_first_job(http: requests.Session, cluster: Cluster) -> float:
    """The stored numbers pipeline's first job, submit to `completed` seen, in ms."""
    started = time.perf_counter()
    response = http.post(cluster.url("exec/stored"), json={"name": "numbers"})
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    while (status := http.get(cluster.url(f"exec/status/{job_id}")).json())["status"] not in FINAL:
        time.sleep(0.01)
    assert status["status"] == "completed", status
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if args.database == "postgres":
        os.environ["HKUBE_TEST_DATABASE_URL"] = args.postgres_url  # the harness creates a database

    base = Path(tempfile.mkdtemp(prefix="hkube-bench-cold-"))
    clusters = {label: Cluster(home=base / f"home-{flag}") for label, flag in VARIANTS.items()}
    try:
        for label, cluster in clusters.items():
            cluster.start(HKUBE_FORKSERVER=VARIANTS[label])
        http = requests.Session()
        subprocess.run(["bash", "package.sh"], cwd=NUMBERS, check=True, capture_output=True)
        for label, cluster in clusters.items():
            for i in range(args.runs):
                apply(cluster, base / "code", f"cold-{VARIANTS[label]}-{i}", "ours")
            prepare_numbers(cluster)
        # The fork server starts with the executor's first tick; give it the time it has in use.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((clusters["fork server"].home / "run").glob("*.sock")):
            time.sleep(0.2)
        results: dict[str, list[dict[str, float]]] = {label: [] for label in clusters}
        for i in range(args.runs):
            for label, cluster in clusters.items():
                results[label].append(cold_start(http, cluster, f"cold-{VARIANTS[label]}-{i}"))
        print(f"cold start, {args.database}: a one-node job on a never-run algorithm, median of {args.runs}")
        print(f"{'':<34}{'fresh process':>15}{'fork server':>13}{'ratio':>8}   runs (fresh | fork)")
        rows = (
            ("total", "submit -> completed seen (ms)"),
            ("to_task", "submit -> task starts (ms)"),
            ("task", "the task itself (ms)"),
        )
        for key, label in rows:
            fresh, forked = (statistics.median(r[key] for r in results[v]) for v in VARIANTS)
            runs = " | ".join(", ".join(f"{r[key]:.0f}" for r in results[v]) for v in VARIANTS)
            print(f"{label:<34}{fresh:>15.0f}{forked:>13.0f}{fresh / max(forked, 1e-9):>7.2f}x   {runs}")
        walkthrough = {label: numbers_first_job(http, cluster) for label, cluster in clusters.items()}
        fresh, forked = walkthrough.values()
        label = "numbers, first job, cold (ms)"
        print(f"{label:<34}{fresh:>15.0f}{forked:>13.0f}{fresh / forked:>7.2f}x   one run each")
        print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    finally:
        for cluster in clusters.values():
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
