"""`python manage.py up` as a user runs it: its own Redis, SQLite, everything in the
foreground; a restart finds the data again and cron schedules keep firing."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from hkube_site import embedded

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


class Up:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = embedded.free_port()
        self.process: subprocess.Popen[str] | None = None

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "DATABASE_URL") and not k.startswith("HKUBE_")
        }
        env["HKUBE_HOME"] = str(self.home)
        return env

    def start(self, *flags: str) -> None:
        log = open(self.home / f"up-{time.time():.0f}.log", "w")  # noqa: SIM115 - kept for the child
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(self.port), *(flags or ["--no-flower"])],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        embedded.wait_http(f"{self.api}storage/info", timeout=120, proc=self.process)  # type: ignore[arg-type]

    def run_another(self, *flags: str) -> subprocess.CompletedProcess[str]:
        """A second `up` on the same HKUBE_HOME, run to its end."""
        return subprocess.run(
            [sys.executable, "manage.py", "up", *flags],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def child_pid(self, name: str) -> int | None:
        try:
            return int(json.loads((self.home / "up.children.json").read_text())[name]["pid"])
        except (OSError, ValueError, KeyError):
            return None  # between two `up`s, or while the file is replaced

    def events(self) -> str:
        path = self.home / "logs" / "up.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    runner = Up(tmp_path / "home")
    runner.home.mkdir()
    yield runner
    if runner.process and runner.process.poll() is None:
        os.killpg(runner.process.pid, signal.SIGKILL)
    for pid in processes_of(runner.home):  # children in their own sessions, after a failure
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes_of(home: Path) -> list[int]:
    """Processes whose environment names this HKUBE_HOME (workers, algorithms, Redis...)."""
    marker = f"HKUBE_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def cron_jobs(up: Up) -> list[str]:
    response = requests.get(f"{up.api}cron/status", params={"name": "up-cron", "limit": 100}, timeout=30)
    return [s["jobId"] for s in response.json()] if response.status_code == 200 else []


def wait_for_new_cron_job(up: Up, seen: int, timeout: float = 80) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = cron_jobs(up)
        if len(jobs) > seen:
            return jobs
        time.sleep(1)
    raise AssertionError(f"no new cron job within {timeout}s (had {seen})")


def test_cron_keeps_firing_across_a_restart_of_up(up: Up) -> None:
    up.start()
    code = io.BytesIO()
    with tarfile.open(fileobj=code, mode="w:gz") as tar:
        data = b"def start(args):\n    return 'tick'\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    payload = {"name": "up-tick", "env": "python", "entryPoint": "main.py"}
    files = {"payload": (None, json.dumps(payload)), "file": ("c.tar.gz", code.getvalue())}
    applied = requests.post(f"{up.api}store/algorithms/apply", timeout=60, files=files)
    assert applied.status_code == 200, applied.text
    pipeline = {"name": "up-cron", "nodes": [{"nodeName": "a", "algorithmName": "up-tick"}],
                "triggers": {"cron": {"pattern": "* * * * *", "enabled": True}}}  # fmt: skip
    assert requests.post(f"{up.api}store/pipelines", json=pipeline, timeout=30).status_code == 201
    before = wait_for_new_cron_job(up, 0)
    up.stop()
    assert processes_of(up.home) == [], "every process `up` started is gone after it stops"

    up.start()
    assert requests.get(f"{up.api}store/pipelines/up-cron", timeout=30).status_code == 200  # data found again
    after = wait_for_new_cron_job(up, len(before))
    status = requests.get(f"{up.api}exec/status/{after[0]}", timeout=30).json()
    assert status["status"] in ("pending", "active", "completed"), status
    up.stop()


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout}s: {what}")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def listening_socket() -> socket.socket:
    """Another program's server on a port (a real listener, as Flower would find it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_killed_api_or_worker_is_restarted_and_the_api_answers_again(up: Up) -> None:
    up.start()
    first = up.child_pid("api")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: "api exited with code -9" in up.events(), 20, "the exit is reported")
    wait_until(lambda: up.child_pid("api") != first and answers(f"{up.api}storage/info"), 60, "API back")
    assert "api restarted" in up.events()
    assert up.process is not None and up.process.poll() is None, "up itself kept running"
    assert answers(f"{up.api}store/pipelines")
    engine = up.child_pid("engine")
    assert engine is not None
    os.kill(engine, signal.SIGKILL)  # a worker comes back the same way
    wait_until(lambda: "engine restarted" in up.events(), 20, "the engine worker restarted")
    assert up.child_pid("engine") != engine
    up.stop()
    assert processes_of(up.home) == []


def test_a_taken_flower_port_moves_flower_and_the_rest_runs(up: Up) -> None:
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        up.start("--flower-port", str(port))
        events = up.events()
        assert f"port {port} (Flower) is taken by another program" in events
        assert "--flower-port" in events and "HKUBE_FLOWER_PORT" in events
        assert answers(f"{up.api}storage/info")
        flower = up.child_pid("flower")
        time.sleep(3)
        assert up.child_pid("flower") == flower and "flower exited" not in up.events(), "Flower keeps running"
        up.stop()


def test_a_taken_api_port_is_refused_naming_the_flag_and_the_variable(up: Up) -> None:
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        result = up.run_another("--port", str(port), "--no-flower")
    assert result.returncode != 0
    assert f"port {port} (the API) is taken by another program" in result.stderr
    assert "--port" in result.stderr and "HKUBE_PORT" in result.stderr
    assert processes_of(up.home) == [], "nothing was left running"


def test_a_second_up_on_the_same_home_is_refused(up: Up) -> None:
    up.start()
    assert up.process is not None
    second = up.run_another("--port", str(embedded.free_port()), "--no-flower")
    assert second.returncode != 0
    assert f"another `manage.py up` (pid {up.process.pid}) is already running" in second.stderr
    assert answers(f"{up.api}storage/info"), "the first one is untouched"
    up.stop()


def test_a_stale_lock_of_a_dead_up_is_taken_over(up: Up) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (up.home / "up.pid").write_text(f"{dead.pid}\n")
    (up.home / "beat.pid").write_text(f"{dead.pid}\n")
    up.start()
    assert f"a previous `up` (pid {dead.pid}) is no longer running" in up.events()
    assert up.process is not None
    assert (up.home / "up.pid").read_text().strip() == str(up.process.pid)
    up.stop()


def test_children_left_by_a_killed_up_are_stopped_by_the_next(up: Up) -> None:
    up.start()
    assert up.process is not None
    api = up.child_pid("api")
    assert api is not None
    os.kill(up.process.pid, signal.SIGKILL)  # `up` dies; its children (own sessions) live on
    up.process.wait(10)
    assert answers(f"{up.api}storage/info"), "the orphaned API still answers"
    up.start()  # returns at once: the orphan answers until the new `up` stops it
    wait_until(lambda: "stopped what the previous `up` left running: api" in up.events(), 60, "cleanup")
    wait_until(lambda: up.child_pid("api") not in (None, api) and answers(f"{up.api}storage/info"), 90, "API")
    with pytest.raises(ProcessLookupError):
        os.kill(api, 0)
    up.stop()
    assert processes_of(up.home) == []
