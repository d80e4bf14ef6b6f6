"""One `up` per HKUBE_HOME: a lock file that holds the pid of the `up` that owns the home.

The lock is an `flock` on `HKUBE_HOME/up.pid`, so the kernel releases it when its owner
dies, however it dies: a pid file left by a killed `up` is stale, never a reason to
refuse. The pid written inside is only for the message. A killed `up` can leave its
children running (each has its own session); `stop_leftovers` stops those recorded in
`up.children.json` that still run (same pid, same start time).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hkube_site.supervisor import kill_group, start_time

LOCK_NAME = "up.pid"
CHILDREN_NAME = "up.children.json"


class HomeInUse(RuntimeError):
    pass


@dataclass
class HomeLock:
    path: Path
    handle: IO[str]
    stale_pid: int | None  # the pid a previous, dead `up` left in the file

    def release(self) -> None:
        # Emptied, not removed: removing a locked file lets two `up`s lock two inodes.
        with contextlib.suppress(OSError):
            self.handle.truncate(0)
        self.handle.close()


def _recorded_pid(handle: IO[str]) -> int | None:
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None


def acquire(home: Path) -> HomeLock:
    """Take the home's lock or raise HomeInUse naming the `up` that holds it."""
    path = home / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 - held open for as long as `up` runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _recorded_pid(handle)
        handle.close()
        raise HomeInUse(
            f"another `manage.py up` (pid {owner or 'unknown'}) is already running on HKUBE_HOME={home}; "
            "stop it first, or set HKUBE_HOME to another directory to run a second HKube"
        ) from None
    stale = _recorded_pid(handle)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return HomeLock(path, handle, stale if stale != os.getpid() else None)


def stop_leftovers(home: Path, timeout: float = 10.0) -> list[str]:
    """Stop the children a dead `up` left running; the names of those stopped."""
    path = home / CHILDREN_NAME
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    alive = {
        name: (int(entry["pid"]), entry["started"])
        for name, entry in recorded.items()
        if entry.get("started") is not None and start_time(int(entry["pid"])) == entry["started"]
    }
    for pid, _ in alive.values():
        kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(start_time(pid) == started for pid, started in alive.values()):
        time.sleep(0.2)
    for pid, _ in alive.values():
        kill_group(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return sorted(alive)
