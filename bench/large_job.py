"""Benchmark (issue 9, row 3): the numbers pipeline at N=100,000, warm, through the REST API:
does it complete, at how many tasks/s, and how much memory the engine's processes hold.

    .venv/bin/python bench/large_job.py [--n 100000] [--celery-budget 900]
                                        [--database sqlite|postgres] [--json out.json] [--quick]

Memory: `ps` every 0.5 s during the job; the peak of the summed resident memory of the
engine, control and events Celery workers, beat, the API's gunicorn (master and workers),
the algorithm workers and their algorithm processes, with each component's share in that
sample and each one's own peak (Redis and the builds worker are shown, not counted).
Baseline: plain Celery's chain + chord at the same N in the same run, if it ends within
--celery-budget seconds (else the table says so), its worker's memory sampled the same way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

GOAL_MIB = 500


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--celery-budget", type=float, default=900, help="seconds plain Celery may take")
    args = parser.parse_args()
    if args.quick:
        args.n, args.celery_budget = 2000, 120
    report = common.Report(f"numbers pipeline at N={args.n:,}", args.database)

    with common.cluster(args, "large") as started, common.plain_celery_worker(started) as plain:
        common.setup_numbers(started)
        http = requests.Session()
        print("warming up (workers start on demand) ...", flush=True)
        common.numbers_job(http, started, min(args.n, 1000), poll=0.01)
        common.plain_numbers(100, 2, timeout=120)
        print(f"N={args.n:,} through HKube ...", flush=True)
        with common.RssSampler(started, interval=0.5) as ours:
            seen = common.numbers_job(http, started, args.n, poll=0.05, timeout=3600)
        tps = (args.n + 2) / seen.seconds
        peak, shares = ours.peak()
        print(f"N={args.n:,} through plain Celery (budget {args.celery_budget:.0f} s) ...", flush=True)
        celery_tps: float | None = None
        celery_note = ""
        with common.RssSampler(started, interval=0.5, extra={"plain celery": plain.pid}) as base:
            began = time.perf_counter()
            try:
                celery_tps = (args.n + 2) / common.plain_numbers(args.n, 2, timeout=args.celery_budget)
            except Exception as exc:  # noqa: BLE001 - celery's TimeoutError or a lost chord: reported
                celery_note = (
                    f"plain Celery did not finish within {args.celery_budget:.0f} s "
                    f"({type(exc).__name__} after {time.perf_counter() - began:.0f} s)"
                )
        celery_peak, _ = base.peak(("plain celery",))
        workers = len(started.workers())

    report.add(common.Row(
        f"N={args.n:,} completes: throughput", tps, celery_tps, "plain Celery chain+chord",
        common.faster(tps, celery_tps, lower_is_better=False), ">= 5,000 tasks/s", "tasks/s", celery_note,
    ))  # fmt: skip
    report.add(common.Row(f"N={args.n:,} submit -> exec/results 200", seen.seconds, None, "", None, "", "s"))
    report.add(common.Row(
        "engine processes' peak total RSS", peak, celery_peak or None, "plain Celery worker (master + pool)",
        common.faster(peak, celery_peak, lower_is_better=True), f"<= {GOAL_MIB} MiB", "MiB",
        "RSS summed over processes (pages shared by forked processes count in each)",
    ))  # fmt: skip
    own = ours.peaks()
    report.lines.append(
        f"  each component at the peak (MiB; own peak in brackets), {len(ours.samples)} samples:"
    )
    for name in sorted(own):
        counted = name.startswith(ours.counted)
        report.lines.append(
            f"    {name:<28}{shares.get(name, 0.0):>8.0f}  [{own[name]:.0f}]"
            + ("" if counted else "  (not counted)")
        )
    report.lines.append(f"  algorithm workers at the end: {workers}")
    report.details = {
        "n": args.n, "seconds": seen.seconds, "peak_mib": peak, "components_at_peak": shares,
        "component_peaks": own, "celery_peak_mib": celery_peak, "celery_note": celery_note,
    }  # fmt: skip
    report.finish(args)


if __name__ == "__main__":
    main()
