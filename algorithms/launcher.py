"""Launchers start and stop algorithm workers. The local one runs processes here.

A worker is a Celery worker (solo pool, prefetch 1) consuming `algorithm.<name>`; it
keeps one algorithm process warm. The executor acts only through `Launcher`
(`algorithms/scheduling/act.py`); `k8s.launcher.KubernetesLauncher` implements it too (worker
Jobs), and `Routed` sends debug workers to the local launcher while ordinary workers go to the
cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from algorithms.debug import (
    algorithm_of,
    worker_queue,  # algorithm.<name>, or debug.<name> for a debug worker
)
from hkube_site.supervisor import kill_group
from pipelines.engine import ids


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
    """Processes on this machine, each in its own process group."""

    def __init__(self, log_dir: Path, base_dir: Path) -> None:
        self.log_dir = log_dir
        self.base_dir = base_dir
        # Popen objects of workers started by this process, so exits are reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, algorithm_name: str, env: Mapping[str, str] | None = None) -> Handle:
        """`env` is added to the worker's environment, which its algorithm process inherits
        (the executor sets CUDA_VISIBLE_DEVICES there for the GPUs it assigned)."""
        worker_id = f"{algorithm_name}-{ids.uid(5)}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        variables = {**os.environ, **(env or {}), "HKUBE_WORKER_ID": worker_id,
                     "HKUBE_WORKER_ALGORITHM": algorithm_name}  # fmt: skip
        with open(self.log_dir / f"{worker_id}.log", "ab") as log_file:
            process = subprocess.Popen(
                worker_command(algorithm_name, worker_id),
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
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


def _zombie(pid: int) -> bool:
    """An exited worker not yet reaped by its parent (another process) still answers kill(0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
