"""Benchmark: the numbers pipeline (Range -> Multiply per element -> Reduce), warm,
through the REST API, next to plain Celery doing the same work over the same Redis.

    .venv/bin/python bench/numbers_pipeline.py [--rounds 3] [--latency-runs 20] [--n 10000]

Prints N=5 latency (median of --latency-runs: the server's own grossTimeTook, submission to
completion, and what the client sees polling exec/status every 10 ms) and N=10,000 throughput
(tasks/s: N+2 tasks over submit-to-completed), per round and as medians, with the
ratio to plain Celery from the same round.
"""

from __future__ import annotations

import argparse
import os
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

from tests.e2e.harness import Cluster  # noqa: E402

EXAMPLE = ROOT / "examples" / "numbers"


def setup(cluster: Cluster) -> None:
    import yaml

    subprocess.run(["bash", "package.sh"], cwd=EXAMPLE, check=True, capture_output=True)
    for name in ("range", "multiply", "reduce"):
        descriptor = yaml.safe_load((EXAMPLE / f"{name}.yml").read_text())
        code = descriptor.pop("code")
        payload = {**descriptor, **descriptor.pop("resources", {}), "entryPoint": code["entryPoint"]}
        cluster.apply_algorithm(payload, EXAMPLE / code["path"])
    cluster.post("store/pipelines", yaml.safe_load((EXAMPLE / "numbers.yml").read_text()))


def run_job(
    session: requests.Session, cluster: Cluster, n: int, mul: int, poll: float
) -> tuple[float, float, Any]:
    """Returns (client seconds, server grossTimeTook seconds, result)."""
    start = time.perf_counter()
    response = session.post(
        cluster.url("exec/stored"), json={"name": "numbers", "flowInput": {"data": n, "mul": mul}}
    )
    job_id = response.json()["jobId"]
    while True:
        status = session.get(cluster.url(f"exec/status/{job_id}")).json()
        if status["status"] in ("completed", "failed", "stopped"):
            break
        time.sleep(poll)
    elapsed = time.perf_counter() - start
    assert status["status"] == "completed", status
    result = session.get(cluster.url(f"exec/results/{job_id}")).json()["data"][0]["result"]
    return elapsed, float(status["grossTimeTook"]), result


def hkube_round(cluster: Cluster, latency_runs: int, n: int) -> dict[str, float]:
    session = requests.Session()
    latencies, gross = [], []
    for _ in range(latency_runs):
        # Polling every 10 ms: a 1 ms loop of status requests takes a core from the job itself.
        elapsed, took, result = run_job(session, cluster, 5, 2, poll=0.01)
        assert result == 30, result
        latencies.append(elapsed)
        gross.append(took)
    elapsed, took, result = run_job(session, cluster, n, 2, poll=0.05)
    assert result == n * (n + 1), result
    return {
        "n5_ms": statistics.median(latencies) * 1000,
        "n5_server_ms": statistics.median(gross) * 1000,
        "big_tps": (n + 2) / elapsed,
        "big_s": elapsed,
    }


def celery_round(latency_runs: int, n: int) -> dict[str, float]:
    from bench import plain_celery

    latencies = []
    for _ in range(latency_runs):
        start = time.perf_counter()
        assert plain_celery.numbers(5, 2).get(timeout=60) == 30  # type: ignore[attr-defined]
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    assert plain_celery.numbers(n, 2).get(timeout=600) == n * (n + 1)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    return {"n5_ms": statistics.median(latencies) * 1000, "big_tps": (n + 2) / elapsed, "big_s": elapsed}


def rss_mib(pattern: str) -> float:
    out = subprocess.run(["ps", "-eo", "rss,args"], capture_output=True, text=True).stdout
    return sum(int(line.split()[0]) for line in out.splitlines()[1:] if pattern in line) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()

    cluster = Cluster(home=Path(tempfile.mkdtemp(prefix="hkube-bench-")))
    cluster.start()
    os.environ["REDIS_URL"] = cluster.env["REDIS_URL"]
    plain = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.plain_celery", "worker", "-Q", "plain", "-c", "2",
         "-P", "prefork", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )  # fmt: skip
    try:
        setup(cluster)
        print("warming up (workers start on demand) ...", flush=True)
        hkube_round(cluster, 3, args.n)
        celery_round(3, 1000)
        rows = []
        for i in range(args.rounds):
            ours = hkube_round(cluster, args.latency_runs, args.n)
            base = celery_round(args.latency_runs, args.n)
            rows.append((ours, base))
            print(
                f"round {i + 1}: N=5 {ours['n5_ms']:.1f} ms (server {ours['n5_server_ms']:.1f} ms) vs Celery "
                f"{base['n5_ms']:.1f} ms | N={args.n} {ours['big_tps']:.0f} tasks/s vs Celery "
                f"{base['big_tps']:.0f} tasks/s",
                flush=True,
            )
        med = lambda key, side: statistics.median(r[side][key] for r in rows)  # noqa: E731
        lat_ratio = statistics.median(r[1]["n5_ms"] / r[0]["n5_ms"] for r in rows)
        tps_ratio = statistics.median(r[0]["big_tps"] / r[1]["big_tps"] for r in rows)
        print()
        table = [
            ("numbers pipeline, warm", "HKube (REST)", "plain Celery", "ratio"),
            ("N=5 latency, median (ms)", f"{med('n5_ms', 0):.1f}", f"{med('n5_ms', 1):.1f}",
             f"{lat_ratio:.2f}x"),
            ("N=5 server-side gross (ms)", f"{med('n5_server_ms', 0):.1f}", "-", ""),
            (f"N={args.n} throughput (tasks/s)", f"{med('big_tps', 0):.0f}", f"{med('big_tps', 1):.0f}",
             f"{tps_ratio:.2f}x"),
        ]  # fmt: skip
        for label, ours_text, base_text, ratio in table:
            print(f"{label:<34}{ours_text:>16}{base_text:>16}{ratio:>10}")
        print(f"engine worker memory after the runs: {rss_mib('-Q engine'):.0f} MiB (all engine processes)")
        print(f"algorithm workers running: {len(cluster.workers())}")
    finally:
        os.killpg(plain.pid, 15)
        plain.wait(20)
        cluster.stop()


if __name__ == "__main__":
    main()
