"""Launchers start and stop algorithm workers. The local one runs processes here.

A worker is a Celery worker (solo pool, prefetch 1) consuming `algorithm.<name>`; it
keeps one algorithm process warm. The executor acts only through `Launcher`
(`algorithms/scheduling/act.py`); `k8s.launcher.KubernetesLauncher` implements it too (worker
Jobs), and `Routed` sends debug workers to the local launcher while ordinary workers go to the
cluster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from algorithms.debug import (
    algorithm_of,
    worker_queue,  # algorithm.<name>, or debug.<name> for a debug worker
)
from hkube_site.supervisor import kill_group
from pipelines.engine import ids

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
CLIENT_TIMEOUT_SECONDS = 3.0
SERVER_STABLE_SECONDS = 60.0  # a fork server replaced sooner waits longer before the next replacement
SERVER_MAX_BACKOFF = 300.0
SOCKET_PATH_LIMIT = 100  # sun_path is 108 bytes, its terminating NUL included


@dataclass
class Handle:
    worker_id: str
    pid: int


class Started(Protocol):
    """What `start` returns: the new worker's id, and its pid (0 for a pod)."""

    @property
    def worker_id(self) -> str: ...

    @property
    def pid(self) -> int: ...


class Launcher(Protocol):
    """What the executor needs of a launcher. `algorithm_name` is a worker registry key: an
    algorithm's name, or ``debug:<name>`` for a debug worker (see `worker_queue`)."""

    def start(self, algorithm_name: str, env: Mapping[str, str] | None = None) -> Started:
        """Start a worker, with `env` added to its environment; return at once."""
        ...

    def stop(self, worker_id: str, pid: int) -> None:
        """Ask a worker to stop after its running chunk; stopping one that is gone is no error."""
        ...

    def alive(self, worker_id: str, pid: int) -> bool:
        """Whether the worker's process (or pod) still exists."""
        ...


def worker_command(algorithm_name: str, worker_id: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "hkube_site", "worker",
        "-Q", worker_queue(algorithm_name), "-n", f"{worker_id}@%h",
        "-P", "solo", "-c", "1", "--prefetch-multiplier", "1",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
    ]  # fmt: skip


class LocalLauncher:
    """Processes on this machine, each in its own process group.

    With `fork_dir`, workers are forked from a warm fork server (`algorithms/forkserver.py`,
    its socket in `fork_dir`), started by `warm` or the first `start`; whenever it is not
    there (still starting, crashed, refusing) a worker is a fresh process, as without it, and
    a new server is started in the background."""

    def __init__(self, log_dir: Path, base_dir: Path, fork_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self.base_dir = base_dir
        self.fork_dir = fork_dir
        # Popen objects of workers started by this process, so exits are reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._server: subprocess.Popen[bytes] | None = None
        self._socket = ""
        self._started_at = self._not_before = self._backoff = 0.0

    def warm(self) -> None:
        """Start the fork server unless it runs (the executor calls this on each tick)."""
        if self.fork_dir is not None and (self._server is None or self._server.poll() is not None):
            self._start_server()

    def _start_server(self) -> None:
        assert self.fork_dir is not None
        now = time.monotonic()
        if now < self._not_before:
            return  # one that keeps failing is started again less and less often
        if self._server is not None:
            kill_group_member(self._server)
            quick = now - self._started_at < SERVER_STABLE_SECONDS
            self._backoff = min(max(2 * self._backoff, 2.0), SERVER_MAX_BACKOFF) if quick else 0.0
            self._not_before = now + self._backoff
        self._started_at = now
        self._socket = forkserver_socket(self.fork_dir)
        self.log_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir.parent / "forkserver.log", "ab") as log_file:
            # In our process group: stopping the control worker's group stops it too.
            self._server = subprocess.Popen(
                [sys.executable, "-m", "algorithms.forkserver", self._socket],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(os.environ), cwd=self.base_dir,
            )  # fmt: skip
        log.info("fork server starting (pid %d)", self._server.pid)

    def _forked(self, worker_id: str, argv: list[str], variables: Mapping[str, str], to: Path) -> int | None:
        """The pid of a worker forked by the fork server, or None: start a process instead."""
        if self.fork_dir is None:
            return None
        if self._server is None or self._server.poll() is not None:
            self._start_server()  # not started yet, or it died: ready for a later worker
            return None
        try:
            return request_fork(self._socket, argv, variables, str(self.base_dir), str(to))
        except (FileNotFoundError, ConnectionRefusedError):
            return None  # still importing: not listening yet
        except (OSError, ForkServerError) as exc:
            log.warning("fork server did not start worker %s (%s); starting a fresh one", worker_id, exc)
            self._start_server()
            return None

    def start(self, algorithm_name: str, env: Mapping[str, str] | None = None) -> Handle:
        """`env` is added to the worker's environment, which its algorithm process inherits
        (the executor sets CUDA_VISIBLE_DEVICES there for the GPUs it assigned)."""
        worker_id = f"{algorithm_name}-{ids.uid(5)}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        variables = {**os.environ, **(env or {}), "HKUBE_WORKER_ID": worker_id,
                     "HKUBE_WORKER_ALGORITHM": algorithm_name}  # fmt: skip
        argv = worker_command(algorithm_name, worker_id)
        pid = self._forked(worker_id, argv, variables, self.log_dir / f"{worker_id}.log")
        if pid is not None:
            return Handle(worker_id, pid)
        if self.fork_dir is not None:  # a request may have reached the server: a fresh id, never two
            worker_id = f"{algorithm_name}-{ids.uid(5)}"
            variables["HKUBE_WORKER_ID"] = worker_id
            argv = worker_command(algorithm_name, worker_id)
        with open(self.log_dir / f"{worker_id}.log", "ab") as log_file:
            process = subprocess.Popen(
                argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=variables, cwd=self.base_dir, start_new_session=True,
            )  # fmt: skip
        self._children[process.pid] = process
        return Handle(worker_id, process.pid)

    def stop(self, worker_id: str, pid: int) -> None:
        # SIGTERM is Celery's warm shutdown: the running chunk finishes first.
        kill_group(pid, signal.SIGTERM)

    def kill(self, pid: int) -> None:
        kill_group(pid, signal.SIGKILL)

    def alive(self, worker_id: str, pid: int) -> bool:
        if pid < 2:
            return False  # not a process of ours (a pid not known yet)
        child = self._children.get(pid)
        if child is not None:
            if child.poll() is None:
                return True
            del self._children[pid]
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(pid)


class Routed:
    """Debug workers (registry key and worker id ``debug:<name>...``) on `local`, every other
    worker on `cluster`: a developer's IDE connects to a debug worker, which stays reachable."""

    def __init__(self, cluster: Launcher, local: Launcher) -> None:
        self.cluster = cluster
        self.local = local

    def _for(self, key: str) -> Launcher:
        return self.local if algorithm_of(key) is not None else self.cluster

    def start(self, algorithm_name: str, env: Mapping[str, str] | None = None) -> Started:
        return self._for(algorithm_name).start(algorithm_name, env)

    def stop(self, worker_id: str, pid: int) -> None:
        self._for(worker_id).stop(worker_id, pid)

    def alive(self, worker_id: str, pid: int) -> bool:
        return self._for(worker_id).alive(worker_id, pid)


# --- the fork server's protocol (its side: `algorithms/forkserver.py`) ------------------------


class ForkServerError(Exception):
    """The server refused a request (its reason), or answered something else than a pid."""


def request_fork(
    path: str, argv: Sequence[str], env: Mapping[str, str], cwd: str, log: str,
    timeout: float = CLIENT_TIMEOUT_SECONDS,
) -> int:  # fmt: skip
    """Ask the server at `path` for a worker; returns its pid. Raises OSError when the server
    is not there (yet) or too slow, `ForkServerError` when it refused."""
    request = {"argv": list(argv), "env": dict(env), "cwd": cwd, "log": log}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(json.dumps(request).encode())
        connection.shutdown(socket.SHUT_WR)
        answer = read_message(connection)
    try:
        decoded = json.loads(answer)
    except ValueError as exc:
        raise ForkServerError(f"not an answer: {answer[:200]!r}") from exc
    if isinstance(decoded, dict) and isinstance(decoded.get("pid"), int):
        return int(decoded["pid"])
    raise ForkServerError(str(decoded.get("error") if isinstance(decoded, dict) else decoded))


def read_message(connection: socket.socket) -> bytes:
    chunks, size = [], 0
    while chunk := connection.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise ForkServerError("message too large")
    return b"".join(chunks)


def forkserver_socket(directory: Path) -> str:
    """The fork server's socket path for this process, in `directory` unless that makes it
    longer than a Unix socket path may be (then in a private temporary folder)."""
    path = str(directory / f"fork-{os.getpid()}.sock")
    if len(os.fsencode(path)) < SOCKET_PATH_LIMIT:
        return path
    return os.path.join(tempfile.mkdtemp(prefix="hkube-"), "fork.sock")


def kill_group_member(process: subprocess.Popen[bytes]) -> None:
    """Stop a child of ours that shares our process group (the fork server) and reap it."""
    if process.poll() is None:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def _zombie(pid: int) -> bool:
    """An exited worker not yet reaped by its parent (another process) still answers kill(0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
