"""What the issue-9 benchmarks share: the command line (`--database`, `--json`, `--quick`),
a started system on the chosen database, plain Celery beside it over the system's Redis,
the numbers pipeline, polling `exec/results`, the Task rows, process memory, and the table
of figures each script prints (HKube, the baseline from the same run, the ratio, the goal).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.harness import Cluster  # noqa: E402

EXAMPLE = ROOT / "examples" / "numbers"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FINAL = ("completed", "failed", "stopped")


# --- command line and the system ---------------------------------------------------------------


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes; each script adds its own."""
    found = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    found.add_argument(
        "--postgres-url", default=os.environ.get("HKUBE_TEST_DATABASE_URL") or POSTGRES_URL,
        help="a Postgres server on which a fresh database is created for the run (and dropped)",
    )  # fmt: skip
    found.add_argument("--json", type=Path, help="also write the figures here")
    found.add_argument("--quick", action="store_true", help="a smoke run: small sizes, few runs")
    return found


def use_database(args: argparse.Namespace) -> None:
    """The harness's semantics: HKUBE_TEST_DATABASE_URL names a Postgres server, else SQLite.
    The run always gets its own Redis (a shared one would be flushed)."""
    if args.database == "postgres":
        os.environ["HKUBE_TEST_DATABASE_URL"] = args.postgres_url
    else:
        os.environ.pop("HKUBE_TEST_DATABASE_URL", None)
    os.environ.pop("HKUBE_TEST_REDIS_URL", None)


@contextlib.contextmanager
def cluster(args: argparse.Namespace, prefix: str, **extra_env: str) -> Iterator[Cluster]:
    """The whole system (tests/e2e/harness.py) on the chosen database, stopped and removed after."""
    use_database(args)
    home = Path(tempfile.mkdtemp(prefix=f"hkube-bench-{prefix}-"))
    started = Cluster(home=home / "home")
    try:
        started.start(**extra_env)
        os.environ["REDIS_URL"] = started.env["REDIS_URL"]  # plain Celery's broker and backend
        yield started
    except BaseException:
        for name in ("api", "engine", "control"):
            print(f"--- {name} log ---\n{started.logs(name)[-2000:]}", file=sys.stderr)
        raise
    finally:
        started.stop()
        kill_leftovers(started.home)
        shutil.rmtree(home, ignore_errors=True)


def kill_leftovers(home: Path) -> None:
    """SIGKILL what the run started and is still running: algorithm processes live in sessions of
    their own and can outlive their killed workers. Found by HKUBE_HOME=`home` (unique to the run)
    in their environment."""
    from tests.e2e.test_up import processes_of

    for pid in processes_of(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def plain_celery_worker(started: Cluster, concurrency: int = 2) -> Iterator[subprocess.Popen[bytes]]:
    """Plain Celery (bench/plain_celery.py), prefork, over the system's Redis; its log beside the
    system's (`plain-celery.log`)."""
    log_dir = started.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "plain-celery.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.plain_celery", "worker", "-Q", "plain", "-c",
             str(concurrency), "-P", "prefork", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": started.env["REDIS_URL"]},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def plain_numbers(n: int, mul: int, timeout: float) -> float:
    """Plain Celery's chain + chord for the numbers pipeline; seconds until its result is back."""
    from bench import plain_celery

    start = time.perf_counter()
    result = plain_celery.numbers(n, mul).get(timeout=timeout)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    assert result == mul * n * (n + 1) // 2, result
    return elapsed


# --- the numbers pipeline through the REST API -----------------------------------------------------


def setup_numbers(started: Cluster) -> None:
    """The getting-started algorithms (range, multiply, reduce) applied and `numbers` stored."""
    import yaml

    subprocess.run(["bash", "package.sh"], cwd=EXAMPLE, check=True, capture_output=True)
    for name in ("range", "multiply", "reduce"):
        descriptor = yaml.safe_load((EXAMPLE / f"{name}.yml").read_text())
        code = descriptor.pop("code")
        payload = {**descriptor, **descriptor.pop("resources", {}), "entryPoint": code["entryPoint"]}
        started.apply_algorithm(payload, EXAMPLE / code["path"])
    started.post("store/pipelines", yaml.safe_load((EXAMPLE / "numbers.yml").read_text()))


@dataclass
class Seen:
    """What a client polling `exec/results` saw: seconds from submit to 200, the body, and the
    status codes answered before it (with the last such answer's body)."""

    seconds: float
    body: dict[str, Any]
    before: dict[int, int] = field(default_factory=dict)
    before_body: str = ""


def submit(http: requests.Session, started: Cluster, path: str, body: dict[str, Any]) -> str:
    response = http.post(started.url(path), json=body, timeout=120)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def poll_results(
    http: requests.Session, started: Cluster, job_id: str, since: float, poll: float = 0.002,
    timeout: float = 600,
) -> Seen:  # fmt: skip
    """GET exec/results every `poll` seconds until it answers 200; `since` is perf_counter at submit."""
    before: dict[int, int] = {}
    before_body = ""
    deadline = since + timeout
    while True:
        response = http.get(started.url(f"exec/results/{job_id}"), timeout=120)
        if response.status_code == 200:
            seen = Seen(time.perf_counter() - since, response.json(), before, before_body)
            assert seen.body.get("status", "completed") == "completed", seen.body
            return seen
        before[response.status_code] = before.get(response.status_code, 0) + 1
        before_body = response.text[:300]
        if time.perf_counter() > deadline:
            raise AssertionError(f"job {job_id}: no results after {timeout} s: {before_body}")
        time.sleep(poll)


def numbers_job(
    http: requests.Session, started: Cluster, n: int, mul: int = 2, poll: float = 0.002, timeout: float = 600
) -> Seen:
    """The stored numbers pipeline with {data: n, mul}, submit to `exec/results` 200; checks the sum."""
    since = time.perf_counter()
    job_id = submit(http, started, "exec/stored", {"name": "numbers", "flowInput": {"data": n, "mul": mul}})
    seen = poll_results(http, started, job_id, since, poll, timeout)
    result = seen.body["data"][0]["result"]
    assert result == mul * n * (n + 1) // 2, result
    return seen


def task_rows(started: Cluster, job_id: str) -> list[dict[str, Any]]:
    """The job's Task rows (node, batch index, start/end epoch ms, worker), read in the database."""
    code = (
        "import json; from pipelines.models import Task; print(json.dumps(list("
        f"Task.objects.filter(job_id={job_id!r}).values('node_name', 'batch_index', 'start_time',"
        " 'end_time', 'worker', 'status'))))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=started.env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows


# --- memory of processes -------------------------------------------------------------------------


def processes() -> list[tuple[int, int, int, int]]:
    """(pid, ppid, pgid, rss KiB) of every process, from `ps`."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,pgid=,rss="], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            pid, ppid, pgid, rss = (int(p) for p in parts)
            found.append((pid, ppid, pgid, rss))
    return found


class RssSampler:
    """Samples `ps` every `interval` seconds in a thread and sums resident memory per component:
    the supervised ones by process group (api = gunicorn's master and workers, engine = the Celery
    worker and its pool, ...), `worker <algorithm>` and `algorithm <algorithm>` for algorithm
    workers and their algorithm processes (each its own process group), and `extra` groups.
    `peak_total` is the largest simultaneous sum over `counted` components (prefix match)."""

    def __init__(
        self, started: Cluster, interval: float = 0.5, extra: dict[str, int] | None = None,
        counted: tuple[str, ...] = ("api", "engine", "control", "events", "beat", "worker ", "algorithm "),
    ) -> None:  # fmt: skip
        self.started = started
        self.interval = interval
        self.extra = dict(extra or {})
        self.counted = counted
        self.samples: list[dict[str, int]] = []  # component -> KiB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def groups(self) -> dict[int, str]:
        named: dict[int, str] = {}
        if self.started.supervisor is not None:
            for child in self.started.supervisor.children:
                named[child.process.pid] = child.name
        if self.started.redis_server is not None:
            with contextlib.suppress(Exception):
                named[self.started.redis_server.process.pid] = "redis"
        with contextlib.suppress(Exception):
            for worker in self.started.workers():
                algorithm = str(worker.get("algorithm", "?"))
                if worker.get("pid"):
                    named[int(worker["pid"])] = f"worker {algorithm}"
                if worker.get("algorithmPid"):
                    named[int(worker["algorithmPid"])] = f"algorithm {algorithm}"
        for name, pid in self.extra.items():
            named[pid] = name
        return named

    def sample(self) -> dict[str, int]:
        named = self.groups()
        found = processes()
        # An algorithm process not yet in its worker's registry entry: the worker's child in a
        # process group of its own.
        for _pid, ppid, pgid, _rss in found:
            parent = named.get(ppid, "")
            if parent.startswith("worker ") and pgid != ppid and pgid not in named:
                named[pgid] = "algorithm " + parent.removeprefix("worker ")
        sums: dict[str, int] = {}
        for pid, _ppid, pgid, rss in found:
            name = named.get(pgid) or named.get(pid)
            if name:
                sums[name] = sums.get(name, 0) + rss
        return sums

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.samples.append(self.sample())

    def total(self, sample: dict[str, int], prefixes: tuple[str, ...] | None = None) -> int:
        wanted = prefixes or self.counted
        return sum(kib for name, kib in sample.items() if name.startswith(wanted))

    def peak(self, prefixes: tuple[str, ...] | None = None) -> tuple[float, dict[str, float]]:
        """(peak total MiB, each component's MiB in that sample)."""
        if not self.samples:
            return 0.0, {}
        best = max(self.samples, key=lambda s: self.total(s, prefixes))
        wanted = prefixes or self.counted
        return self.total(best, prefixes) / 1024, {
            k: v / 1024 for k, v in best.items() if k.startswith(wanted)
        }

    def peaks(self) -> dict[str, float]:
        """Each component's own peak, MiB (every component seen, counted or not)."""
        found: dict[str, float] = {}
        for sample in self.samples:
            for name, kib in sample.items():
                found[name] = max(found.get(name, 0.0), kib / 1024)
        return found


# --- figures ---------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    hkube: float | None
    baseline: float | None
    baseline_name: str
    ratio: float | None
    goal: str = ""
    unit: str = ""
    note: str = ""


def faster(ours: float | None, base: float | None, lower_is_better: bool) -> float | None:
    """How many times better we are than the baseline (>1: HKube better)."""
    if not ours or not base:
        return None
    return base / ours if lower_is_better else ours / base


@dataclass
class Report:
    bench: str
    database: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def table(self) -> str:
        def show(value: float | None, unit: str = "") -> str:
            if value is None:
                return "-"
            text = (
                f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
            )
            return f"{text} {unit}".rstrip()

        head = ("figure", "HKube", "baseline", "ratio", "goal", "baseline is")
        body = [
            (
                row.figure,
                show(row.hkube, row.unit),
                show(row.baseline, row.unit),
                f"{row.ratio:.2f}x" if row.ratio is not None else "-",
                row.goal,
                row.baseline_name,
            )
            for row in self.rows
        ]
        widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
        out = [f"== {self.bench} ({self.database}) =="]
        for cells in (head, *body):
            out.append(
                "  ".join(
                    c.ljust(w) if i in (0, 5) else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                ).rstrip()
            )
        out.append(
            "  ratio: times HKube is better than the baseline (>1: better), unless the goal says otherwise"
        )
        out += [f"  {row.figure.strip()}: {row.note}" for row in self.rows if row.note]
        out += self.lines
        return "\n".join(out)

    def finish(self, args: argparse.Namespace) -> None:
        """Print the table; write the JSON when asked."""
        print()
        print(self.table())
        print(f"  machine: {machine()}", flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "bench": self.bench, "database": self.database, "quick": bool(args.quick),
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                "rows": [row.__dict__ for row in self.rows], "details": self.details,
            }  # fmt: skip
            args.json.write_text(json.dumps(document, indent=1, default=str))


def machine() -> str:
    """CPU model, cores, memory and load, for the figures' record."""
    model, memory = "?", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, IndexError, ValueError):
        memory = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.0f} GiB"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, {memory} memory, load {load}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
