"""Algorithm workers forked from the warm fork server (`algorithms/forkserver.py`) on the real
system: the control worker runs the server, the executor's workers are its children and run
real tasks as themselves (their own id and algorithm), stop/kill/alive work on them, and a
server that does not answer makes the launcher start a fresh process and a new server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from algorithms.launcher import LocalLauncher
from tests.e2e.algorithms import WHO
from tests.e2e.harness import ROOT, Cluster, eventually

pytestmark = pytest.mark.e2e


def stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    return int(stat(pid)[1])


def gone(pid: int) -> bool:
    """Exited and reaped: not even a zombie is left."""
    return not Path(f"/proc/{pid}").exists()


def control_pid(hkube: Cluster) -> int:
    assert hkube.supervisor is not None
    (control,) = [c for c in hkube.supervisor.children if c.name == "control"]
    return control.process.pid


def fork_server(hkube: Cluster) -> int | None:
    """The control worker's fork server, once it listens."""
    control = control_pid(hkube)
    if not (hkube.home / "run" / f"fork-{control}.sock").exists():
        return None
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ours = parent_of(int(entry.name)) == control
            if ours and b"algorithms.forkserver" in (entry / "cmdline").read_bytes():
                return int(entry.name)
    return None


def listening(path: Path) -> bool:
    """Whether a server accepts connections on the Unix socket `path` (an empty request is
    refused by the fork server and forgotten)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def run_who(hkube: Cluster, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the algorithm once; returns (its result, its worker's registry record)."""
    pipeline = {"name": name, "nodes": [{"nodeName": "a", "algorithmName": name, "input": [1]}]}
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    result: dict[str, Any] = hkube.results(status["jobId"])["data"][0]["result"]
    worker: dict[str, Any] = eventually(
        lambda: next((w for w in hkube.workers() if w["id"] == result["worker"] and w["pid"]), None),
        what=f"{name}'s worker in the registry",
    )
    return result, worker


def test_a_worker_forked_by_the_server_runs_its_task_as_itself_and_can_be_stopped_and_killed(
    hkube: Cluster, algorithm_factory: Callable[..., str], tmp_path: Path
) -> None:
    server = eventually(lambda: fork_server(hkube), 90, "the control worker's fork server")
    name = algorithm_factory("fs-who", WHO)
    result, worker = run_who(hkube, name)
    pid = int(worker["pid"])
    assert parent_of(pid) == server
    # Its id and algorithm are its own, not the server's (read again after the fork): the
    # registry record and its algorithm process's environment say so.
    assert worker["id"].startswith(f"{name}-")
    assert worker["algorithm"] == name
    assert result["worker"] == worker["id"]

    launch = LocalLauncher(tmp_path, ROOT)
    assert launch.alive(worker["id"], pid)
    launch.stop(worker["id"], pid)
    eventually(lambda: not launch.alive(worker["id"], pid), 60, "the stopped worker to exit")
    eventually(lambda: gone(pid), 30, "the stopped worker reaped by the server")

    # Work queued again: the executor forks a fresh worker, which a kill ends.
    _, second = run_who(hkube, name)
    assert second["id"] != worker["id"]
    assert parent_of(int(second["pid"])) == server
    launch.kill(int(second["pid"]))
    eventually(lambda: not launch.alive(second["id"], int(second["pid"])), 30, "the killed worker to go")
    eventually(lambda: gone(int(second["pid"])), 30, "the killed worker reaped by the server")


def test_a_server_that_does_not_answer_gives_way_to_a_fresh_process_and_a_new_server(
    hkube: Cluster, algorithm_factory: Callable[..., str]
) -> None:
    server = eventually(lambda: fork_server(hkube), 90, "the control worker's fork server")
    first, second = algorithm_factory("fs-fallback-a", WHO), algorithm_factory("fs-fallback-b", WHO)
    try:
        os.kill(server, signal.SIGSTOP)  # stopped, it still accepts connections but answers nothing
        _, worker = run_who(hkube, first)
        assert parent_of(int(worker["pid"])) == control_pid(hkube)  # a Popen child of the control worker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGCONT)
    # The launcher replaced the server that did not answer; the next worker is forked again.
    replacement = eventually(lambda: (p := fork_server(hkube)) != server and p, 90, "a new fork server")
    # Its socket file is its predecessor's until it has imported everything and listens.
    socket_path = hkube.home / "run" / f"fork-{control_pid(hkube)}.sock"
    eventually(lambda: listening(socket_path), 90, "the new fork server listening")
    _, forked = run_who(hkube, second)
    assert parent_of(int(forked["pid"])) == replacement
