"""`hkubectl sync ...`: dev mode. A dev-mode algorithm (`options.devMode`) runs the code last
synced from the developer's folder; the next task start after a sync runs the edit.

HKube's `sync watch` tunnels syncthing to the algorithm's pod and restarts the pod on
changes. Here `watch` uploads the folder (`.hkubeignore` applies) to `sync/{name}` whenever a
file in it changes, and the workers pick the new code up by themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from time import sleep
from typing import Annotated, Any

import typer

from hkubectl import output
from hkubectl.algorithm import APPLY_PATH, STORE_PATH, follow_build
from hkubectl.client import ApiError, Files, HkubeClient, segment
from hkubectl.descriptors import user_info
from hkubectl.packing import InputFileError, list_code_files, pack_directory, prepare_code
from hkubectl.state import NoWaitOption, get_state

app = typer.Typer(help="Dev mode: run an algorithm from a folder you edit.", no_args_is_help=True)

NameOption = Annotated[str, typer.Option("--algorithmName", "-a", help="The algorithm.")]
FolderOption = Annotated[str, typer.Option("--folder", "-f", help="The code folder.")]
Snapshot = dict[str, tuple[int, int]]


def sync_path(name: str) -> str:
    return f"sync/{segment(name)}"


def snapshot(root: Path) -> Snapshot:
    """Size and modification time of every file that would be uploaded."""
    found: Snapshot = {}
    for rel in list_code_files(root):
        try:
            stat = (root / rel).stat()
        except OSError:
            continue  # removed while listing: the next look sees it gone
        found[rel] = (stat.st_size, stat.st_mtime_ns)
    return found


def upload_folder(client: HkubeClient, name: str, root: Path) -> dict[str, Any]:
    """Pack the folder and make it the algorithm's synced code; the server's answer."""
    try:
        content, count = pack_directory(root)
    except OSError as exc:
        raise InputFileError(str(root), f"cannot pack the code folder: {exc.strerror or exc}") from exc
    if count == 0:
        raise InputFileError(str(root), "the code folder has no files to upload (check .hkubeignore)")
    answer = client.post(sync_path(name), files=[("file", (f"{name}.tar.gz", content, "application/gzip"))])
    return answer if isinstance(answer, dict) else {"result": answer}


def _folder(folder: str) -> Path:
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise InputFileError(folder, "not a folder")
    return root


def _set_dev_mode(client: HkubeClient, name: str, options: dict[str, Any]) -> Any:
    # As HKube's CLI: the old-style insert with overwrite, which updates the algorithm.
    return client.post(STORE_PATH, {"name": name, "options": options}, params={"overwrite": "true"})


@app.command("create")
def create(
    ctx: typer.Context,
    algorithm_name: NameOption,
    folder: FolderOption = "./",
    env: Annotated[str | None, typer.Option("--env", help="python or nodejs.")] = None,
    entry_point: Annotated[str | None, typer.Option("--entryPoint", "-e", help="The start file.")] = None,
    base_image: Annotated[str | None, typer.Option("--baseImage", help="Build base image.")] = None,
    no_wait: NoWaitOption = False,
) -> None:
    """Apply the algorithm in dev mode with the folder's code (a build makes its environment)."""
    state = get_state(ctx)
    root = _folder(folder)
    payload: dict[str, Any] = {"name": algorithm_name, "options": {"devMode": True}, "userInfo": user_info()}
    for key, value in (("env", env), ("entryPoint", entry_point), ("baseImage", base_image)):
        if value is not None:
            payload[key] = value
    archive = prepare_code(root, algorithm_name)
    files: Files = [
        ("payload", (None, json.dumps(payload))),
        ("file", (archive.filename, archive.content, archive.content_type)),
    ]
    response = state.client.post(APPLY_PATH, files=files)
    response = response if isinstance(response, dict) else {"result": response}
    for message in response.get("messages") or []:
        output.note(str(message), as_json=state.as_json)
    build_id = response.get("buildId")
    if build_id and not no_wait:
        follow_build(state, algorithm_name, str(build_id), response, set_current=False)
    if not build_id or not no_wait:
        # Re-applying an existing algorithm makes a version that is not current yet (HKube's rule).
        current = state.client.get(f"{STORE_PATH}/{segment(algorithm_name)}")
        if not (isinstance(current, dict) and (current.get("options") or {}).get("devMode")):
            output.warn(f"dev mode is not on yet: run `hkubectl sync start -a {algorithm_name}`")
    if state.as_json:
        output.emit(response, as_json=True)


@app.command("start")
def start(
    ctx: typer.Context,
    algorithm_name: NameOption,
    dev_folder: Annotated[
        str | None, typer.Option("--devFolder", "-f", help="Kept in options.devFolder (HKube's mount path).")
    ] = None,
) -> None:
    """Turn dev mode on: new tasks run the synced code (`sync watch`)."""
    state = get_state(ctx)
    options: dict[str, Any] = {"devMode": True}
    if dev_folder is not None:
        options["devFolder"] = dev_folder
    _set_dev_mode(state.client, algorithm_name, options)
    output.note(f"dev mode is on for {algorithm_name}", as_json=state.as_json)


@app.command("stop")
def stop(ctx: typer.Context, algorithm_name: NameOption) -> None:
    """Turn dev mode off: new tasks run the built code again."""
    state = get_state(ctx)
    _set_dev_mode(state.client, algorithm_name, {"devMode": False})
    output.note(f"dev mode is off for {algorithm_name}", as_json=state.as_json)


@app.command("watch")
def watch(
    ctx: typer.Context,
    algorithm_name: NameOption,
    folder: FolderOption = "./",
    bidirectional: Annotated[
        bool, typer.Option("--bidirectional", "--bidi", help="Not supported: syncing is one way.")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between looks.")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Sync once and exit.")] = False,
) -> None:
    """Upload the folder now and again whenever a file in it changes (Ctrl-C ends)."""
    state = get_state(ctx)
    root = _folder(folder)
    if bidirectional:
        output.warn("--bidirectional is not supported: the folder is synced to the server only")
    algorithm = state.client.get(f"{STORE_PATH}/{segment(algorithm_name)}")
    if not (isinstance(algorithm, dict) and (algorithm.get("options") or {}).get("devMode")):
        output.warn(f"{algorithm_name} is not in dev mode: run `hkubectl sync start -a {algorithm_name}`")
    seen = snapshot(root)
    _report(state.as_json, upload_folder(state.client, algorithm_name, root))
    if once:
        return
    output.plain(f"watching {root} (Ctrl-C ends)", stderr=True)
    while True:
        sleep(max(interval, 0.1))
        now = snapshot(root)
        if now == seen:
            continue
        seen = now
        try:
            _report(state.as_json, upload_folder(state.client, algorithm_name, root))
        except (ApiError, InputFileError) as exc:
            # A half-saved folder or a refused archive: keep watching for the next change.
            output.warn(f"not synced: {getattr(exc, 'message', exc)}")


def _report(as_json: bool, answer: dict[str, Any]) -> None:
    if as_json:
        output.emit(answer, as_json=True)
        return
    output.note(
        f"synced {answer.get('files')} files ({answer.get('size')} bytes) to {answer.get('name')}, "
        f"revision {answer.get('revision')}"
    )
