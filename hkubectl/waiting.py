"""Polling a job or a build until it finishes, with a rich progress bar on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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

# Final states, the same for jobs and builds.
FINAL = ("completed", "failed", "stopped")
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


@dataclass(frozen=True)
class _Watched:
    """What one poll loop follows, in the words its messages use."""

    path: str
    label: str  # the progress line's prefix
    subject: str  # "job <id>", "build <id>"
    answer: str  # what a non-object answer is called in the error
    follow: str  # how to go on following it after a timeout


def _poll(
    client: HkubeClient,
    watched: _Watched,
    describe: Callable[[dict[str, Any]], tuple[str, object]],
    *,
    interval: float,
    limit: float,
) -> dict[str, Any]:
    """Poll `watched.path` until its `status` is final; return the last answer.

    `describe` gives the progress line's text after the label and the percentage done.
    """
    deadline = time.monotonic() + limit
    with _progress() as progress:
        task = progress.add_task(f"{watched.label} pending", total=100)
        while True:
            answer = client.get(watched.path)
            if not isinstance(answer, dict):
                raise HkubeError(f"unexpected {watched.answer}: {answer!r}")
            state = str(answer.get("status", ""))
            text, percent = describe(answer)
            progress.update(task, description=f"{watched.label} {text}", completed=_percent(percent))
            if state in FINAL:
                return answer
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{watched.subject} is still {state or 'running'} after {int(limit // 60)} minutes; "
                    + watched.follow
                )
            time.sleep(interval)


def _describe_job(status: dict[str, Any]) -> tuple[str, object]:
    data = status.get("data")
    if not isinstance(data, dict):
        data = {}
    details = str(data.get("details") or "")
    return str(status.get("status", "")) + (f": {details}" if details else ""), data.get("progress")


def _describe_build(build: dict[str, Any]) -> tuple[str, object]:
    return str(build.get("status", "")), build.get("progress")


def wait_for_job(
    client: HkubeClient, job_id: str, *, interval: float = JOB_POLL_S, limit: float = WAIT_LIMIT_S
) -> dict[str, Any]:
    """Poll `exec/status/{jobId}` until completed, failed or stopped; return the last status."""
    watched = _Watched(
        path=f"exec/status/{segment(job_id)}",
        label=job_id,
        subject=f"job {job_id}",
        answer=f"status answer for job {job_id}",
        follow=f"follow it with: hkubectl exec status {job_id}",
    )
    return _poll(client, watched, _describe_job, interval=interval, limit=limit)


def wait_for_build(
    client: HkubeClient, build_id: str, *, interval: float = BUILD_POLL_S, limit: float = WAIT_LIMIT_S
) -> dict[str, Any]:
    """Poll `builds/status/{buildId}` until completed, failed or stopped; return the build."""
    watched = _Watched(
        path=f"builds/status/{segment(build_id)}",
        label=f"build {build_id}",
        subject=f"build {build_id}",
        answer=f"build answer for {build_id}",
        follow="follow it in the dashboard or with GET builds/status/" + build_id,
    )
    return _poll(client, watched, _describe_build, interval=interval, limit=limit)


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


def build_log_tail(build: dict[str, Any], lines: int = 30) -> str:
    result = build.get("result")
    if not isinstance(result, dict):
        return ""
    parts = [str(result.get(key) or "") for key in ("data", "errors")]
    text = "\n".join(part.rstrip() for part in parts if part.strip())
    return "\n".join(text.splitlines()[-lines:])
