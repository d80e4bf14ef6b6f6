"""Where a small job's milliseconds go, hop by hop (issue 9): the numbers pipeline with N=5,
warm, through the REST API, read back from the rows' own timestamps (epoch ms).

    .venv/bin/python bench/hops.py [--runs 30] [--database sqlite|postgres] [--json out.json]

Hops, medians over --runs jobs (the client polls `exec/results` every 2 ms):

- submit -> active: the API's request (validation, flowInput to storage, the job row) until the
  job is active (its nodes created);
- active -> X dispatched: planning node X and writing its dispatch;
- X dispatched -> task start: commit, publish, delivery to X's algorithm worker, the item's start;
- X task(s): the algorithm round trips and storing outputs;
- X end -> next dispatched: recording X's rows, finishing X, planning and writing the next node;
- Reduce end -> job end: recording, finishing the node, assembling and storing the results;
- job end -> client's 200: the client's next poll of `exec/results`;
- total (client): submit to `exec/results` 200 as the client saw it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from tests.e2e.harness import Cluster  # noqa: E402

NODES = ("Range", "Multiply", "Reduce")
READ_TIMES = """
import json
from django.db.models import Max, Min
from pipelines.models import Job, JobNode, Task
out = {}
for job in Job.objects.filter(job_id__in=IDS):
    nodes = {n.node_name: n.start_time for n in JobNode.objects.filter(job=job)}
    rows = Task.objects.filter(job=job).values("node_name")
    rows = rows.annotate(s=Min("start_time"), e=Max("end_time"))
    tasks = {row["node_name"]: (row["s"], row["e"]) for row in rows}
    out[job.job_id] = {"start": job.start_time, "active": job.active_time, "end": job.end_time,
                       "nodes": nodes, "tasks": tasks}
print(json.dumps(out))
"""


def read_times(started: Cluster, job_ids: list[str]) -> dict[str, Any]:
    code = READ_TIMES.replace("IDS", json.dumps(job_ids))
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=started.env, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def hops(times: dict[str, Any], client_ms: float, submitted_ms: int, seen_ms: int) -> dict[str, float]:
    nodes, tasks = times["nodes"], times["tasks"]
    row: dict[str, float] = {"submit -> active": times["active"] - times["start"]}
    previous_end = None
    for name in NODES:
        if previous_end is None:
            row[f"active -> {name} dispatched"] = nodes[name] - times["active"]
        else:
            row[f"{previous_end[0]} end -> {name} dispatched"] = nodes[name] - previous_end[1]
        row[f"{name} dispatched -> task start"] = tasks[name][0] - nodes[name]
        row[f"{name} task(s)"] = tasks[name][1] - tasks[name][0]
        previous_end = (name, tasks[name][1])
    assert previous_end is not None
    row["Reduce end -> job end"] = times["end"] - previous_end[1]
    row["job end -> client's 200"] = seen_ms - times["end"]
    row["server: submit -> job end"] = times["end"] - times["start"]
    row["client's clock: submit -> 200"] = client_ms
    row["(clock skew check: client submit - job start)"] = submitted_ms - times["start"]
    return row


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    with common.cluster(args, "hops") as started:
        common.setup_numbers(started)
        http = requests.Session()
        for _ in range(5):  # warm: workers started, algorithm processes running
            common.numbers_job(http, started, 5)
        seen: dict[str, tuple[float, int, int]] = {}
        for _ in range(runs):
            submitted = int(time.time() * 1000)
            since = time.perf_counter()
            job_id = common.submit(
                http, started, "exec/stored", {"name": "numbers", "flowInput": {"data": 5, "mul": 2}}
            )
            result = common.poll_results(http, started, job_id, since)
            seen[job_id] = (result.seconds * 1000, submitted, int(time.time() * 1000))
        times = read_times(started, list(seen))
    rows = [hops(times[job_id], *seen[job_id]) for job_id in seen]
    medians = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    print(f"== a small job, hop by hop ({args.database}, median of {runs} jobs, ms) ==")
    for key, value in medians.items():
        print(f"{key:<48}{value:>8.1f}")
    print(f"machine: {common.machine()}")
    if args.json:
        args.json.write_text(
            json.dumps({"database": args.database, "runs": runs, "hops_ms": medians}, indent=2)
        )


if __name__ == "__main__":
    main()
