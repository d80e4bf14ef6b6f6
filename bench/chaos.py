"""Chaos: jobs of mixed shapes run while a killer SIGKILLs the system's components.

    .venv/bin/python bench/chaos.py [--jobs 100] [--minutes 3] [--database sqlite|postgres] [--seed S]

Starts the whole system (tests/e2e/harness.py: its own Redis with an append-only file, a
database, the Celery workers, gunicorn; killed components are restarted by the supervisor
with its backoff, as `manage.py up` does), submits `--jobs` jobs over `--minutes` minutes
(numbers with N=200, a wait-any chain, a job with a sub-pipeline; a cron-triggered
pipeline fires every minute), while a killer at random intervals SIGKILLs an algorithm
process, an algorithm worker, the engine worker, the control worker, the events worker,
the API server, beat, restarts Redis, and (Postgres) ends every connection to the database.
After each kill a canary job measures the time until the system runs jobs again.

Reports jobs completed with correct results, lost (not ended by the deadline), duplicated
result entries, wrong results (failed, stopped or another value), and the time to recover
after each kill (median/max per component). Exits 1 when a job is lost, duplicated or wrong.

Postgres: the machine's server (`--postgres-url`, default postgresql://postgres@127.0.0.1:5432/postgres)
with a fresh database of the run's own, dropped at the end. The server is shared, so it is
not restarted: its restart is played by ending every connection to that database.
SQLite: a file, nothing to restart.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.algorithms import SUBPIPELINE_PARENT, algorithm_applier, python  # noqa: E402
from tests.e2e.harness import FINAL, Cluster, node  # noqa: E402

MUL, SUM, STEP, ECHO, PARENT = "chaos-mul", "chaos-sum", "chaos-step", "chaos-echo", "chaos-parent"
CRON = "chaos-cron"
ALGORITHMS = {
    MUL: python("def start(args):", "    return args['input'][0] * args['input'][1]"),
    SUM: python("def start(args):", "    return sum(args['input'][0])"),
    STEP: python("import time", "def start(args):", "    time.sleep(0.2)", "    return args['input'][0] + 1"),
    ECHO: python("def start(args):", "    return args['input']"),
    PARENT: SUBPIPELINE_PARENT,
}
N = 200
Expected = list[tuple[str, int | None, Any]]  # (nodeName, batchIndex, result) per result entry
CHAIN = 6
# What the killer does; "database" only with Postgres.
KINDS = (
    "algorithm-process", "algorithm-worker", "engine", "control", "events", "api", "beat",
    "redis", "database",
)  # fmt: skip


# --- the jobs and their expected results -------------------------------------------------------


def numbers(k: int) -> dict[str, Any]:
    """The numbers shape: N items multiplied by k (each item in the results), then summed."""
    return {
        "name": "chaos-numbers",
        "nodes": [
            node("mul", MUL, f"#[1...{N}]", "@flowInput.k", includeInResult=True),
            node("sum", SUM, "@mul"),
        ],
        "flowInput": {"k": k},
    }


def numbers_expected(k: int) -> Expected:
    return [("mul", i, i * k) for i in range(1, N + 1)] + [("sum", None, k * N * (N + 1) // 2)]


def wait_any_chain(k: int) -> dict[str, Any]:
    """a (a batch) -*@-> b -*@-> c: each c item starts as its b item ends."""
    return {
        "name": "chaos-wait-any",
        "nodes": [
            node("a", STEP, f"#[1...{CHAIN}]"),
            node("b", STEP, "*@a"),
            node("c", MUL, "*@b", "@flowInput.k"),
        ],
        "flowInput": {"k": k},
    }


def wait_any_expected(k: int) -> Expected:
    return [("c", i, (i + 2) * k) for i in range(1, CHAIN + 1)]


def sub_pipeline(k: int) -> dict[str, Any]:
    child = {
        "kind": "raw",
        "name": "chaos-child",
        "nodes": [node("echo", ECHO, "@flowInput.k")],
        "flowInput": {"k": k},
    }
    return {
        "name": "chaos-parent",
        "nodes": [node("parent", PARENT, "@flowInput.spec")],
        "flowInput": {"spec": child},
    }


def sub_pipeline_expected(k: int) -> Expected:
    return [("parent", None, [{"nodeName": "echo", "algorithmName": ECHO, "result": [k]}])]


def canary(k: int) -> dict[str, Any]:
    return {"name": "chaos-canary", "nodes": [node("c", MUL, 3, "@flowInput.k")], "flowInput": {"k": k}}


def canary_expected(k: int) -> Expected:
    return [("c", None, 3 * k)]


CRON_K = 7
SHAPES: dict[str, tuple[Callable[[int], dict[str, Any]], Callable[[int], Expected]]] = {
    "numbers": (numbers, numbers_expected),
    "wait-any": (wait_any_chain, wait_any_expected),
    "sub-pipeline": (sub_pipeline, sub_pipeline_expected),
}


@dataclass
class Submitted:
    job_id: str
    shape: str
    expected: Expected
    outcome: str = ""  # ok, lost, duplicated, wrong
    detail: str = ""


def judge(job: Submitted, status: dict[str, Any], results: dict[str, Any] | None) -> None:
    """Sets the job's outcome from its final status and its results."""
    if status.get("status") not in FINAL:
        job.outcome, job.detail = "lost", f"still {status.get('status')}"
        return
    if status["status"] != "completed" or results is None:
        job.outcome, job.detail = (
            "wrong",
            f"{status['status']}: {status.get('error') or status.get('reason')}",
        )
        return
    got = [
        (d.get("nodeName"), d.get("batchIndex"), d.get("result", d.get("error")))
        for d in results.get("data", [])
    ]
    keys = [(name, index) for name, index, _ in got]
    if len(set(keys)) != len(keys):
        job.outcome = "duplicated"
        job.detail = f"{len(keys) - len(set(keys))} result entries more than once"
    elif sorted(got, key=repr) != sorted(job.expected, key=repr):
        missing = [e for e in job.expected if e not in got][:3]
        extra = [g for g in got if g not in job.expected][:3]
        job.outcome, job.detail = "wrong", f"missing {missing}, unexpected {extra}"
    else:
        job.outcome = "ok"


# --- talking to the system while parts of it are down ------------------------------------------


def patient(call: Callable[[], requests.Response], until: float) -> requests.Response | None:
    """`call()` retried while the API is down or answers 5xx (a killed gunicorn, Redis restarting),
    until `until` (tried once at least)."""
    while True:
        try:
            response = call()
            if response.status_code < 500:
                return response
        except requests.RequestException:
            pass
        if time.monotonic() >= until:
            return None
        time.sleep(0.2)


def submit(cluster: Cluster, body: dict[str, Any], until: float) -> str | None:
    response = patient(lambda: requests.post(cluster.url("exec/raw"), json=body, timeout=30), until)
    if response is None or response.status_code != 200:
        return None
    job_id: str = response.json()["jobId"]
    return job_id


def final_status(cluster: Cluster, job_id: str, until: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The job's status once final (or as it is at `until`) and its results when completed."""
    status: dict[str, Any] = {}
    while True:
        response = patient(lambda: requests.get(cluster.url(f"exec/status/{job_id}"), timeout=30), until)
        status = response.json() if response is not None and response.status_code == 200 else status
        if status.get("status") in FINAL:
            results = patient(lambda: requests.get(cluster.url(f"exec/results/{job_id}"), timeout=30), until)
            return status, results.json() if results is not None and results.status_code == 200 else None
        if time.monotonic() >= until:
            return status, None
        time.sleep(0.25)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Report:
    jobs: list[Submitted] = field(default_factory=list)
    not_submitted: int = 0
    kills: list[tuple[str, float | None]] = field(default_factory=list)  # (kind, seconds to recover)
    skipped: list[str] = field(default_factory=list)
    cron_jobs: list[Submitted] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for j in [*self.jobs, *self.cron_jobs] if j.outcome == outcome)

    @property
    def bad(self) -> int:
        return self.not_submitted + sum(self.count(o) for o in ("lost", "duplicated", "wrong"))

    def lines(self) -> list[str]:
        every = [*self.jobs, *self.cron_jobs]
        shapes = sorted({j.shape for j in every})
        per_shape = ", ".join(f"{s} {sum(1 for j in every if j.shape == s)}" for s in shapes)
        out = [
            f"jobs: {len(every)} ({per_shape}) in {self.seconds:.0f} s",
            f"completed with correct results: {self.count('ok')}",
            f"lost (not ended by the deadline): {self.count('lost')}"
            + (f", not accepted by the API: {self.not_submitted}" if self.not_submitted else ""),
            f"duplicated result entries: {self.count('duplicated')}",
            f"wrong results: {self.count('wrong')}",
            "recovery after each kill (seconds until a canary job completes):",
        ]
        for kind in KINDS:
            times = [t for k, t in self.kills if k == kind]
            done = [t for t in times if t is not None]
            if times:
                never = len(times) - len(done)
                median = statistics.median(done) if done else float("nan")
                most = max(done) if done else float("nan")
                lost = f"  NOT RECOVERED {never}" if never else ""
                out.append(f"  {kind:18} kills {len(times):3}  median {median:6.1f}  max {most:6.1f}{lost}")
        out += [f"  skipped: {s}" for s in self.skipped]
        out += [f"  {j.shape} {j.job_id}: {j.outcome}: {j.detail}" for j in every if j.outcome != "ok"][:20]
        return out


def setup(cluster: Cluster, work: Path) -> None:
    """Apply the algorithms and store the cron pipeline (fires every minute)."""
    create = algorithm_applier(cluster, work / "algorithms")
    for name, source in ALGORITHMS.items():
        create(name, source)
    cron = {
        "name": CRON,
        "nodes": [node("c", MUL, 3, "@flowInput.k")],
        "flowInput": {"k": CRON_K},
        "triggers": {"cron": {"pattern": "* * * * *", "enabled": True}},
    }
    response = cluster.post("store/pipelines", cron)
    assert response.status_code in (201, 409), response.text
    assert cluster.post("cron/start", {"name": CRON}).status_code == 200


class Killer:
    """Kills one component at a time at random intervals, then times a canary job."""

    def __init__(
        self, cluster: Cluster, kinds: Sequence[str], rng: random.Random, pause: tuple[float, float]
    ):
        self.cluster, self.kinds, self.rng, self.pause = cluster, list(kinds), rng, pause
        self.kills: list[tuple[str, float | None]] = []
        self.canaries: list[Submitted] = []
        self.skipped: list[str] = []

    def kill(self, kind: str) -> bool:
        cluster = self.cluster
        if kind == "algorithm-process":
            pids = cluster.algorithm_processes()
            if not pids:
                return False
            os.kill(self.rng.choice(pids), 9)
        elif kind == "algorithm-worker":
            workers = [w for w in cluster.workers() if not str(w.get("algorithm", "")).startswith("debug:")]
            if not workers:
                return False
            cluster.kill_algorithm_worker(self.rng.choice(workers))
        elif kind == "redis":
            cluster.restart_redis()
        elif kind == "database":
            cluster.drop_database_connections()
        else:
            cluster.kill_component(kind)
        return True

    def run(self, until: float, stop: threading.Event) -> None:
        order: list[str] = []
        while time.monotonic() < until and not stop.is_set():
            if not order:
                order = self.rng.sample(self.kinds, len(self.kinds))  # every kind once per round
            if stop.wait(self.rng.uniform(*self.pause)):
                return
            kind = order.pop()
            killed_at = time.monotonic()
            if not self.kill(kind):
                self.skipped.append(f"{kind}: none running at that moment")
                continue
            self.kills.append((kind, self.recover(kind, killed_at)))

    def recover(self, kind: str, killed_at: float) -> float | None:
        k = self.rng.randint(1, 10**6)
        deadline = killed_at + 180
        job_id = submit(self.cluster, canary(k), deadline)
        if job_id is None:
            return None
        job = Submitted(job_id, "canary", canary_expected(k))
        self.canaries.append(job)
        status, results = final_status(self.cluster, job_id, deadline)
        judge(job, status, results)
        return time.monotonic() - killed_at if job.outcome == "ok" else None


def run_chaos(
    cluster: Cluster, *, jobs: int, seconds: float, kinds: Sequence[str], seed: int,
    pause: tuple[float, float] = (5.0, 15.0), deadline: float = 300.0, say: Callable[[str], None] = print,
) -> Report:  # fmt: skip
    """Submit `jobs` jobs over `seconds` while killing `kinds`; judge every job (and every cron
    job that fired) once all ended or `deadline` seconds after the last submission."""
    rng = random.Random(seed)
    report = Report()
    started = time.monotonic()
    cron_from = time.time() * 1000
    stop = threading.Event()
    killer = Killer(cluster, kinds, random.Random(seed + 1), pause)
    thread = threading.Thread(target=killer.run, args=(started + seconds, stop), daemon=True)
    thread.start()
    for i in range(jobs):
        time.sleep(max(0.0, started + i * seconds / jobs - time.monotonic()))
        shape = rng.choice(list(SHAPES))
        k = rng.randint(1, 1000)
        make, expected = SHAPES[shape]
        job_id = submit(cluster, make(k), time.monotonic() + 180)
        if job_id is None:
            report.not_submitted += 1
        else:
            report.jobs.append(Submitted(job_id, shape, expected(k)))
        if (i + 1) % 10 == 0:
            say(f"submitted {i + 1}/{jobs}; kills so far: {len(killer.kills)}")
    thread.join()
    until = time.monotonic() + deadline
    for job in report.jobs:
        judge(job, *final_status(cluster, job.job_id, until))
    report.jobs += killer.canaries
    report.kills, report.skipped = killer.kills, killer.skipped
    report.cron_jobs = cron_jobs(cluster, cron_from, until)
    report.seconds = time.monotonic() - started
    return report


def cron_jobs(cluster: Cluster, since_ms: float, until: float) -> list[Submitted]:
    """The cron pipeline's jobs started during the run, judged."""
    response = patient(
        lambda: requests.get(cluster.url(f"cron/status?name={CRON}&limit=100"), timeout=30), until
    )
    found = response.json() if response is not None and response.status_code == 200 else []
    judged = []
    for entry in found if isinstance(found, list) else []:
        if entry.get("timestamp", since_ms) < since_ms:
            continue
        job = Submitted(entry["jobId"], "cron", canary_expected(CRON_K))
        judge(job, *final_status(cluster, job.job_id, until))
        judged.append(job)
    return judged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--deadline", type=float, default=300.0, help="seconds jobs get to end after the last one"
    )
    parser.add_argument("--kinds", default=",".join(KINDS), help="what to kill, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if args.database == "postgres":
        os.environ["HKUBE_TEST_DATABASE_URL"] = args.postgres_url
    else:
        os.environ.pop("HKUBE_TEST_DATABASE_URL", None)
        if "database" in kinds:
            kinds.remove("database")
            print("SQLite: the database is a file, there is nothing to restart (database kills skipped)")
    os.environ.pop("HKUBE_TEST_REDIS_URL", None)  # the run restarts its Redis: always its own
    with tempfile.TemporaryDirectory(prefix="hkube-chaos-") as tmp:
        cluster = Cluster(home=Path(tmp) / "home", persist_redis=True)
        try:
            cluster.start()
            setup(cluster, Path(tmp))
            cluster.keep_alive()
            print(
                f"system up at {cluster.base_url}; {args.jobs} jobs over {args.minutes} min, killing {kinds}"
            )
            report = run_chaos(
                cluster,
                jobs=args.jobs,
                seconds=args.minutes * 60,
                kinds=kinds,
                seed=args.seed,
                deadline=args.deadline,
            )
        finally:
            cluster.stop()
    print(f"chaos ({args.database}, seed {args.seed}):")
    print("\n".join(report.lines()))
    if args.json:
        figures = {"ok": report.count("ok"), "lost": report.count("lost") + report.not_submitted,
                   "duplicated": report.count("duplicated"), "wrong": report.count("wrong"),
                   "kills": report.kills}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=1))
    return 1 if report.bad else 0


if __name__ == "__main__":
    sys.exit(main())
