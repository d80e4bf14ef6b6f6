"""The subprocess runner of build steps (venv, pip, npm, javac, ``dependencyInstallCmd``).

A step's merged output is streamed line by line to the build's ``log``; a failure raises
``BuildError`` with the tail of that output; a step past its deadline is killed with its
whole process group (pip's and npm's children too); within ``stop_when`` a watcher thread
kills the running step once the build is stopped, and the step raises ``BuildStopped``.
No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

TAIL_LINES = 40

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """A build step failed; the message carries the tail of the build log."""


class BuildStopped(Exception):
    """The build was stopped (``stop_when``): the running step was killed."""


# The stop check of the build running in this thread (``stop_when``), read by ``run``.
_scope = threading.local()


@contextlib.contextmanager
def stop_when(check: Callable[[], bool], interval: float = 0.5) -> Iterator[None]:
    """Within this block every build step (pip, npm, javac...) is polled: a watcher thread
    calls ``check`` every ``interval`` seconds and, once it returns True, kills the step's
    process group; the step then raises ``BuildStopped``. ``check`` runs in that watcher
    thread, not in the caller's."""
    previous = getattr(_scope, "check", None)
    _scope.check, _scope.interval = check, interval
    try:
        yield
    finally:
        _scope.check = previous


def run_shell(command: str, *, cwd: Path, env: dict[str, str], log: Log, deadline: float) -> None:
    """The algorithm's ``dependencyInstallCmd``, run with bash in ``cwd`` (as HKube's image)."""
    bash = shutil.which("bash") or "/bin/sh"
    run(
        [bash, "-c", command],
        what=f"dependencyInstallCmd {command!r}",
        cwd=cwd,
        env=env,
        log=log,
        deadline=deadline,
    )


def run(
    cmd: list[str],
    *,
    what: str,
    cwd: Path,
    env: dict[str, str],
    log: Log,
    deadline: float,
) -> None:
    """Run ``cmd``, streaming its merged output to ``log``; BuildError on failure,
    BuildStopped when the ``stop_when`` check of this build says so."""
    check: Callable[[], bool] | None = getattr(_scope, "check", None)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise BuildError(f"{what}: build timed out before it could start")
    if check is not None and check():
        raise BuildStopped(f"{what}: the build was stopped")
    log(f"$ {what}")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout kills pip's children too
    )
    timed_out, stopped, finished = threading.Event(), threading.Event(), threading.Event()

    def kill_group() -> None:
        # ProcessLookupError: it finished just as the timer fired.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def kill() -> None:
        timed_out.set()
        kill_group()

    def watch_stop(check: Callable[[], bool], interval: float) -> None:
        while not finished.wait(interval):
            try:
                requested = check()
            except Exception as exc:  # noqa: BLE001 - a failed check must not fail the build
                log(f"(could not check whether the build was stopped: {exc})")
                continue
            if requested:
                stopped.set()
                kill_group()
                return

    # readline() blocks, so the deadline is enforced by a timer rather than by polling.
    timer = threading.Timer(remaining, kill)
    timer.start()
    if check is not None:
        watcher = threading.Thread(target=watch_stop, args=(check, _scope.interval), daemon=True)
        watcher.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            log(line)
        returncode = proc.wait()
    finally:
        timer.cancel()
        finished.set()
        if proc.poll() is None:
            kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    recent = "\n".join(tail)
    if stopped.is_set():
        raise BuildStopped(f"{what}: the build was stopped")
    if timed_out.is_set():
        raise BuildError(f"{what} timed out (build limit reached)\n{recent}".rstrip())
    if returncode != 0:
        raise BuildError(f"{what} failed with exit code {returncode}\n{recent}".rstrip())
