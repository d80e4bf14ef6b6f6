"""`hkubectl exec ...`: run pipelines and algorithms, follow them, read their results."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hkubectl import formats, job_control, output, tasklogs
from hkubectl.client import HkubeError, segment
from hkubectl.descriptors import load_descriptor
from hkubectl.formats import Column, Format, OutputOption, field
from hkubectl.packing import InputFileError
from hkubectl.pipeline import COLUMNS as PIPELINE_COLUMNS
from hkubectl.state import FileOption, NoWaitOption, OptionalFileOption, State, get_state
from hkubectl.waiting import fetch_result, wait_for_job

app = typer.Typer(help="Execute pipelines and algorithms and follow jobs.", no_args_is_help=True)

NoResultOption = Annotated[
    bool, typer.Option("--noResult", "--no-result", help="Wait for the job but do not fetch its results.")
]
JobIdArgument = Annotated[str, typer.Argument(help="The job id.", metavar="JOBID")]

STATUS_COLUMNS: list[Column] = [
    ("jobId", field("jobId")),
    ("pipeline", field("pipeline")),
    ("status", field("status")),
    ("progress", field("data", "progress")),
    ("details", field("data", "details")),
]
RESULT_COLUMNS: list[Column] = [
    ("jobId", field("jobId")),
    ("pipeline", field("pipeline")),
    ("status", field("status")),
    ("timeTook", field("timeTook")),
]

app.command("pause")(job_control.pause)
app.command("resume")(job_control.resume)
app.command("rerun")(job_control.rerun)


def _show(ctx: typer.Context, path: str, fmt: Format | None, columns: list[Column]) -> None:
    state = get_state(ctx)
    answer = state.client.get(path)
    if fmt is None:
        output.emit(answer, as_json=state.as_json)
    else:
        formats.render(answer, fmt, columns)


def _named_body(name: str | None, file: str | None, what: str) -> dict[str, Any]:
    body = load_descriptor(file) if file else {}
    if name:
        body["name"] = name
    if not body.get("name"):
        raise InputFileError(
            file or "command line", f"a {what} name is required: pass NAME or set `name` in the file"
        )
    return body


def _job_result(job_status: str, status: dict[str, Any], result: dict[str, Any] | None) -> Any:
    if job_status == "completed":
        return (result or {}).get("data")
    if job_status == "failed":
        return (result or {}).get("error") or status.get("error")
    return (result or {}).get("reason") or status.get("reason")


def run_job(state: State, path: str, body: dict[str, Any], *, no_wait: bool, no_result: bool) -> None:
    """Start a job, then (unless --noWait) follow it and print {jobId, jobStatus, jobResult}."""
    answer = state.client.post(path, body)
    job_id = str(answer.get("jobId")) if isinstance(answer, dict) else ""
    if not job_id:
        raise HkubeError(f"the server answered without a jobId: {answer!r}")
    if no_wait:
        output.emit(answer, as_json=state.as_json)
        return
    try:
        status = wait_for_job(state.client, job_id)
    except KeyboardInterrupt:
        output.warn(f"stopped waiting; job {job_id} keeps running. Stop it with: hkubectl exec stop {job_id}")
        raise typer.Exit(130) from None
    job_status = str(status.get("status"))
    report: dict[str, Any] = {"jobId": job_id, "jobStatus": job_status}
    if not no_result:
        report["jobResult"] = _job_result(job_status, status, fetch_result(state.client, job_id))
    elif job_status != "completed":
        report["jobResult"] = _job_result(job_status, status, None)
    output.emit(report, as_json=state.as_json)
    if job_status != "completed":
        output.plain(f"job {job_id} {job_status}", stderr=True, style="red")
        raise typer.Exit(1)


@app.command("raw")
def raw(
    ctx: typer.Context, file: FileOption, no_wait: NoWaitOption = False, no_result: NoResultOption = False
) -> None:
    """Run a pipeline described inline in a file."""
    state = get_state(ctx)
    run_job(state, "exec/raw/", load_descriptor(file), no_wait=no_wait, no_result=no_result)


@app.command("stored")
def stored(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Stored pipeline name.")] = None,
    file: OptionalFileOption = None,
    no_wait: NoWaitOption = False,
    no_result: NoResultOption = False,
) -> None:
    """Run a stored pipeline; the file's fields (e.g. flowInput) override the stored ones."""
    body = _named_body(name, file, "pipeline")
    run_job(get_state(ctx), "exec/stored/", body, no_wait=no_wait, no_result=no_result)


@app.command("algorithm")
def algorithm(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Algorithm name.")] = None,
    file: OptionalFileOption = None,
    no_wait: NoWaitOption = False,
    no_result: NoResultOption = False,
) -> None:
    """Run a single algorithm; the file may hold `input` and `debug`."""
    body = _named_body(name, file, "algorithm")
    run_job(get_state(ctx), "exec/algorithm/", body, no_wait=no_wait, no_result=no_result)


@app.command("status")
def status(ctx: typer.Context, job_id: JobIdArgument, fmt: OutputOption = None) -> None:
    """Show a job's status."""
    _show(ctx, f"exec/status/{segment(job_id)}", fmt, STATUS_COLUMNS)


@app.command("result")
def result(ctx: typer.Context, job_id: JobIdArgument, fmt: OutputOption = None) -> None:
    """Show a finished job's result."""
    _show(ctx, f"exec/results/{segment(job_id)}", fmt, RESULT_COLUMNS)


@app.command("get")
def get(ctx: typer.Context, job_id: JobIdArgument, fmt: OutputOption = None) -> None:
    """Show the pipeline a job executed."""
    _show(ctx, f"exec/pipelines/{segment(job_id)}", fmt, PIPELINE_COLUMNS)


@app.command("stop")
def stop(
    ctx: typer.Context,
    job_id: JobIdArgument,
    reason: Annotated[str | None, typer.Argument(help="Why it is stopped.")] = None,
) -> None:
    """Stop a running job."""
    state = get_state(ctx)
    body: dict[str, Any] = {"jobId": job_id}
    if reason is not None:
        body["reason"] = reason
    output.emit(state.client.post("exec/stop/", body), as_json=state.as_json)


@app.command("logs")
def logs(
    ctx: typer.Context,
    job_id: JobIdArgument,
    node: Annotated[str | None, typer.Option("--node", "--nodeName", help="Only this node's logs.")] = None,
    batch_index: Annotated[
        int | None, typer.Option("--batchIndex", "--batch-index", help="Only this batch item's log.")
    ] = None,
    task: Annotated[str | None, typer.Option("--taskId", "--task-id", help="Only this task's log.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="The last lines of each task.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new task logs until the job ends.")
    ] = False,
) -> None:
    """Show what a job's algorithms printed, task by task."""
    state = get_state(ctx)
    wanted = {"nodeName": node, "batchIndex": batch_index, "taskId": task, "limit": limit}
    params = {k: str(v) for k, v in wanted.items() if v is not None} or None
    if follow:
        job_status = tasklogs.follow(state.client, job_id, params)
        output.plain(f"job {job_id} {job_status}", stderr=True)
        return
    answer = state.client.get(f"exec/logs/{segment(job_id)}", params=params)
    if state.as_json:
        output.emit(answer, as_json=True)
        return
    entries = answer.get("logs", answer) if isinstance(answer, dict) else answer
    if not isinstance(entries, list):
        output.emit(answer, as_json=False)
        return
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("lines"), list):
            tasklogs.print_task_log(entry)
        elif isinstance(entry, dict) and "message" in entry:
            prefix = " ".join(str(entry[k]) for k in ("nodeName", "level") if entry.get(k))
            output.plain(f"{prefix}: {entry['message']}" if prefix else str(entry["message"]))
        else:
            output.plain(entry if isinstance(entry, str) else output.to_yaml(entry).rstrip())
    total = answer.get("total") if isinstance(answer, dict) else None
    if isinstance(total, int) and total > len(entries):
        output.warn(
            f"{total - len(entries)} more tasks have logs: narrow down with --node, --batchIndex or --taskId"
        )
