"""The supervisor behind `manage.py up`: exits are reported and restarted with backoff."""

from __future__ import annotations

import time
from pathlib import Path

from hkube_site.supervisor import MAX_BACKOFF, STABLE_AFTER, Supervisor, start_time


def wait_exit(supervisor: Supervisor) -> None:
    deadline = time.monotonic() + 10
    while not supervisor.dead() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_an_exited_child_is_restarted_with_doubling_backoff(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(log_dir=tmp_path, report=said.append, state_file=tmp_path / "state.json")
    child = supervisor.start("crasher", ["sh", "-c", "exit 3"])
    backoffs = []
    now = child.started_at
    for _ in range(7):
        wait_exit(supervisor)
        supervisor.supervise(now)
        backoffs.append(child.backoff)
        supervisor.supervise(now + child.backoff - 0.1)  # too early: still waiting
        assert child.restart_at is not None
        now += child.backoff
        supervisor.supervise(now)  # restarted
        assert child.restart_at is None
    assert backoffs == [1, 2, 4, 8, 16, MAX_BACKOFF, MAX_BACKOFF]
    assert child.restarts == 7
    assert said[0].startswith("crasher exited with code 3 after ")
    assert "restarting in 1 s" in said[0] and said[1].startswith("crasher restarted (pid ")
    supervisor.stop_all()
    assert not (tmp_path / "state.json").exists()


def test_a_child_that_ran_a_while_restarts_after_the_shortest_backoff(tmp_path: Path) -> None:
    supervisor = Supervisor(log_dir=tmp_path)
    child = supervisor.start("steady", ["sh", "-c", "exit 1"])
    child.backoff = 16.0
    wait_exit(supervisor)
    supervisor.supervise(child.started_at + STABLE_AFTER + 1)
    assert child.backoff == 1.0
    supervisor.stop_all()


def test_a_dead_leaders_orphans_are_killed_before_the_restart(tmp_path: Path) -> None:
    """As gunicorn's workers would keep the port after their master was killed."""
    supervisor = Supervisor(log_dir=tmp_path)
    pid_file = tmp_path / "orphan.pid"
    child = supervisor.start("leader", ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; exit 1"])
    wait_exit(supervisor)
    orphan = int(pid_file.read_text())
    assert start_time(orphan) is not None
    supervisor.supervise()
    deadline = time.monotonic() + 5
    while start_time(orphan) is not None and time.monotonic() < deadline:
        time.sleep(0.02)  # killed; reaped by whoever adopted it
    assert start_time(orphan) is None or Path(f"/proc/{orphan}/stat").read_text().split()[2] == "Z"
    assert child.restart_at is not None
    supervisor.stop_all()


def test_a_pid_not_known_yet_signals_nobody():
    """Workers register with pid 0 until their first heartbeat: killpg(0) would hit our own group."""
    import signal as signals

    from algorithms.launcher import LocalLauncher
    from hkube_site.supervisor import kill_group

    received: list[int] = []
    previous = signals.signal(signals.SIGUSR1, lambda number, frame: received.append(number))
    try:
        kill_group(0, signals.SIGUSR1)
        kill_group(1, signals.SIGUSR1)
    finally:
        signals.signal(signals.SIGUSR1, previous)
    assert received == []
    assert LocalLauncher.alive(LocalLauncher.__new__(LocalLauncher), "w", 0) is False
