"""Benchmark (issue 9, row 6): a 256 MB result passed between two nodes.

    .venv/bin/python bench/big_result.py [--mb 256] [--runs 3] [--database sqlite|postgres]
                                         [--json out.json] [--quick]

Node A returns `bytes` of --mb MiB (stored raw, no encoding: the cheapest value for the
wrapper and storage), node B (`@A`) reads it and returns its length. Workers are warmed
first with a 1 MiB run, so no worker start is measured. Per run, from the Task rows:
transfer = A's end to B's end (A's output stored, B dispatched, B's worker and algorithm
reading it; B's own work is `len`), as MB/s against the disk's copy bandwidth measured in the
same run (`shutil.copyfile` of a file of the same size in the system's storage folder).
Memory: `ps` every 0.1 s during the job; the peak of the summed RSS of the algorithm workers
and their algorithm processes, against the payload (goal <= 2x), and each node's pair.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from tests.e2e.algorithms import make_archive
from tests.e2e.harness import Cluster

PRODUCE = "def start(args):\n    return bytes(int(args['input'][0]) * 1024 * 1024)\n"
MEASURE = "def start(args):\n    return len(args['input'][0])\n"
A, B = "bench-big-a", "bench-big-b"
ALGORITHMS = ("worker ", "algorithm ")


def setup(started: Cluster) -> None:
    work = started.home.parent / "code"
    for name, code in ((A, PRODUCE), (B, MEASURE)):
        archive = make_archive(work / name, {"main.py": code}, work / f"{name}.tar.gz")
        payload = {"name": name, "env": "python", "entryPoint": "main.py", "maxWorkers": 1, "mem": "8Gi"}
        started.apply_algorithm(payload, archive)


def one_job(http: requests.Session, started: Cluster, mb: int) -> tuple[float, str]:
    pipeline = {
        "name": "big-result",
        "nodes": [
            {"nodeName": "A", "algorithmName": A, "input": [mb]},
            {"nodeName": "B", "algorithmName": B, "input": ["@A"]},
        ],
    }
    since = time.perf_counter()
    job_id = common.submit(http, started, "exec/raw", pipeline)
    seen = common.poll_results(http, started, job_id, since, poll=0.01, timeout=900)
    (entry,) = seen.body["data"]
    assert entry["result"] == mb * 1024 * 1024, entry
    return seen.seconds, job_id


def pair(sample: dict[str, float], algorithm: str) -> float:
    """A node's worker + algorithm process, MiB."""
    return sum(v for k, v in sample.items() if k.startswith(ALGORITHMS) and k.endswith(algorithm))


def copy_bandwidth(folder: Path, size: int) -> float:
    """MB/s of shutil.copyfile of a `size`-byte file in `folder` (written first, then copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    source, target = folder / "bench-copy-source", folder / "bench-copy-target"
    chunk = bytes(1024 * 1024)
    with open(source, "wb") as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)
    try:
        began = time.perf_counter()
        shutil.copyfile(source, target)
        return size / 1e6 / (time.perf_counter() - began)
    finally:
        for path in (source, target):
            path.unlink(missing_ok=True)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--mb", type=int, default=256, help="the payload, MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.mb, args.runs = 16, 1
    size = args.mb * 1024 * 1024
    report = common.Report(f"a {args.mb} MiB result between two nodes", args.database)
    runs: list[dict[str, Any]] = []

    with common.cluster(args, "big") as started:
        setup(started)
        http = requests.Session()
        print("warming up (workers start on demand) ...", flush=True)
        one_job(http, started, 1)
        storage = Path(started.env.get("BASE_FS_ADAPTER_DIRECTORY", started.home / "storage"))
        for i in range(args.runs):
            disk = copy_bandwidth(storage, size)
            with common.RssSampler(started, interval=0.1, counted=ALGORITHMS) as memory:
                seconds, job_id = one_job(http, started, args.mb)
            rows = {row["node_name"]: row for row in common.task_rows(started, job_id)}
            transfer = (rows["B"]["end_time"] - rows["A"]["end_time"]) / 1000
            peak, shares = memory.peak()
            idle = memory.total(memory.samples[0]) / 1024
            first = {k: v / 1024 for k, v in memory.samples[0].items()}
            pairs = {node: pair(shares, name) for node, name in (("A", A), ("B", B))}
            pairs_idle = {node: pair(first, name) for node, name in (("A", A), ("B", B))}
            run = {
                "disk_mb_s": disk, "transfer_s": transfer, "transfer_mb_s": size / 1e6 / transfer,
                "a_to_b_start_ms": rows["B"]["start_time"] - rows["A"]["end_time"],
                "b_ms": rows["B"]["end_time"] - rows["B"]["start_time"],
                "a_ms": rows["A"]["end_time"] - rows["A"]["start_time"], "job_s": seconds,
                "peak_mib": peak, "idle_mib": idle, "pairs_mib": pairs, "pairs_idle_mib": pairs_idle,
                "at_peak": shares,
            }  # fmt: skip
            runs.append(run)
            print(
                f"run {i + 1}: transfer {run['transfer_mb_s']:.0f} MB/s vs disk copy {disk:.0f} MB/s; "
                f"peak RSS {peak:.0f} MiB (idle {idle:.0f} MiB); job {seconds:.2f} s",
                flush=True,
            )
        os.sync()

    def med(key: str) -> float:
        return common.median([float(r[key]) for r in runs])

    payload_mib = size / 2**20
    rate, disk = med("transfer_mb_s"), med("disk_mb_s")
    report.add(common.Row(
        "transfer A end -> B end", rate, disk, "shutil.copyfile, same filesystem", rate / disk,
        "ratio >= 0.5", "MB/s",
    ))  # fmt: skip
    report.add(common.Row("  A end -> B start (Task rows)", med("a_to_b_start_ms"), None, "", None, "", "ms"))
    report.add(common.Row("  B's run (reads the payload)", med("b_ms"), None, "", None, "", "ms"))
    report.add(common.Row("  A's run (makes the payload)", med("a_ms"), None, "", None, "", "ms"))
    report.add(common.Row("submit -> exec/results 200", med("job_s"), None, "", None, "", "s"))
    peak, idle = med("peak_mib"), med("idle_mib")
    report.add(common.Row(
        "peak RSS, algorithm workers + processes", peak, payload_mib, "the payload", peak / payload_mib,
        "ratio <= 2 (peak / payload)", "MiB",
    ))  # fmt: skip
    report.add(common.Row(
        "  its growth over the same processes idle", peak - idle, payload_mib, "the payload",
        (peak - idle) / payload_mib, "ratio <= 2 (growth / payload)", "MiB",
        f"the same processes held {idle:.0f} MiB before the job (2 workers, 2 algorithm processes)",
    ))  # fmt: skip
    for node in ("A", "B"):
        at_peak = common.median([float(r["pairs_mib"][node]) for r in runs])
        growth = common.median([float(r["pairs_mib"][node] - r["pairs_idle_mib"][node]) for r in runs])
        report.add(common.Row(
            f"  node {node}'s worker + algorithm at the peak", at_peak, payload_mib, "the payload",
            at_peak / payload_mib, "", "MiB", f"{growth:.0f} MiB over idle",
        ))  # fmt: skip
    report.lines.append(f"  runs: {args.runs}")
    report.details = {"mb": args.mb, "runs": runs}
    report.finish(args)


if __name__ == "__main__":
    main()
