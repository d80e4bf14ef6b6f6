"""`hkubectl export` and `hkubectl import`: algorithms and pipelines to and from a folder.

Export writes one file per descriptor, `<dir>/algorithms/<name>.json` and
`<dir>/pipelines/<name>.json` (or `.yaml`), without what the server adds (version, dates,
audit trail). Import reads such a folder (the kind's subfolder when there is one, else the
folder itself) and stores every descriptor as HKube's CLI does, one array per kind
(`POST store/algorithms` and `POST store/pipelines`, `?overwrite=true` with --overwrite),
then reports each file. Algorithms go first: pipelines name them.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from hkubectl import output
from hkubectl.descriptors import load_descriptor
from hkubectl.formats import Column, Format, field, render
from hkubectl.output import to_yaml
from hkubectl.packing import InputFileError
from hkubectl.state import State, get_state


class Kind(enum.StrEnum):
    all = "all"
    algorithms = "algorithms"
    pipelines = "pipelines"


class FileFormat(enum.StrEnum):
    json = "json"
    yaml = "yaml"


KINDS = (Kind.algorithms, Kind.pipelines)
STORE_PATHS = {Kind.algorithms: "store/algorithms", Kind.pipelines: "store/pipelines"}
# Fields the server writes into what it returns; a descriptor does not carry them.
SERVER_FIELDS = {
    Kind.algorithms: ("version", "created", "modified", "auditTrail", "unscheduledReason"),
    Kind.pipelines: ("version", "created", "modified", "auditTrail"),
}
DESCRIPTOR_SUFFIXES = (".json", ".yaml", ".yml")

KindArgument = Annotated[Kind, typer.Argument(help="all, algorithms or pipelines.", case_sensitive=False)]


def strip_server_fields(kind: Kind, descriptor: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in descriptor.items() if key not in SERVER_FIELDS[kind]}


def _kinds(kind: Kind) -> tuple[Kind, ...]:
    return KINDS if kind is Kind.all else (kind,)


def _file_name(name: str, file_format: FileFormat) -> str:
    # Names never hold "/" (the server refuses it); keep a file name safe all the same.
    return name.replace("/", "_") + "." + file_format.value


def _dump(descriptor: dict[str, Any], file_format: FileFormat) -> str:
    if file_format is FileFormat.yaml:
        return to_yaml(descriptor)
    return json.dumps(descriptor, indent=2, ensure_ascii=False, default=str) + "\n"


def export(
    ctx: typer.Context,
    kind: KindArgument,
    directory: Annotated[str | None, typer.Argument(help="Output folder (default: the current one).")] = None,
    output_dir: Annotated[str | None, typer.Option("--output", metavar="DIR", help="Output folder.")] = None,
    file_format: Annotated[
        FileFormat, typer.Option("--format", help="File format: json or yaml.", case_sensitive=False)
    ] = FileFormat.json,
) -> None:
    """Write each algorithm and/or pipeline to <dir>/<kind>/<name>.json (or .yaml)."""
    state = get_state(ctx)
    if directory and output_dir and directory != output_dir:
        raise typer.BadParameter("give the output folder once: as an argument or with --output")
    root = Path(directory or output_dir or ".").expanduser()
    written: list[dict[str, str]] = []
    for each in _kinds(kind):
        entries = state.client.get(STORE_PATHS[each])
        folder = root / each.value
        folder.mkdir(parents=True, exist_ok=True)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not entry.get("name"):
                continue
            path = folder / _file_name(str(entry["name"]), file_format)
            path.write_text(_dump(strip_server_fields(each, entry), file_format), encoding="utf-8")
            written.append({"kind": each.value, "name": str(entry["name"]), "file": str(path)})
    if state.as_json:
        output.emit(written, as_json=True)
        return
    for row in written:
        output.plain(f"{row['kind']} {row['name']} -> {row['file']}")
    output.plain(f"exported {len(written)} descriptors to {root}", stderr=True)


@dataclass
class Outcome:
    file: str
    kind: str
    name: str | None = None
    ok: bool = False
    message: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "name": self.name,
            "result": "stored" if self.ok else "error",
            "message": self.message,
        }


REPORT_COLUMNS: list[Column] = [
    ("file", field("file")),
    ("name", field("name")),
    ("result", field("result")),
    ("message", field("message")),
]


def replace_registry(image: str, registry: str) -> str:
    """HKube's `--replace`: the image's registry becomes `registry` (prepended when it names none)."""
    first, _, rest = image.partition("/")
    has_registry = bool(rest) and ("." in first or ":" in first or first == "localhost")
    return f"{registry.rstrip('/')}/{rest if has_registry else image}"


def _descriptor_files(root: Path, kind: Kind) -> list[Path]:
    folder = root / kind.value if (root / kind.value).is_dir() else root
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DESCRIPTOR_SUFFIXES)


def _import_kind(
    state: State, root: Path, kind: Kind, overwrite: bool, registry: str | None
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    sent: list[tuple[Outcome, dict[str, Any]]] = []
    for path in _descriptor_files(root, kind):
        outcome = Outcome(file=str(path), kind=kind.value)
        outcomes.append(outcome)
        try:
            descriptor = strip_server_fields(kind, load_descriptor(str(path)))
        except InputFileError as exc:
            outcome.message = str(exc)
            continue
        outcome.name = str(descriptor.get("name")) if descriptor.get("name") else None
        image = descriptor.get("algorithmImage")
        if registry and kind is Kind.algorithms and isinstance(image, str) and image:
            descriptor["algorithmImage"] = replace_registry(image, registry)
        sent.append((outcome, descriptor))
    if not sent:
        return outcomes
    params = {"overwrite": "true"} if overwrite else None
    answers = state.client.post(STORE_PATHS[kind], [d for _, d in sent], params=params)
    if not isinstance(answers, list) or len(answers) != len(sent):
        for outcome, _ in sent:
            outcome.message = "the server did not answer one entry per descriptor"
        return outcomes
    for (outcome, _), answer in zip(sent, answers, strict=True):
        error = answer.get("error") if isinstance(answer, dict) else "no answer"
        if error:
            outcome.message = str(error.get("message") if isinstance(error, dict) else error)
        else:
            outcome.ok = True
            outcome.message = "overwritten or stored" if overwrite else "stored"
    return outcomes


def import_descriptors(
    ctx: typer.Context,
    kind: KindArgument,
    directory: Annotated[str, typer.Argument(help="The folder to read (as `export` writes it).")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", "--or", help="Replace what already exists.")
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option("--replace", "-r", metavar="REGISTRY", help="Rewrite the images' registry."),
    ] = None,
) -> None:
    """Store every descriptor file of the folder and report each one; exit 1 if any failed."""
    state = get_state(ctx)
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise InputFileError(directory, "is not a folder")
    outcomes = [o for each in _kinds(kind) for o in _import_kind(state, root, each, overwrite, registry)]
    rows = [o.as_row() for o in outcomes]
    if state.as_json:
        output.emit(rows, as_json=True)
    elif rows:
        render(rows, Format.table, REPORT_COLUMNS)
    else:
        output.warn(f"no descriptor files (.json, .yaml) found in {root}")
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)
