"""Printing task logs, and `exec logs -f`: following a job's logs until it ends.

A task's log is kept when its task ends, so following prints each task's lines as they
appear, then stops once the job is completed, failed or stopped (after a last read, so
the final tasks are not missed). A task already printed is not printed again: lines are
counted per task from its first line ever (`truncated` + what is shown), which stays
right when the server shows only the last lines.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hkubectl import output
from hkubectl.client import HkubeClient, segment
from hkubectl.waiting import FINAL

FOLLOW_POLL_S = 1.0


def print_header(entry: dict[str, Any]) -> None:
    output.plain(
        f"==> {entry.get('nodeName')} #{entry.get('batchIndex')} ({entry.get('taskId')})", style="bold"
    )


def print_line(line: object) -> None:
    """``[stream] message`` (the API's line shape), stderr in red."""
    if not isinstance(line, dict):
        output.plain(str(line))
        return
    stream = str(line.get("stream", ""))
    tag = f"{stream}, idle" if line.get("idle") else stream
    output.plain(f"[{tag}] {line.get('message', '')}", style="red" if stream == "stderr" else None)


def print_task_log(entry: dict[str, Any]) -> None:
    """``==> node #batchIndex (taskId)`` then ``[stream] message`` per line."""
    print_header(entry)
    if entry.get("truncated"):
        output.plain(f"[{entry['truncated']} earlier lines not shown]", style="yellow")
    for line in entry["lines"]:
        print_line(line)


def _entries(answer: Any) -> list[dict[str, Any]]:
    entries = answer.get("logs", []) if isinstance(answer, dict) else answer
    return [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("lines"), list)]


def follow(
    client: HkubeClient, job_id: str, params: Mapping[str, str] | None, *, interval: float = FOLLOW_POLL_S
) -> str:
    """Print the job's task logs as they come until the job ends; returns its final status."""
    printed: dict[str, int] = {}  # taskId -> lines printed, counted from the task's first line
    path = f"exec/logs/{segment(job_id)}"
    while True:
        status = client.get(f"exec/status/{segment(job_id)}")
        state = str(status.get("status", "")) if isinstance(status, dict) else ""
        for entry in _entries(client.get(path, params=params)):
            task = str(entry.get("taskId"))
            lines = entry["lines"]
            first = int(entry.get("truncated") or 0)  # the absolute index of lines[0]
            done = printed.get(task)
            if done is None:
                print_header(entry)
                done = first
            for line in lines[max(0, done - first) :]:
                print_line(line)
            printed[task] = max(done, first + len(lines))
        if state in FINAL:
            return state
        time.sleep(interval)
