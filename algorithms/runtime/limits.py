"""Memory limits on local algorithm processes (HKube's pod memory limit and `OOMKilled`).

A pod that passes its memory limit is killed by the kernel and HKube's worker reports
`the algorithm killed due to out of memory, please specify higher memory value`. A local
algorithm process has no cgroup of its own, so a thread of the worker samples the
resident memory of the process and its descendants (from /proc) every 100 ms and kills
the whole process group when the sum passes the algorithm's `mem`. The task in progress
then ends as crashed with HKube's message, and the node's retry policy applies as for any
crash.

The cost is one small thread per algorithm process: per sample, one read of each
process's `statm` and `children` file; nothing on the per-task path. A spike shorter
than the interval can slip through, as it would not with a cgroup.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings

from algorithms.runtime.session import AlgorithmSession
from hkube_site.units import parse_memory_mi
from hkube_site.validation import ValidationError

log = logging.getLogger(__name__)

OOM_MESSAGE = "the algorithm killed due to out of memory, please specify higher memory value"
INTERVAL = 0.1  # seconds between samples
_PAGE_MI = os.sysconf("SC_PAGE_SIZE") / 2**20
_HAS_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc/<pid>/task/<tid>/children; without those
    files (a kernel without CONFIG_PROC_CHILDREN), the members of `root`'s process group."""
    if not _HAS_CHILDREN_FILES:
        return _group_members(root)
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
            except OSError:
                continue  # the thread or process ended meanwhile
    return pids


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp
            members.append(int(entry))
    return members


def resident_mi(pids: list[int]) -> float:
    """The sum of the processes' resident set sizes, in Mi (gone processes count 0)."""
    pages = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                pages += int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * _PAGE_MI


class MemoryWatch:
    """Samples a process tree's memory until the process ends; over `limit_mi` it calls
    `on_exceed(resident_mi)` once and stops."""

    def __init__(
        self,
        pid: int,
        limit_mi: float,
        on_exceed: Callable[[float], None],
        *,
        interval: float = INTERVAL,
    ) -> None:
        self.pid = pid
        self.limit_mi = limit_mi
        self.on_exceed = on_exceed
        self.interval = interval
        self.peak_mi = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"memory-watch-{pid}", daemon=True)

    def start(self) -> MemoryWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not os.path.exists(f"/proc/{self.pid}"):
                return
            used = resident_mi(process_tree(self.pid))
            self.peak_mi = max(self.peak_mi, used)
            if used > self.limit_mi:
                log.warning(
                    "algorithm process %d uses %.0f Mi, over its limit of %.0f Mi: killed",
                    self.pid,
                    used,
                    self.limit_mi,
                )
                self.on_exceed(used)
                return


def watch_memory(session: AlgorithmSession, descriptor: dict[str, Any]) -> MemoryWatch | None:
    """Watch a started session against the algorithm's `mem` (times `HKUBE_MEMORY_LIMIT_RATIO`,
    0: no limit); over it, the session is killed with HKube's message."""
    ratio = float(settings.HKUBE_MEMORY_LIMIT_RATIO)
    mem = descriptor.get("mem")
    if ratio <= 0 or not mem or session.pid is None:
        return None
    try:
        limit = parse_memory_mi(mem) * ratio
    except ValidationError:
        return None
    return MemoryWatch(session.pid, limit, lambda _used: session.kill(OOM_MESSAGE)).start()
