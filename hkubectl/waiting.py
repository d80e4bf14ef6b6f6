"""Polling a job or a build until it finishes, with a rich progress bar on stderr."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from hkubectl.client import ApiError, HkubeClient, HkubeError, segment
from hkubectl.output import err

JOB_DONE = ("completed", "failed", "stopped")
BUILD_DONE = ("completed", "failed", "stopped")
WAIT_LIMIT_S = 600.0
JOB_POLL_S = 0.25
BUILD_POLL_S = 1.0
# The result is written right after the final status; give the server a moment to catch up.
RESULT_GRACE_S = 10.0


class WaitTimeout(HkubeError):
    pass


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        # Not a terminal (a pipe, a CI log): no live display at all.
        disable=not err.is_terminal,
    )


def _percent(value: Any) -> float:
    try:
        return max(0.0, min(100.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


def wait_for_job(
    client: HkubeClient, job_id: str, *, interval: float = JOB_POLL_S, limit: float = WAIT_LIMIT_S
) -> dict[str, Any]:
    """Poll `exec/status/{jobId}` until completed, failed or stopped; return the last status."""
    deadline = time.monotonic() + limit
    path = f"exec/status/{segment(job_id)}"
    with _progress() as progress:
        task = progress.add_task(f"{job_id} pending", total=100)
        while True:
            status = client.get(path)
            if not isinstance(status, dict):
                raise HkubeError(f"unexpected status answer for job {job_id}: {status!r}")
            state = str(status.get("status", ""))
            data = status.get("data")
            if not isinstance(data, dict):
                data = {}
            details = str(data.get("details") or "")
            description = f"{job_id} {state}" + (f": {details}" if details else "")
            progress.update(task, description=description, completed=_percent(data.get("progress")))
            if state in JOB_DONE:
                return status
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"job {job_id} is still {state or 'running'} after {int(limit // 60)} minutes; "
                    f"follow it with: hkubectl exec status {job_id}"
                )
            time.sleep(interval)


def fetch_result(client: HkubeClient, job_id: str, grace: float = RESULT_GRACE_S) -> dict[str, Any]:
    deadline = time.monotonic() + grace
    while True:
        try:
            result = client.get(f"exec/results/{segment(job_id)}")
        except ApiError as exc:
            # 400 "unable to get results ... because its in active status": not written yet.
            if exc.status != 400 or time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
            continue
        return result if isinstance(result, dict) else {"data": result}


def wait_for_build(
    client: HkubeClient, build_id: str, *, interval: float = BUILD_POLL_S, limit: float = WAIT_LIMIT_S
) -> dict[str, Any]:
    """Poll `builds/status/{buildId}` until completed, failed or stopped; return the build."""
    deadline = time.monotonic() + limit
    path = f"builds/status/{segment(build_id)}"
    with _progress() as progress:
        task = progress.add_task(f"build {build_id} pending", total=100)
        while True:
            build = client.get(path)
            if not isinstance(build, dict):
                raise HkubeError(f"unexpected build answer for {build_id}: {build!r}")
            state = str(build.get("status", ""))
            progress.update(
                task, description=f"build {build_id} {state}", completed=_percent(build.get("progress"))
            )
            if state in BUILD_DONE:
                return build
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"build {build_id} is still {state or 'running'} after {int(limit // 60)} minutes; "
                    "follow it in the dashboard or with GET builds/status/" + build_id
                )
            time.sleep(interval)


def build_log_tail(build: dict[str, Any], lines: int = 30) -> str:
    result = build.get("result")
    if not isinstance(result, dict):
        return ""
    parts = [str(result.get(key) or "") for key in ("data", "errors")]
    text = "\n".join(part.rstrip() for part in parts if part.strip())
    return "\n".join(text.splitlines()[-lines:])
