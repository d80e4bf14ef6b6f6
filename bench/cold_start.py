"""Benchmark (issue 9, row 5): cold starts.

    .venv/bin/python bench/cold_start.py [--runs 3] [--database sqlite|postgres] [--json out.json] [--quick]

1. First task of a built algorithm never run before: --runs freshly built trivial algorithms
   (our Python wrapper), a one-node job each, submit to `completed` through the REST API
   (bench/wrappers.py's cold start: the executor starting a Celery worker, the worker
   starting the algorithm process, the task), split with the Task row's times. Baselines
   from the same run, for context: a raw start of the same algorithm's process
   (`<env>/bin/python -c "import main"` in its code folder) and a raw `AlgorithmSession`
   start (the wrapper up and connected over the WebSocket, nothing else).
2. The getting-started walkthrough's first job (scripts/getting-started.sh): `python manage.py
   up` on a fresh HKUBE_HOME (SQLite, or a fresh Postgres database with --database postgres),
   the numbers example's range, multiply and reduce applied and `numbers` stored, then
   `exec/stored numbers` submitted with no algorithm worker started yet, to `exec/results`
   200 polled every 2 ms. Baseline: the same job again, warm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, wrappers
from hkube_site import embedded
from tests.e2e.harness import Cluster, _database_url


def cold_algorithms(started: Cluster, runs: int) -> dict[str, list[float]]:
    work = started.home.parent / "code"
    names = [f"bench-cold-{i}" for i in range(runs)]
    for name in names:
        wrappers.apply(started, work, name, "ours")
    http = requests.Session()
    figures: dict[str, list[float]] = {"total": [], "to_task": [], "task": [], "import": [], "session": []}
    storage = started.home.parent / "raw" / "storage"
    for name in names:
        for key, value in wrappers.cold_start(http, started, name).items():
            figures[key].append(value)
        env_dir = wrappers.version_env(started, name)
        began = time.perf_counter()
        subprocess.run(
            [str(env_dir / "bin" / "python"), "-c", "import main"], cwd=env_dir.parent / "code", check=True
        )
        figures["import"].append((time.perf_counter() - began) * 1000)
        session = wrappers.raw_session(started, name, storage, {})
        began = time.perf_counter()
        session.start()
        figures["session"].append((time.perf_counter() - began) * 1000)
        session.close()
    return figures


class Up:
    """`python manage.py up` on its own HKUBE_HOME, as scripts/getting-started.sh starts it."""

    def __init__(self, home: Path, database: str) -> None:
        self.home = home
        self.port = embedded.free_port()
        self.db_name: str | None = None
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "DATABASE_URL") and not k.startswith("HKUBE_")
        }
        self.env["HKUBE_HOME"] = str(home)
        if database == "postgres":
            self.env["DATABASE_URL"], self.db_name = _database_url(home)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/"

    def start(self) -> float:
        """Starts `up`; returns the seconds until its API answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        with open(self.home / "up-bench.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "up", "--port", str(self.port), "--no-flower"],
                cwd=common.ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        embedded.wait_http(f"{self.api}storage/info", timeout=180, proc=self.process)
        return time.perf_counter() - began

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        common.kill_leftovers(self.home)
        if self.db_name:
            import psycopg

            with (
                contextlib.suppress(Exception),
                psycopg.connect(os.environ["HKUBE_TEST_DATABASE_URL"], autocommit=True) as conn,
            ):
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def walkthrough(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    home = Path(tempfile.mkdtemp(prefix="hkube-bench-up-"))
    up = Up(home / "home", args.database)
    try:
        up_seconds = up.start()
        subprocess.run(["bash", "package.sh"], cwd=common.EXAMPLE, check=True, capture_output=True)
        http = requests.Session()
        for name in ("range", "multiply", "reduce"):
            descriptor = yaml.safe_load((common.EXAMPLE / f"{name}.yml").read_text())
            code = descriptor.pop("code")
            payload = {**descriptor, **descriptor.pop("resources", {}), "entryPoint": code["entryPoint"]}
            archive = common.EXAMPLE / code["path"]
            files: dict[str, Any] = {
                "payload": (None, json.dumps(payload)),
                "file": (archive.name, archive.read_bytes(), "application/gzip"),
            }
            body = http.post(f"{up.api}store/algorithms/apply", files=files, timeout=120).json()
            if body.get("buildId"):
                wait_build(http, up.api, body["buildId"])
        stored = yaml.safe_load((common.EXAMPLE / "numbers.yml").read_text())
        response = http.post(f"{up.api}store/pipelines", json=stored, timeout=60)
        assert response.status_code in (200, 201, 409), response.text
        seen = []
        for _ in range(2):  # the first job (cold), then the same job warm
            since = time.perf_counter()
            response = http.post(f"{up.api}exec/stored", json={"name": "numbers"}, timeout=120)
            assert response.status_code == 200, response.text
            job_id = response.json()["jobId"]
            while True:
                answer = http.get(f"{up.api}exec/results/{job_id}", timeout=120)
                if answer.status_code == 200:
                    break
                assert time.perf_counter() - since < 300, answer.text
                time.sleep(0.002)
            seen.append(time.perf_counter() - since)
            assert answer.json()["data"][0]["result"] == 30, answer.text
        return {"up_s": up_seconds, "first_ms": seen[0] * 1000, "warm_ms": seen[1] * 1000}
    finally:
        up.stop()
        shutil.rmtree(home, ignore_errors=True)


def wait_build(http: requests.Session, api: str, build_id: str) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        build = http.get(f"{api}builds/status/{build_id}", timeout=60).json()
        if build["status"] in common.FINAL:
            assert build["status"] == "completed", build
            return
        time.sleep(0.2)
    raise AssertionError(f"build {build_id} did not finish")


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    report = common.Report("cold start", args.database)

    with common.cluster(args, "cold") as started:
        cold = cold_algorithms(started, args.runs)
    print("the getting-started walkthrough under `manage.py up` ...", flush=True)
    walk = walkthrough(args)

    med = {key: common.median(values) for key, values in cold.items()}
    report.add(common.Row(
        "first task of a never-run algorithm: submit -> completed", med["total"], med["import"],
        "raw process start: python -c 'import main'", common.faster(med["total"], med["import"], True),
        "<= 1,000 ms", "ms",
    ))  # fmt: skip
    report.add(
        common.Row("  of which submit -> task starts (Task row)", med["to_task"], None, "", None, "", "ms")
    )
    report.add(common.Row(
        "  raw AlgorithmSession start (wrapper + WebSocket)", med["session"], None, "", None, "", "ms"
    ))  # fmt: skip
    report.add(common.Row(
        "getting-started first job (up, no worker yet): submit -> results", walk["first_ms"], walk["warm_ms"],
        "the same job warm", common.faster(walk["first_ms"], walk["warm_ms"], True), "< 2,000 ms", "ms",
    ))  # fmt: skip
    report.lines.append(
        f"  `manage.py up` until its API answered: {walk['up_s']:.1f} s; cold runs: {args.runs}"
    )
    report.details = {"cold": cold, "walkthrough": walk}
    report.finish(args)


if __name__ == "__main__":
    main()
