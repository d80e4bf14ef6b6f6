"""The warm fork server (`algorithms/forkserver.py`) and `LocalLauncher` with it, on real
processes: forked children run Celery's CLI and are reaped, requests it cannot serve are
refused, the server goes with its parent, and the launcher falls back to a fresh process
whenever the server is not there or does not answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import celery
import pytest
import redis

from algorithms import tasks
from algorithms.launcher import ForkServerError, LocalLauncher, forkserver_socket, request_fork
from hkube_site import redis_client as rc

ROOT = Path(__file__).resolve().parents[2]


def eventually(check: Callable[[], object], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def gone(pid: int) -> bool:
    """No such process at all: exited and reaped (a zombie still has its /proc entry)."""
    return not Path(f"/proc/{pid}").exists()


# The server's environment, which a request's may extend only by the per-worker variables
# (pytest changes PYTEST_CURRENT_TEST between a test's setup and its call).
SERVER_ENV = dict(os.environ)


def start_server(path: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "algorithms.forkserver", path], cwd=ROOT, env=SERVER_ENV)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    path = forkserver_socket(tmp_path / "run")
    process = start_server(path)
    eventually(lambda: os.path.exists(path), what="the fork server's socket")
    yield process, path
    process.kill()
    process.wait(10)


def worker_env(**extra: str) -> dict[str, str]:
    return {**SERVER_ENV, "HKUBE_WORKER_ID": "fs-test-abcde", "HKUBE_WORKER_ALGORITHM": "fs-test", **extra}


def test_a_forked_child_runs_celerys_cli_in_its_own_session_and_is_reaped(
    server: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, path = server
    log = tmp_path / "worker.log"
    pid = request_fork(path, [sys.executable, "-m", "celery", "--version"], worker_env(), str(ROOT), str(log))
    eventually(lambda: log.exists() and celery.__version__ in log.read_text(), what="celery's output")
    eventually(lambda: gone(pid), what="the child reaped by the server")
    assert process.poll() is None


def test_requests_the_server_cannot_serve_are_refused(
    server: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    _, path = server
    log = str(tmp_path / "worker.log")
    version = [sys.executable, "-m", "celery", "--version"]
    # A variable the server's settings were not read with: only a fresh process is right.
    with pytest.raises(ForkServerError, match="environment differs from the server's: FS_TEST_OTHER"):
        request_fork(path, version, worker_env(FS_TEST_OTHER="1"), ".", log)
    with pytest.raises(ForkServerError, match="python -m celery"):
        request_fork(path, [sys.executable, "-c", "print(1)"], worker_env(), ".", log)


def test_the_server_exits_when_its_parent_goes(tmp_path: Path) -> None:
    path = forkserver_socket(tmp_path / "run")
    code = (
        "import subprocess, sys, time\n"
        f"server = subprocess.Popen([sys.executable, '-m', 'algorithms.forkserver', {path!r}])\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    try:
        eventually(lambda: os.path.exists(path), what="the fork server's socket")
        assert not gone(server_pid)
    finally:
        parent.kill()
        parent.wait(10)
    # Orphaned, it notices and exits (reaped by whoever adopted it), removing its socket.
    eventually(lambda: gone(server_pid) or Path(f"/proc/{server_pid}/stat").read_text().split()[2] == "Z",
               what="the orphaned server to exit")  # fmt: skip
    eventually(lambda: not os.path.exists(path), what="its socket removed")


def test_configure_worker_reads_this_processs_worker_id_and_algorithm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HKUBE_WORKER_ID", "fs-child-xyz12")
    monkeypatch.setenv("HKUBE_WORKER_ALGORITHM", "fs-child")
    try:
        tasks.configure_worker()
        assert (tasks.WORKER_ID, tasks.WORKER_ALGORITHM) == ("fs-child-xyz12", "fs-child")
    finally:
        monkeypatch.undo()
        tasks.configure_worker()
    assert os.environ.get("HKUBE_WORKER_ALGORITHM", "") == tasks.WORKER_ALGORITHM


def test_the_launcher_forks_when_the_server_answers_and_starts_a_process_when_it_does_not(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)  # the workers' broker: the test Redis
    launch = LocalLauncher(tmp_path / "logs" / "workers", ROOT, tmp_path / "run")
    handles = []
    try:
        # No server yet: a fresh process (a child of ours), and the server starts meanwhile.
        first = launch.start("fs-launch")
        handles.append(first)
        assert parent_of(first.pid) == os.getpid()
        assert launch._server is not None and launch._server.poll() is None
        server = launch._server
        eventually(lambda: os.path.exists(launch._socket), what="the fork server's socket")

        forked = launch.start("fs-launch")
        handles.append(forked)
        assert parent_of(forked.pid) == server.pid
        assert launch.alive(forked.worker_id, forked.pid)
        # Its heartbeat registers it under its own id and algorithm (the per-worker globals were
        # read again in the child, not left as the server's), with its own pid.
        broker = redis.Redis.from_url(redis_url)
        eventually(lambda: broker.hget(rc.WORKERS_KEY, forked.worker_id), what="its heartbeat")
        record = json.loads(broker.hget(rc.WORKERS_KEY, forked.worker_id) or b"{}")
        assert record["id"] == forked.worker_id
        assert (record["algorithm"], record["pid"]) == ("fs-launch", forked.pid)
        launch.stop(forked.worker_id, forked.pid)
        eventually(lambda: not launch.alive(forked.worker_id, forked.pid), what="the stopped worker to go")
        eventually(lambda: gone(forked.pid), what="the stopped worker reaped by the server")

        again = launch.start("fs-launch")
        handles.append(again)
        assert parent_of(again.pid) == server.pid
        launch.kill(again.pid)
        eventually(lambda: not launch.alive(again.worker_id, again.pid), what="the killed worker to go")

        # A server that does not answer: a fresh process after the short timeout, and a new server.
        os.kill(server.pid, signal.SIGSTOP)
        fallback = launch.start("fs-launch")
        handles.append(fallback)
        assert parent_of(fallback.pid) == os.getpid()
        assert server.poll() is not None
        assert launch._server is not None and launch._server.pid != server.pid
        launch.kill(first.pid)
        eventually(lambda: not launch.alive(first.worker_id, first.pid), what="the killed process to go")
    finally:
        for handle in handles:
            launch.kill(handle.pid)
        if launch._server is not None:
            launch._server.kill()
            launch._server.wait(10)


def test_a_server_that_keeps_dying_is_started_again_less_and_less_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a server that exits at once
    launch = LocalLauncher(tmp_path / "logs" / "workers", ROOT, tmp_path / "run")
    launch.warm()
    assert launch._server is not None
    first = launch._server
    first.wait(10)
    launch.warm()  # the first replacement comes at once
    second = launch._server
    assert second is not first
    second.wait(10)
    launch.warm()  # the next one only after a backoff
    assert launch._server is second
    assert launch._backoff > 0
