"""`hkubectl algorithm ...`: apply (with code upload and build wait), list, get, delete."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hkubectl import algorithm_versions, output
from hkubectl import store as store_commands
from hkubectl.client import ApiError, Files, HkubeClient, segment
from hkubectl.descriptors import AlgorithmFlags, build_apply_request
from hkubectl.formats import Column, OutputOption, field
from hkubectl.state import NoWaitOption, OptionalFileOption, State, get_state
from hkubectl.waiting import build_log_tail, wait_for_build

app = typer.Typer(help="Apply, list, get and delete algorithms.", no_args_is_help=True)

STORE_PATH = "store/algorithms"
APPLY_PATH = f"{STORE_PATH}/apply"
app.command("version")(algorithm_versions.version)
COLUMNS: list[Column] = [
    ("name", field("name")),
    ("env", field("env")),
    ("image", field("algorithmImage")),
    ("version", field("version")),
    ("cpu", field("cpu")),
    ("mem", field("mem")),
    ("gpu", field("gpu")),
]


def _find_build_version(client: HkubeClient, name: str, build_id: str) -> dict[str, Any] | None:
    """The version a finished build created (the server makes it when the build completes)."""
    try:
        versions = client.get(f"versions/algorithms/{segment(name)}")
    except ApiError as exc:
        output.warn(f"could not list the versions of {name}: {exc.message}")
        return None
    for version in versions if isinstance(versions, list) else []:
        if isinstance(version, dict) and version.get("buildId") == build_id:
            return version
    return None


@app.command("apply")
def apply(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Algorithm name (overrides `name` in the file).")] = None,
    file: OptionalFileOption = None,
    env: Annotated[str | None, typer.Option("--env", help="python, nodejs or java.")] = None,
    code_path: Annotated[
        str | None, typer.Option("--codePath", help="Code folder (packed as .tar.gz) or a .tar.gz/.zip file.")
    ] = None,
    entry_point: Annotated[
        str | None,
        typer.Option("--codeEntryPoint", "--entryPoint", help="The file the algorithm starts from."),
    ] = None,
    image: Annotated[str | None, typer.Option("--image", "--algorithmImage", help="Docker image.")] = None,
    cpu: Annotated[float | None, typer.Option("--cpu", help="CPU cores, e.g. 0.5.")] = None,
    gpu: Annotated[float | None, typer.Option("--gpu", help="GPUs.")] = None,
    mem: Annotated[str | None, typer.Option("--mem", help="Memory, e.g. 512Mi.")] = None,
    no_wait: NoWaitOption = False,
    set_current: Annotated[
        bool, typer.Option("--setCurrent", "--set-current", help="Make the new version the current one.")
    ] = False,
) -> None:
    """Create or update an algorithm from a descriptor file and/or flags, uploading its code."""
    state = get_state(ctx)
    flags = AlgorithmFlags(
        name=name,
        env=env,
        code_path=code_path,
        entry_point=entry_point,
        image=image,
        cpu=cpu,
        gpu=gpu,
        mem=mem,
    )
    request = build_apply_request(file, flags)
    algorithm_name = str(request.payload["name"])
    archive = request.archive
    files: Files = [
        ("payload", (None, json.dumps(request.payload, default=str))),
        # HKube's CLI always sends `file`, as an empty field when there is no code.
        ("file", (archive.filename, archive.content, archive.content_type) if archive else (None, "")),
    ]
    if archive is not None and archive.file_count is not None:
        output.plain(
            f"packed {archive.file_count} files ({len(archive.content)} bytes) as {archive.filename}",
            stderr=True,
        )
    if archive is None:
        with output.spinner(f"applying algorithm {algorithm_name}"):
            response = state.client.post(APPLY_PATH, files=files)
    else:
        with output.upload_bar(f"uploading {archive.filename}", len(archive.content)) as progress:
            response = state.client.post(APPLY_PATH, files=files, progress=progress)
    if not isinstance(response, dict):
        response = {"result": response}
    error = response.get("error")
    if isinstance(error, dict):
        # Insert-style answers carry errors in a 2xx body; treat them as errors all the same.
        raise ApiError(400, str(error.get("message") or error), error.get("code"), error.get("details"))
    for message in response.get("messages") or []:
        output.note(str(message), as_json=state.as_json)

    report: dict[str, Any] = dict(response)
    algorithm = response.get("algorithm") if isinstance(response.get("algorithm"), dict) else {}
    version: str | None = algorithm.get("version") if isinstance(algorithm, dict) else None
    build_id = response.get("buildId")
    if build_id and no_wait:
        output.note(f"build {build_id} started; not waiting for it (--noWait)", as_json=state.as_json)
        if set_current:
            output.warn("--setCurrent needs the build to finish; set the version once it is done")
        _print_report(state.as_json, report)
        return
    if build_id:
        version = follow_build(state, algorithm_name, str(build_id), report, set_current=set_current)
    if set_current:
        if not version:
            output.warn(f"cannot set the current version of {algorithm_name}: the server returned none")
        else:
            state.client.post(
                "versions/algorithms/apply", {"name": algorithm_name, "version": version, "force": True}
            )
            report["currentVersion"] = version
            output.note(f"version {version} of {algorithm_name} is now current", as_json=state.as_json)
    _print_report(state.as_json, report)


def follow_build(
    state: State, name: str, build_id: str, report: dict[str, Any], *, set_current: bool
) -> str | None:
    """Wait for the build; exit 1 if it did not complete, else return the version it created."""
    build = wait_for_build(state.client, build_id)
    status = str(build.get("status"))
    report["build"] = {
        key: build.get(key) for key in ("buildId", "status", "progress", "algorithmImage", "error")
    }
    if status != "completed":
        output.error(f"build {build_id} {status}" + (f": {build['error']}" if build.get("error") else ""))
        tail = build_log_tail(build)
        if tail:
            output.plain("last lines of the build log:", stderr=True, style="red")
            output.plain(tail, stderr=True)
        _print_report(state.as_json, report)
        raise typer.Exit(1)
    found = _find_build_version(state.client, name, build_id) or {}
    version = str(found["version"]) if found.get("version") else None
    image = f", image {build['algorithmImage']}" if build.get("algorithmImage") else ""
    output.note(
        f"build {build_id} completed{image}, version {found.get('semver') or version or '?'}",
        as_json=state.as_json,
    )
    if not set_current and version:
        # The server makes the first build's version current by itself; later ones wait for the user.
        current = state.client.get(f"{STORE_PATH}/{segment(name)}")
        if not isinstance(current, dict) or current.get("version") != version:
            output.note("make it current with --setCurrent or from the dashboard", as_json=state.as_json)
    return version


def _print_report(as_json: bool, report: dict[str, Any]) -> None:
    """In JSON mode the whole apply answer (plus build and version) is the output; else messages were it."""
    if as_json:
        output.emit(report, as_json=True)


@app.command("list")
def list_algorithms(ctx: typer.Context, fmt: OutputOption = None) -> None:
    """List algorithm names (whole algorithms with -o)."""
    store_commands.list_names(get_state(ctx), STORE_PATH, fmt, COLUMNS)


@app.command("get")
def get(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Algorithm name.")], fmt: OutputOption = None
) -> None:
    """Show one algorithm."""
    store_commands.show(get_state(ctx), f"{STORE_PATH}/{segment(name)}", fmt, COLUMNS)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Algorithm name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also delete the pipelines using it and stop its running jobs.")
    ] = False,
) -> None:
    """Delete an algorithm."""
    params = {"force": "true"} if force else None
    store_commands.delete(get_state(ctx), f"{STORE_PATH}/{segment(name)}", params=params)
