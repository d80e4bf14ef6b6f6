"""Benchmark (issue 9, row 4): many small jobs at once. --clients threads each submit the
numbers pipeline with N=5 back to back for --seconds (submit to `exec/stored`, then poll
`exec/results` every 2 ms until 200, then the next job); then as many threads run plain
Celery's chain + chord (bench/plain_celery.py, `numbers(5).get()`) back to back for the same
time, over the same Redis, in the same run.

    .venv/bin/python bench/many_jobs.py [--clients 20] [--seconds 30]
                                        [--database sqlite|postgres] [--json out.json] [--quick]

Figures: jobs/s (jobs completed / time until the last one completed) and each job's
latency (median, p99), with the ratio to plain Celery (>1: HKube better).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from tests.e2e.harness import Cluster


def hammer(clients: int, seconds: float, one_job: Callable[[], None]) -> tuple[float, list[float], list[str]]:
    """`clients` threads running `one_job` back to back until `seconds` passed (a job started
    before then is waited for). Returns (jobs/s, latencies in seconds, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    began = time.perf_counter()
    deadline = began + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                one_job()
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies, errors


def hkube_job(started: Cluster, poll: float) -> Callable[[], None]:
    local = threading.local()

    def one_job() -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        common.numbers_job(local.http, started, 5, 2, poll=poll, timeout=120)

    return one_job


def celery_job() -> None:
    common.plain_numbers(5, 2, timeout=120)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--poll", type=float, default=0.002,
        help="seconds between a client's exec/results polls (every poll is an API request on the same cores)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 4, 3
    title = f"many small jobs: {args.clients} clients, N=5, {args.seconds:g} s"
    title += f", polls every {args.poll * 1000:g} ms"
    report = common.Report(title, args.database)

    with common.cluster(args, "many") as started, common.plain_celery_worker(started):
        common.setup_numbers(started)
        print("warming up (workers start on demand) ...", flush=True)
        http = requests.Session()
        for _ in range(3):
            common.numbers_job(http, started, 5, 2)
            common.plain_numbers(5, 2, timeout=60)
        print(f"HKube: {args.clients} clients for {args.seconds:g} s ...", flush=True)
        ours_rate, ours_lat, ours_errors = hammer(args.clients, args.seconds, hkube_job(started, args.poll))
        print(f"plain Celery: {args.clients} clients for {args.seconds:g} s ...", flush=True)
        base_rate, base_lat, base_errors = hammer(args.clients, args.seconds, celery_job)
        workers = len(started.workers())

    def stat(values: list[float], fraction: float | None) -> float | None:
        if not values:
            return None
        value = common.median(values) if fraction is None else common.percentile(values, fraction)
        return value * 1000

    report.add(common.Row(
        "jobs/s", ours_rate, base_rate, "plain Celery chain+chord",
        common.faster(ours_rate, base_rate, False), ">= 100 jobs/s, ratio >= 3", "jobs/s",
    ))  # fmt: skip
    for label, fraction in (("median", None), ("p99", 0.99)):
        ours, base = stat(ours_lat, fraction), stat(base_lat, fraction)
        report.add(common.Row(
            f"job latency, {label}", ours, base, "plain Celery chain+chord", common.faster(ours, base, True),
            "", "ms",
        ))  # fmt: skip
    report.lines.append(
        f"  jobs completed: HKube {len(ours_lat)}, plain Celery {len(base_lat)}; errors: HKube "
        f"{len(ours_errors)}, plain Celery {len(base_errors)}; algorithm workers: {workers}"
    )
    report.lines += [f"  error: {e}" for e in (ours_errors[:3] + base_errors[:3])]
    report.details = {
        "clients": args.clients, "seconds": args.seconds, "hkube_jobs": len(ours_lat),
        "celery_jobs": len(base_lat), "hkube_errors": ours_errors[:20], "celery_errors": base_errors[:20],
    }  # fmt: skip
    report.finish(args)


if __name__ == "__main__":
    main()
