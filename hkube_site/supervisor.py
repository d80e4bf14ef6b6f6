"""Runs named child processes and keeps them running.

Each child runs in its own process group and logs to its own file. A child that exits
is restarted with exponential backoff (1 s, 2 s, 4 s ... up to 30 s; back to 1 s once it
had run 30 s), and each exit and restart is reported: one crashed component never takes
the others down. `stop_all` sends SIGTERM to every group (Celery's warm shutdown), waits,
then kills.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIN_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 30.0


@dataclass
class Child:
    name: str
    args: Sequence[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None  # set while the child is dead and waits for its restart
    stop_last: bool = False


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux): with the pid, it names one process
    for good, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a child's whole process group: a dead leader (gunicorn's master, a Celery
    worker's main process) can leave its own children holding the port or the queue.

    A pid below 2 names no child (0 is "not known yet", as a worker registered before its
    first heartbeat or one in a pod): signalling it would hit our own process group."""
    if pid < 2:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)
    report: Callable[[str], None] | None = None
    state_file: Path | None = None  # {name: {"pid", "started"}} of the running children

    def _spawn(self, name: str, args: Sequence[str], extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log_file:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                list(args), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**self.env, **extra_env}, start_new_session=True,
            )  # fmt: skip

    def start(self, name: str, args: Sequence[str], extra_env: dict[str, str] | None = None) -> Child:
        process = self._spawn(name, args, extra_env or {})
        child = Child(name, args, process, self.log_dir / f"{name}.log", dict(extra_env or {}))
        self.children.append(child)
        self._write_state()
        return child

    def adopt(
        self, name: str, args: Sequence[str], process: subprocess.Popen[bytes], log_path: Path,
        *, stop_last: bool = False,
    ) -> Child:  # fmt: skip
        """Supervise a process started elsewhere (Redis: it is started first and waited for)."""
        child = Child(name, args, process, log_path, stop_last=stop_last)
        self.children.append(child)
        self._write_state()
        return child

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() is not None]

    def supervise(self, now: float | None = None) -> None:
        """One pass: note the children that exited, restart those whose backoff is over."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.restart_at is None:
                code = child.process.poll()
                if code is None:
                    continue
                kill_group(child.process.pid)
                ran = now - child.started_at
                doubled = max(child.backoff * 2, MIN_BACKOFF)
                child.backoff = MIN_BACKOFF if ran >= STABLE_AFTER else min(doubled, MAX_BACKOFF)
                child.restart_at = now + child.backoff
                self._say(
                    f"{child.name} exited with code {code} after {ran:.1f} s; "
                    f"restarting in {child.backoff:.0f} s (log: {child.log_path})"
                )
            elif now >= child.restart_at:
                child.process = self._spawn(child.name, child.args, child.extra_env)
                child.started_at, child.restart_at = now, None
                child.restarts += 1
                self._say(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
                self._write_state()

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop every child; those adopted with `stop_last` (Redis) after the others, so
        the workers' warm shutdown can still reach the broker."""
        for child in self.children:
            child.restart_at = None
        first = [c for c in self.children if not c.stop_last]
        self._stop([*reversed(first)], timeout)
        self._stop([c for c in self.children if c.stop_last], timeout)
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    @staticmethod
    def _stop(children: list[Child], timeout: float) -> None:
        for child in children:
            if child.process.poll() is None:
                kill_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                kill_group(child.process.pid)
                child.process.wait(5)

    def _say(self, message: str) -> None:
        if self.report is not None:
            self.report(message)

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {c.name: {"pid": c.process.pid, "started": start_time(c.process.pid)} for c in self.children}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1))
        temporary.replace(self.state_file)
