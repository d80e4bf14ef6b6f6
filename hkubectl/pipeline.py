"""`hkubectl pipeline ...`: store, update, get, list and delete stored pipelines."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hkubectl import output
from hkubectl import store as store_commands
from hkubectl.client import segment
from hkubectl.descriptors import load_descriptor
from hkubectl.formats import Column, OutputOption, field
from hkubectl.readme import read_readme, upload_readme
from hkubectl.state import FileOption, get_state

app = typer.Typer(help="Store, update, get, list and delete pipelines.", no_args_is_help=True)

PATH = "store/pipelines"


def node_names(entry: dict[str, Any]) -> str:
    nodes = entry.get("nodes")
    return (
        ",".join(str(n.get("nodeName")) for n in nodes if isinstance(n, dict))
        if isinstance(nodes, list)
        else ""
    )


COLUMNS: list[Column] = [
    ("name", field("name")),
    ("nodes", node_names),
    ("experiment", field("experimentName")),
    ("priority", field("priority")),
]


ReadmeOption = Annotated[
    str | None,
    typer.Option("--readmeFile", metavar="FILE", help="A markdown README to store with the pipeline."),
]


def _send(ctx: typer.Context, file: str, *, update: bool, readme_file: str | None) -> None:
    state = get_state(ctx)
    readme = read_readme(readme_file) if readme_file else None
    descriptor = load_descriptor(file)
    send = state.client.put if update else state.client.post
    # The sibling command fixes the one refusal: 409 (it exists) on store, 404 (it does not) on update.
    hint = f"to create it use: hkubectl pipeline store --f {file}"
    if not update:
        hint = f"to replace it use: hkubectl pipeline update --f {file}"
    store_commands.send_descriptor(
        state, send, PATH, descriptor, refused_status=404 if update else 409, hint=hint
    )
    if readme is not None:
        name = str(descriptor.get("name"))
        upload_readme(state.client, "pipelines", name, readme)
        output.plain(f"README of {name} stored from {readme_file}", stderr=True)


@app.command("store")
def store(ctx: typer.Context, file: FileOption, readme_file: ReadmeOption = None) -> None:
    """Store a new pipeline from a descriptor file (and its README)."""
    _send(ctx, file, update=False, readme_file=readme_file)


@app.command("update")
def update(ctx: typer.Context, file: FileOption, readme_file: ReadmeOption = None) -> None:
    """Replace a stored pipeline with the descriptor file (and its README)."""
    _send(ctx, file, update=True, readme_file=readme_file)


@app.command("get")
def get(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Pipeline name; all pipelines when left out.")] = None,
    fmt: OutputOption = None,
) -> None:
    """Show one stored pipeline, or all of them."""
    store_commands.show(get_state(ctx), f"{PATH}/{segment(name)}" if name else PATH, fmt, COLUMNS)


@app.command("list")
def list_pipelines(ctx: typer.Context, fmt: OutputOption = None) -> None:
    """List stored pipeline names (whole pipelines with -o)."""
    store_commands.list_names(get_state(ctx), PATH, fmt, COLUMNS)


@app.command("delete")
def delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Pipeline name.")]) -> None:
    """Delete a stored pipeline (its running stored jobs are stopped)."""
    store_commands.delete(get_state(ctx), f"{PATH}/{segment(name)}")
