"""The whole system, for end-to-end tests: real Redis, a real database, real Celery
workers, the API under gunicorn, and algorithm workers started by the executor.

Redis: `HKUBE_TEST_REDIS_URL` if set (its database is flushed), else a redis-server
started here. Database: `HKUBE_TEST_DATABASE_URL` names a Postgres server on which a
fresh database is created, else a SQLite file. Tests talk to it over HTTP only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
import requests

from hkube_site import embedded
from hkube_site.supervisor import kill_group

ROOT = Path(__file__).resolve().parents[2]
_shared_redis_taken = False
# Final states, the same for jobs and builds.
FINAL = ("completed", "failed", "stopped")
T = TypeVar("T")


def _database_url(home: Path) -> tuple[str, str | None]:
    admin_url = os.environ.get("HKUBE_TEST_DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        return f"sqlite:///{home / 'e2e.sqlite3'}", None
    import psycopg

    # Unique per cluster: a test module may start its own next to the session's.
    name = f"hkube_e2e_{os.getpid()}_{home.name.replace('-', '_')[-20:]}".lower()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}", name


@dataclass
class Cluster:
    home: Path
    base_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    supervisor: embedded.Supervisor | None = None
    redis_server: embedded.RedisServer | None = None
    db_name: str | None = None
    # Chaos: Redis keeps its data across a restart (append-only file), and a background
    # thread restarts killed components (see `keep_alive`).
    persist_redis: bool = False
    _keeper: tuple[threading.Thread, threading.Event] | None = None
    restarts: list[tuple[float, str]] = field(default_factory=list)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self, **extra_env: str) -> Cluster:
        self.home.mkdir(parents=True, exist_ok=True)
        # Only one cluster per process may use (and flush) the shared Redis database; a test
        # module that starts its own cluster next to the session's gets its own server.
        global _shared_redis_taken
        redis_url = "" if _shared_redis_taken else os.environ.get("HKUBE_TEST_REDIS_URL", "")
        _shared_redis_taken = _shared_redis_taken or bool(redis_url)
        if redis_url:
            redis.Redis.from_url(redis_url).flushdb()
        else:
            self.redis_server = embedded.start_redis(self.home / "redis", persist=self.persist_redis)
            redis_url = self.redis_server.url
        database_url, self.db_name = _database_url(self.home)
        port = embedded.free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HKUBE_") and k != "DATABASE_URL"},
            "DJANGO_SETTINGS_MODULE": "hkube_site.settings",
            "HKUBE_HOME": str(self.home),
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "HKUBE_WORKER_IDLE_SECONDS": "600",
            "HKUBE_MAX_WORKERS": "6",
            "HKUBE_CPU_BUDGET": "6",
            "PYTHONPATH": str(ROOT),
            **extra_env,
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=self.env, check=True, timeout=300,
        )  # fmt: skip
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from hkube_site.schedules import ensure_schedules; ensure_schedules()"],
            cwd=ROOT, env=self.env, check=True, timeout=120,
        )  # fmt: skip
        self.supervisor = embedded.Supervisor(log_dir=self.home / "logs", env=self.env)
        py = sys.executable
        api = self.supervisor.start(
            "api",
            [py, "-m", "gunicorn", "hkube_site.wsgi", "-b", f"127.0.0.1:{port}", "-k", "gthread",
             "-w", "2", "--threads", "8", "--timeout", "300", "--chdir", str(ROOT)],
        )  # fmt: skip
        os.chdir(ROOT)
        self.supervisor.start("engine", embedded.celery_worker_args("engine", "engine", concurrency=2))
        self.supervisor.start("control", embedded.celery_worker_args("control", "control", pool="solo"))
        self.supervisor.start("builds", embedded.celery_worker_args("builds", "builds", pool="solo"))
        self.supervisor.start(
            "events", embedded.celery_worker_args("events", "events", pool="threads", concurrency=8)
        )
        self.supervisor.start(
            "beat",
            [py, "-m", "celery", "-A", "hkube_site", "beat", "-l", "INFO",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler",
             "--pidfile", str(self.home / "beat.pid")],
        )  # fmt: skip
        embedded.wait_http(f"{self.base_url}/api/v1/storage/info", timeout=90, proc=api.process)
        return self

    def stop(self) -> None:
        if self._keeper is not None:
            self._keeper[1].set()
            self._keeper[0].join(5)
        with contextlib.suppress(Exception):
            self.kill_algorithm_workers()
        if self.supervisor:
            self.supervisor.stop_all(timeout=10)
        with contextlib.suppress(Exception):
            self.kill_algorithm_workers()
        if self.redis_server:
            self.redis_server.stop()
        if self.db_name:
            import psycopg

            with (
                contextlib.suppress(Exception),
                psycopg.connect(os.environ["HKUBE_TEST_DATABASE_URL"], autocommit=True) as conn,
            ):
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["REDIS_URL"])

    def workers(self) -> list[dict[str, Any]]:
        return [json.loads(v) for v in self.redis().hgetall("hkube:workers").values()]

    def kill_algorithm_workers(self) -> None:
        for worker in self.workers():
            kill_group(int(worker["pid"]), signal.SIGKILL)  # pid 0 (not known yet) is skipped
            # The algorithm process has a group of its own; HKube's wrapper would retry for ever.
            kill_group(int(worker.get("algorithmPid") or 0), signal.SIGKILL)
        self.redis().delete("hkube:workers")

    # --- chaos: killing and restarting components ---------------------------------------------
    def keep_alive(self, interval: float = 0.2) -> None:
        """Restart components that die, as `manage.py up` does (the supervisor's backoff), from a
        background thread until `stop`. Each restart is noted in `restarts` (monotonic time, name)."""
        supervisor, stopping = self.supervisor, threading.Event()
        assert supervisor is not None and self._keeper is None

        def note(message: str) -> None:
            if " restarted " in message:
                self.restarts.append((time.monotonic(), message.split(" ", 1)[0]))

        supervisor.report = note

        def loop() -> None:
            while not stopping.wait(interval):
                supervisor.supervise()

        thread = threading.Thread(target=loop, name="hkube-keep-alive", daemon=True)
        thread.start()
        self._keeper = (thread, stopping)

    def kill_component(self, name: str) -> int:
        """SIGKILL a supervised component's whole process group (api, engine, control, events,
        builds, beat); returns the pid killed."""
        assert self.supervisor is not None
        (child,) = [c for c in self.supervisor.children if c.name == name]
        pid = child.process.pid
        kill_group(pid)
        return pid

    def algorithm_processes(self) -> list[int]:
        """The pids of the algorithm processes the algorithm workers run (each its worker's child,
        in its own session)."""
        workers = {int(w["pid"]) for w in self.workers()}
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if parent in workers:
                    found.append(int(stat.parent.name))
        return found

    def kill_algorithm_worker(self, worker: dict[str, Any]) -> None:
        """SIGKILL one algorithm worker (its process group; its algorithm process, in its own
        session, is left to notice its worker is gone)."""
        kill_group(int(worker["pid"]))

    def restart_redis(self) -> None:
        """Stop the cluster's own Redis and start it again on the same port (never a shared one).
        Only with `persist_redis` do queued messages survive it."""
        server = self.redis_server
        assert server is not None, "the cluster runs on a Redis it did not start"
        server.stop()
        self.redis_server = embedded.start_redis(
            self.home / "redis", port=server.port, persist=self.persist_redis
        )

    def drop_database_connections(self) -> int:
        """Postgres only: end every server connection to the cluster's own database, as its
        server's restart would (the server is shared, so it is not restarted). Returns how many."""
        if not self.db_name:
            return 0
        import psycopg

        with psycopg.connect(os.environ["HKUBE_TEST_DATABASE_URL"], autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.db_name,),
            ).fetchall()
        return len(rows)

    def logs(self, name: str) -> str:
        path = self.home / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- REST helpers ----------------------------------------------------------------------
    def url(self, path: str, prefix: str = "/api/v1/") -> str:
        return f"{self.base_url}{prefix}{path.lstrip('/')}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=60, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(path), json=body, timeout=60, **kwargs)

    def send_apply(
        self, descriptor: dict[str, Any], archive: Path | None = None, options: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`store/algorithms/apply` as hkubectl sends it; returns the answer without waiting."""
        files: dict[str, Any] = {"payload": (None, json.dumps(descriptor))}
        if options:
            files["options"] = (None, json.dumps(options))
        if archive is not None:
            files["file"] = (archive.name, archive.read_bytes(), "application/gzip")
        response = requests.post(self.url("store/algorithms/apply"), files=files, timeout=60)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def apply_algorithm(self, descriptor: dict[str, Any], archive: Path | None = None) -> dict[str, Any]:
        """Apply, and wait for the build (if any) to complete."""
        body = self.send_apply(descriptor, archive)
        if body.get("buildId"):
            self.wait_build(body["buildId"])
        return body

    def build_end(self, build_id: str, timeout: float = 300) -> dict[str, Any]:
        """The build document once it is completed, failed or stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            build: dict[str, Any] = self.get(f"builds/status/{build_id}").json()
            if build["status"] in FINAL:
                return build
            time.sleep(0.1)
        raise AssertionError(f"build {build_id} did not finish: {self.logs('builds')[-3000:]}")

    def wait_build(self, build_id: str, timeout: float = 300) -> dict[str, Any]:
        build = self.build_end(build_id, timeout)
        assert build["status"] == "completed", build
        return build

    def submit(self, body: dict[str, Any], path: str = "exec/raw") -> str:
        """Submit a job; returns its jobId without waiting."""
        response = self.post(path, body)
        assert response.status_code == 200, response.text
        job_id: str = response.json()["jobId"]
        return job_id

    def run(self, path: str, body: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        """Submit a job and wait for its end; returns the final status object."""
        return self.wait(self.submit(body, path), timeout)

    def wait(self, job_id: str, timeout: float = 120, until: tuple[str, ...] = FINAL) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.get(f"exec/status/{job_id}").json()
            if status.get("status") in until:
                return status
            time.sleep(0.05)
        raise AssertionError(
            f"job {job_id} still {status.get('status')} after {timeout}s: {status}\n"
            f"engine log:\n{self.logs('engine')[-3000:]}\ncontrol log:\n{self.logs('control')[-2000:]}"
        )

    def results(self, job_id: str) -> dict[str, Any]:
        response = self.get(f"exec/results/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextlib.contextmanager
def running_cluster(home: Path, **extra_env: str) -> Iterator[Cluster]:
    """A started cluster, stopped on the way out; a failed start prints the main logs."""
    cluster = Cluster(home=home)
    try:
        cluster.start(**extra_env)
    except Exception:
        for name in ("api", "engine", "control"):
            print(f"--- {name} log ---\n{cluster.logs(name)[-3000:]}")
        cluster.stop()
        raise
    try:
        yield cluster
    finally:
        cluster.stop()


def eventually(check: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    """`check()`'s first truthy value, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def node(name: str, algorithm: str, *inputs: object, **extra: object) -> dict[str, object]:
    """A pipeline node descriptor."""
    return {"nodeName": name, "algorithmName": algorithm, "input": list(inputs), **extra}
