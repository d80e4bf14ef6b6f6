"""`hkubectl algorithm version`: list an algorithm's versions, or make one of them current.

HKube's CLI names it `algorithm version <name> [--setCurrent VALUE] [--force]`; it sends the
image as VALUE and no `version`, which a current server refuses. Here VALUE may be a version
id, a semver, an alias or an image, and is resolved against the version list first, so the
server gets the `version` it needs. `algorithm version apply <name> <version>` is the same.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hkubectl import output
from hkubectl.client import HkubeClient, HkubeError, segment
from hkubectl.formats import Column, Format, OutputOption, field, render
from hkubectl.state import get_state

VERSIONS_PATH = "versions/algorithms"
APPLY_VERSION_PATH = f"{VERSIONS_PATH}/apply"
COLUMNS: list[Column] = [
    ("current", field("current")),
    ("version", field("version")),
    ("semver", field("semver")),
    ("alias", field("versionAlias")),
    ("image", field("algorithm", "algorithmImage")),
    ("build", field("buildId")),
    ("created", field("created")),
    ("tags", field("tags")),
]


def list_versions(client: HkubeClient, name: str) -> list[dict[str, Any]]:
    """The versions of `name`, newest first, each marked `current` when the algorithm runs it."""
    versions = client.get(f"{VERSIONS_PATH}/{segment(name)}")
    algorithm = client.get(f"store/algorithms/{segment(name)}")
    current = algorithm.get("version") if isinstance(algorithm, dict) else None
    entries = versions if isinstance(versions, list) else []
    return [
        {**entry, "current": entry.get("version") == current} for entry in entries if isinstance(entry, dict)
    ]


def resolve_version(versions: list[dict[str, Any]], name: str, value: str) -> str:
    """The version id `value` names: an id, a semver, an alias, or an image (the newest one with it)."""
    for key in ("version", "semver", "versionAlias"):
        for entry in versions:
            if str(entry.get(key)) == value:
                return str(entry["version"])
    for entry in versions:  # newest first
        algorithm = entry.get("algorithm")
        if isinstance(algorithm, dict) and algorithm.get("algorithmImage") == value:
            return str(entry["version"])
    known = ", ".join(str(entry.get("version")) for entry in versions) or "none"
    raise HkubeError(f"version {value} of algorithm {name} Not Found (versions: {known})")


def _parse_words(words: list[str]) -> tuple[str, str | None]:
    """`NAME` or `apply NAME VERSION`."""
    if len(words) == 1:
        return words[0], None
    if len(words) == 3 and words[0] == "apply":
        return words[1], words[2]
    raise typer.BadParameter("expected NAME, or: apply NAME VERSION", param_hint="arguments")


def version(
    ctx: typer.Context,
    words: Annotated[
        list[str], typer.Argument(metavar="NAME | apply NAME VERSION", help="The algorithm (and version).")
    ],
    set_current: Annotated[
        str | None,
        typer.Option(
            "--setCurrent",
            "--set",
            metavar="VERSION",
            help="Make this version current: a version id, semver, alias or image.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even while jobs run the current version.")
    ] = False,
    fmt: OutputOption = None,
) -> None:
    """List an algorithm's versions (CURRENT tells which one runs), or make one current."""
    state = get_state(ctx)
    name, wanted = _parse_words(words)
    if wanted is not None and set_current is not None and wanted != set_current:
        raise typer.BadParameter("give the version once: as an argument or with --setCurrent")
    wanted = wanted or set_current
    versions = list_versions(state.client, name)
    if wanted is None:
        if fmt is None and state.as_json:
            output.emit(versions, as_json=True)
        else:
            render(versions, fmt or Format.table, COLUMNS)
        return
    chosen = resolve_version(versions, name, wanted)
    answer = state.client.post(APPLY_VERSION_PATH, {"name": name, "version": chosen, "force": force})
    if state.as_json or fmt is not None:
        render(answer, fmt or Format.json, COLUMNS)
        return
    output.note(f"version {chosen} of {name} is now current")
