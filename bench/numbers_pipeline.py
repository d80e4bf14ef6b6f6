"""Benchmark (issue 9, rows 1 and 2): the numbers pipeline (Range -> Multiply per element ->
Reduce), warm, through the REST API, next to plain Celery's chain + chord doing the same work
over the same Redis in the same run (bench/plain_celery.py).

    .venv/bin/python bench/numbers_pipeline.py [--rounds 3] [--latency-runs 20] [--n 10000]
                                               [--database sqlite|postgres] [--json out.json] [--quick]

1. N=5: submit (`exec/stored`) to `exec/results/{jobId}` answering 200 with the result, as a
   client polling `exec/results` every 2 ms sees it (what it answers before, 400 while the
   job runs, is counted and shown); median of --latency-runs per round. Plain Celery:
   `numbers(5).get()`. Also the server's own grossTimeTook.
2. N=--n fan-out: tasks/s (N+2 tasks over submit to results), plain Celery the same.

Each round runs HKube then plain Celery; figures are medians over rounds, the ratio is the
median of the per-round ratios (>1: HKube better).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from tests.e2e.harness import Cluster


def hkube_round(started: Cluster, latency_runs: int, n: int) -> dict[str, Any]:
    http = requests.Session()
    latencies, gross = [], []
    before: dict[int, int] = {}
    before_body = ""
    for _ in range(latency_runs):
        seen = common.numbers_job(http, started, 5, 2, poll=0.002)
        latencies.append(seen.seconds)
        status = http.get(started.url(f"exec/status/{seen.body['jobId']}"), timeout=60).json()
        gross.append(float(status["grossTimeTook"]))
        for code, count in seen.before.items():
            before[code] = before.get(code, 0) + count
        before_body = seen.before_body or before_body
    big = common.numbers_job(http, started, n, 2, poll=0.01)
    return {
        "n5_ms": common.median(latencies) * 1000,
        "n5_server_ms": common.median(gross) * 1000,
        "big_tps": (n + 2) / big.seconds,
        "big_s": big.seconds,
        "before": before,
        "before_body": before_body,
    }


def celery_round(latency_runs: int, n: int) -> dict[str, float]:
    latencies = [common.plain_numbers(5, 2, timeout=60) for _ in range(latency_runs)]
    elapsed = common.plain_numbers(n, 2, timeout=900)
    return {"n5_ms": common.median(latencies) * 1000, "big_tps": (n + 2) / elapsed, "big_s": elapsed}


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.latency_runs, args.n = 1, 3, 300
    report = common.Report("numbers pipeline: N=5 latency, N fan-out", args.database)

    with common.cluster(args, "numbers") as started, common.plain_celery_worker(started):
        common.setup_numbers(started)
        print("warming up (workers start on demand) ...", flush=True)
        hkube_round(started, 2, args.n)
        celery_round(2, min(args.n, 1000))
        rows: list[tuple[dict[str, Any], dict[str, float]]] = []
        for i in range(args.rounds):
            ours = hkube_round(started, args.latency_runs, args.n)
            base = celery_round(args.latency_runs, args.n)
            rows.append((ours, base))
            print(
                f"round {i + 1}: N=5 {ours['n5_ms']:.1f} ms (server {ours['n5_server_ms']:.1f} ms) vs Celery "
                f"{base['n5_ms']:.1f} ms | N={args.n} {ours['big_tps']:.0f} tasks/s vs Celery "
                f"{base['big_tps']:.0f} tasks/s",
                flush=True,
            )
        workers = len(started.workers())

    def med(key: str, side: int) -> float:
        return common.median([float(r[side][key]) for r in rows])

    lat_ratio = common.median([r[1]["n5_ms"] / r[0]["n5_ms"] for r in rows])
    tps_ratio = common.median([r[0]["big_tps"] / r[1]["big_tps"] for r in rows])
    report.add(common.Row(
        "N=5 submit -> exec/results 200 (poll 2 ms), median", med("n5_ms", 0), med("n5_ms", 1),
        "plain Celery chain+chord", lat_ratio, "<= 15 ms, ratio >= 1", "ms",
    ))  # fmt: skip
    report.add(
        common.Row("N=5 server grossTimeTook, median", med("n5_server_ms", 0), None, "", None, "", "ms")
    )
    report.add(common.Row(
        f"N={args.n:,} fan-out throughput", med("big_tps", 0), med("big_tps", 1), "plain Celery chain+chord",
        tps_ratio, ">= 5,000 tasks/s" if args.n >= 10000 else "", "tasks/s",
    ))  # fmt: skip
    before: dict[int, int] = {}
    for ours, _ in rows:
        for code, count in ours["before"].items():
            before[code] = before.get(code, 0) + count
    last_body = next((o["before_body"] for o, _ in reversed(rows) if o["before_body"]), "")
    runs = args.rounds * args.latency_runs
    report.lines.append(
        f"  exec/results before the job completed, over {runs} N=5 jobs: "
        + (", ".join(f"{code} x{count}" for code, count in sorted(before.items())) or "never polled early")
        + (f"; last such answer: {last_body}" if last_body else "")
    )
    report.lines.append(
        f"  rounds: {args.rounds}, N=5 runs per round: {args.latency_runs}; workers: {workers}"
    )
    report.details = {"rounds": [{"hkube": o, "celery": b} for o, b in rows], "n": args.n, "before": before}
    report.finish(args)


if __name__ == "__main__":
    main()
