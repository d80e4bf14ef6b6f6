"""`hkubectl pipeline ...`: store, update, get, list and delete stored pipelines."""

from __future__ import annotations

from typing import Annotated

import typer

from hkubectl import output
from hkubectl.client import ApiError, segment
from hkubectl.descriptors import load_descriptor
from hkubectl.state import FileOption, get_state

app = typer.Typer(help="Store, update, get, list and delete pipelines.", no_args_is_help=True)


@app.command("store")
def store(ctx: typer.Context, file: FileOption) -> None:
    """Store a new pipeline from a descriptor file."""
    state = get_state(ctx)
    descriptor = load_descriptor(file)
    try:
        stored = state.client.post("store/pipelines", descriptor)
    except ApiError as exc:
        if exc.status != 409:
            raise
        output.error(exc.message, exc.code)
        output.plain(f"to replace it use: hkubectl pipeline update --f {file}", stderr=True)
        raise typer.Exit(1) from exc
    output.emit(stored, as_json=state.as_json)


@app.command("update")
def update(ctx: typer.Context, file: FileOption) -> None:
    """Replace a stored pipeline with the descriptor file."""
    state = get_state(ctx)
    descriptor = load_descriptor(file)
    try:
        updated = state.client.put("store/pipelines", descriptor)
    except ApiError as exc:
        if exc.status != 404:
            raise
        output.error(exc.message, exc.code)
        output.plain(f"to create it use: hkubectl pipeline store --f {file}", stderr=True)
        raise typer.Exit(1) from exc
    output.emit(updated, as_json=state.as_json)


@app.command("get")
def get(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Pipeline name; all pipelines when left out.")] = None,
) -> None:
    """Show one stored pipeline, or all of them."""
    state = get_state(ctx)
    path = f"store/pipelines/{segment(name)}" if name else "store/pipelines"
    output.emit(state.client.get(path), as_json=state.as_json)


@app.command("list")
def list_pipelines(ctx: typer.Context) -> None:
    """List stored pipeline names."""
    state = get_state(ctx)
    pipelines = state.client.get("store/pipelines")
    names = [p.get("name") for p in pipelines or [] if isinstance(p, dict)]
    if state.as_json:
        output.emit(names, as_json=True)
    else:
        for pipeline_name in names:
            output.plain(str(pipeline_name))


@app.command("delete")
def delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Pipeline name.")]) -> None:
    """Delete a stored pipeline (its running stored jobs are stopped)."""
    state = get_state(ctx)
    output.emit(state.client.delete(f"store/pipelines/{segment(name)}"), as_json=state.as_json)
