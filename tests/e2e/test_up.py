"""`python manage.py up` as a user runs it: its own Redis, SQLite, everything in the
foreground; a restart finds the data again and cron schedules keep firing."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
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

    def start(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "DATABASE_URL") and not k.startswith("HKUBE_")
        }
        env["HKUBE_HOME"] = str(self.home)
        log = open(self.home / f"up-{time.time():.0f}.log", "w")  # noqa: SIM115 - kept for the child
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(self.port), "--no-flower"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        embedded.wait_http(f"{self.api}storage/info", timeout=120, proc=self.process)  # type: ignore[arg-type]

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
