"""`hkubectl exec pause|resume|rerun JOBID`: the job controls of HKube's dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from hkubectl import output
from hkubectl.state import get_state

JobId = Annotated[str, typer.Argument(help="The job id.", metavar="JOBID")]


def _control(ctx: typer.Context, path: str, job_id: str) -> None:
    state = get_state(ctx)
    output.emit(state.client.post(path, {"jobId": job_id}), as_json=state.as_json)


def pause(ctx: typer.Context, job_id: JobId) -> None:
    """Pause a running job: its running tasks finish, nothing new starts."""
    _control(ctx, "exec/pause/", job_id)


def resume(ctx: typer.Context, job_id: JobId) -> None:
    """Resume a paused job."""
    _control(ctx, "exec/resume/", job_id)


def rerun(ctx: typer.Context, job_id: JobId) -> None:
    """Run a job's pipeline again with the same input; prints the new jobId."""
    _control(ctx, "exec/rerun/", job_id)
